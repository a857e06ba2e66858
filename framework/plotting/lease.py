"""The leasing game over the price plane: the operator's profit and the microgrids' savings,
with the equilibrium marked.

The figure reads a result of :func:`framework.lease.lease_game`; it never solves.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from framework.plotting.style import DOUBLE_COLUMN_IN, new_figure, style


def has_lease_game(ds: xr.Dataset) -> bool:
    """Whether ``ds`` is a leasing-game result with its price plane."""
    return "plane_profit" in ds and "plane_saving" in ds


def plot_lease_game(ds: xr.Dataset) -> Figure:
    """Left: the operator's profit over (energy price, power price) at the equilibrium fee,
    where no one leases hatched grey; right: the microgrids' total saving. The equilibrium
    is a star (absent when no one leases); the number of lessees is printed in each cell.
    """
    pe = ds["plane_energy_price"].values
    pp = ds["plane_power_price"].values
    profit = ds["plane_profit"].values
    saving = ds["plane_saving"].sum("microgrid").values
    lessees = ds["plane_participants"].values
    fig, axes = new_figure(DOUBLE_COLUMN_IN, 2.9, 1, 2, sharey=True)
    with style():
        for ax, values, title, cmap in ((axes[0], profit, "operator profit (currency/yr)",
                                         "RdBu"),
                                        (axes[1], saving, ("microgrids' total saving "
                                                          "(currency/yr)"), "viridis")):
            shown = np.where(lessees > 0, values, np.nan).T
            if cmap == "RdBu":
                span = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
                mesh = ax.pcolormesh(pe, pp, shown, cmap=cmap, vmin=-span, vmax=span,
                                     shading="nearest")
            else:
                mesh = ax.pcolormesh(pe, pp, shown, cmap=cmap, shading="nearest")
            none = np.where(lessees.T == 0, 1.0, np.nan)
            ax.pcolor(pe, pp, none, hatch="///", cmap="Greys", vmin=0, vmax=4, shading="nearest",
                      alpha=0.3)
            fig.colorbar(mesh, ax=ax, shrink=0.9)
            for a, e in enumerate(pe):
                for b, p in enumerate(pp):
                    ax.text(e, p, str(int(lessees[a, b])), ha="center", va="center",
                            fontsize=5, color="0.2")
            if int(ds.attrs.get("leases", 0)):
                ax.plot(float(ds["energy_price"]), float(ds["power_price"]), marker="*",
                        markersize=10, color="black", markeredgecolor="white", linestyle="none",
                        label="equilibrium")
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
            ax.set_title(title)
            ax.set_xlabel("energy price (currency/kWh-yr)")
        axes[0].set_ylabel("power price (currency/kW-yr)")
        fee = float(ds["fee_per_kwh"])
        fig.suptitle(f"leasing game at fee {fee:.4g} per kWh (number: microgrids leasing; "
                     "hatched: no one leases)")
    return fig
