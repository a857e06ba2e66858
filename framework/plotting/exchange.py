"""Figure of the energy that the microgrids exchange: directly (p2p) and through a shared
station, per microgrid and architecture, in kWh/yr.

The annual energies weight each scenario by its probability and scale by ``days_per_year``
(:func:`framework.kpi.annual`, as every annual figure of a result); the energy that passes
a pooled station's bus from one microgrid to another in the same step is the result's
``exchange_station_kwh_per_yr`` (:func:`framework.diagnostics.add_diagnostics`).
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from framework.architecture import architecture
from framework.errors import InputError
from framework.kpi import annual
from framework.plotting.plan import THOUSANDS, _legend
from framework.plotting.style import (
    DOUBLE_COLUMN_IN,
    PALETTE,
    flag_uncertified,
    mode_label,
    new_figure,
    shade,
    style,
)
from framework.system import System, system_from_dict

FLOWS = {"p2p_out_kw": ("sent to other microgrids (p2p)", PALETTE[5]),
         "p2p_in_kw": ("received from other microgrids (p2p)", shade(PALETTE[5], 0.45)),
         "charge_kw": ("into the station", PALETTE[0]),
         "discharge_kw": ("out of the station", shade(PALETTE[0], 0.45))}
"""The flows of the figure (variables of a result, kW per scenario, step and microgrid):
label and colour."""
NEEDED = ("probability", *FLOWS)
"""The variables the figure reads."""


def result_system(ds: xr.Dataset) -> System:
    """The system that a result was solved for (its ``config`` attribute)."""
    if "config" not in ds.attrs:
        raise InputError("exchange: the result has no 'config' attribute (the system)")
    return system_from_dict(json.loads(ds.attrs["config"]))


def exchange_modes(ds: xr.Dataset) -> list[str]:
    """The architectures of a result that exchange energy between microgrids: with a shared
    station or p2p (none without the flows, the system or a ``mode`` dimension)."""
    if "mode" not in ds.dims or "config" not in ds.attrs or any(n not in ds for n in NEEDED):
        return []
    out = []
    for mode in map(str, ds["mode"].values):
        try:
            arch = architecture(mode)
        except InputError:
            continue
        if arch.shared or arch.p2p:
            out.append(mode)
    return out


def annual_flows(ds: xr.Dataset, mode: str, system: System) -> dict[str, np.ndarray]:
    """Per microgrid, the annual energy (kWh/yr) of each flow of :data:`FLOWS` that
    architecture ``mode`` has: p2p sent and received with p2p, into and out of the station
    with a shared station."""
    arch = architecture(mode)
    r = ds.sel(mode=mode)
    names = [*(("p2p_out_kw", "p2p_in_kw") if arch.p2p else ()),
             *(("charge_kw", "discharge_kw") if arch.shared else ())]
    dt = float(system.history.step_h)
    return {name: annual(r[name].sum("step") * dt, r, system).values for name in names}


def plot_exchange(ds: xr.Dataset) -> Figure:
    """Energy each microgrid exchanges, per architecture with a shared station or p2p
    (kWh/yr): sent to and received from the other microgrids directly (p2p), and put into
    and taken out of the station (its account, or the pool's bus). One panel per
    architecture, a group of bars per microgrid, the same scale in every panel; a pooled
    station's panel gives in its title the energy that passed its bus from one microgrid to
    another in the same step (all microgrids together).

    Parameters
    ----------
    ds : xr.Dataset
        A result with ``p2p_out_kw``, ``p2p_in_kw``, ``charge_kw``, ``discharge_kw``
        (``mode``, ``scenario``, ``step``, ``microgrid``), ``probability`` and the
        ``config`` attribute.
    """
    modes = exchange_modes(ds)
    if not modes:
        raise InputError("exchange: no architecture with a shared station or p2p (or the "
                         "result lacks the flows or its 'config')")
    system = result_system(ds)
    microgrids = [str(m) for m in ds["microgrid"].values]
    ncols = min(len(modes), 3)
    nrows = -(-len(modes) // ncols)
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 2.1 * nrows + 0.5, nrows, ncols, sharey=True,
                           squeeze=False)
    x = np.arange(len(microgrids))
    with style():
        for k, ax in enumerate(axes.ravel()):
            if k >= len(modes):
                ax.set_visible(False)
                continue
            mode = modes[k]
            flows = annual_flows(ds, mode, system)
            width = 0.8 / len(flows)
            for j, (name, energy) in enumerate(flows.items()):
                label, color = FLOWS[name]
                ax.bar(x + (j - (len(flows) - 1) / 2) * width, energy, width, color=color,
                       label=label, edgecolor="white", linewidth=0.4)
            title = mode_label(mode)
            if architecture(mode).pooled and "exchange_station_kwh_per_yr" in ds:
                passing = float(ds["exchange_station_kwh_per_yr"].sel(mode=mode))
                title += f"\n{passing:,.0f} kWh/yr passed through its bus"
            ax.set_title(title)
            ax.set_xticks(x, microgrids, rotation=30 if len(microgrids) > 3 else 0,
                          ha="right" if len(microgrids) > 3 else "center")
            ax.yaxis.set_major_formatter(THOUSANDS)
            ax.grid(axis="x", visible=False)
            if k % ncols == 0:
                ax.set_ylabel("energy (kWh/yr)")
        _legend(fig, list(axes.ravel()), "outside lower center", ncols=2)
    return flag_uncertified(fig, ds)
