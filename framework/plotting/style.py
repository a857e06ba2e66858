"""The one style of every sesplan figure, and deterministic saving (PDF + PNG).

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so no window
opens and no global figure list grows; PNG is rendered by Agg, PDF by matplotlib's PDF
backend. Two saves of the same figure are identical byte for byte: no creation date, no
software version in the files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure, SubFigure

from framework.architecture import architecture
from framework.errors import InputError
from framework.io import write_if_changed
from framework.logs import quiet

SINGLE_COLUMN_IN = 3.5
"""Width of a one-column figure (inch)."""
DOUBLE_COLUMN_IN = 7.2
"""Width of a two-column figure (inch)."""
DPI = 300

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
"""Okabe-Ito colours (distinguishable with colour-vision deficiency)."""
MODE_COLORS = {"none": "#999999", "p2p": "#000000", "individual": "#E69F00",
               "individual+p2p": "#D55E00", "accounts": "#0072B2", "accounts+p2p": "#56B4E9",
               "pooled": "#009E73", "pooled+p2p": "#44AA99"}
"""Colour of each sharing architecture (:data:`framework.architecture.ARCHITECTURES`): a
hue per storage, a second shade of it with ``+p2p``."""
MODE_LABELS = {"none": "no storage", "p2p": "no storage + p2p", "individual": "individual",
               "individual+p2p": "individual + p2p", "accounts": "station (accounts)",
               "accounts+p2p": "station (accounts) + p2p", "pooled": "station (pooled)",
               "pooled+p2p": "station (pooled) + p2p"}
"""Label of each sharing architecture: ``individual``, ``station (accounts)``,
``station (pooled) + p2p``, ``no storage + p2p`` (``p2p``), ..."""
BATTERY_COLORS = ("#CC79A7", "#F0E442", "#882255", "#332288", "#AA4499", "#999933",
                  "#88CCEE")
"""Colours of the individual batteries (the architecture colours left out)."""
COST_COLORS = {"capex": "#555555", "energy": "#DDCC77", "renewables": "#117733",
               "curtailment": "#88CCEE", "degradation": "#CC6677", "fees": "#AA4499",
               "shedding": "#882255", "co2": "#999933", "demand_charges": "#44AA99"}
"""Colours of the cost terms (Paul Tol's muted scheme)."""
COST_LABELS = {"capex": "capex (annualised)", "energy": "grid energy",
               "renewables": "own PV and wind", "curtailment": "curtailment",
               "degradation": "degradation", "fees": "exchange fees", "shedding": "shedding",
               "co2": "CO2 price", "demand_charges": "demand charges"}



def shade(color: str, share: float) -> str:
    """``color`` mixed with white: ``share`` of the colour (1: the colour itself)."""
    rgb = np.asarray(to_rgb(color))
    return to_hex(share * rgb + (1 - share) * np.ones(3))


def mode_color(mode: str, fallback: int = 0) -> str:
    """The colour of an architecture; ``PALETTE[fallback]`` for a name that is none."""
    return MODE_COLORS.get(mode, PALETTE[fallback % len(PALETTE)])


def mode_label(mode: str) -> str:
    """The label of an architecture (a name that is none as it is)."""
    return MODE_LABELS.get(mode, mode)


def uncertified(ds: object) -> dict[str, str]:
    """The architectures of a result whose cost is not certified, and why
    (:func:`framework.results.certification`)."""
    from framework.results import certification

    if "mode" not in getattr(ds, "dims", {}):
        return {}
    out = {}
    for mode in ds["mode"].values:
        ok, why = certification(ds.sel(mode=mode))
        if not ok:
            out[str(mode)] = why
    return out


def flag_uncertified(fig: Figure, ds: object) -> Figure:
    """Write NOT CERTIFIED in red above the figure when a cost it draws is not proven: the
    architectures and why (a limit reached, no finite bound). Returns ``fig``."""
    flagged = uncertified(ds)
    if flagged:
        text = "; ".join(f"{mode_label(m)}: {why}" for m, why in flagged.items())
        fig.text(0.005, 0.995, f"NOT CERTIFIED: {text}", color="#CC3311", fontsize=7,
                 fontweight="bold", ha="left", va="top")
    return fig


def station_modes(modes: list[str]) -> list[str]:
    """The architectures among ``modes`` with a shared station (``accounts``, ``pooled``,
    with or without ``+p2p``; names that are no architecture are left out)."""
    out = []
    for mode in modes:
        try:
            shared = architecture(mode).shared
        except InputError:
            continue
        if shared:
            out.append(mode)
    return out


STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.axisbelow": True,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "pdf.fonttype": 42,
    "svg.hashsalt": "sesplan",
}
"""rcParams of every figure: small print sizes, light grid, colour-blind safe cycle,
TrueType fonts embedded in PDF (text stays text)."""


@contextmanager
def style() -> Iterator[None]:
    """The sesplan style for the figures made (and saved) inside the block."""
    with mpl.rc_context(STYLE):
        yield


def new_figure(width_in: float = DOUBLE_COLUMN_IN, height_in: float = 2.6,
               nrows: int = 1, ncols: int = 1, **kwargs: object) -> tuple[Figure, object]:
    """A figure in the sesplan style with a grid of axes (``constrained`` layout).

    Returns the figure and its axes as ``Figure.subplots`` returns them.
    """
    with style():
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def new_figure_rows(width_in: float, heights_in: Sequence[float]
                    ) -> tuple[Figure, list[SubFigure]]:
    """A figure in the sesplan style split into rows (``constrained`` layout), each row a
    :class:`~matplotlib.figure.SubFigure` with axes and a legend of its own.

    Returns the figure and its rows, top first; make the axes with ``row.subplots`` inside
    :func:`style`.
    """
    with style():
        fig = Figure(figsize=(width_in, float(sum(heights_in))), layout="constrained")
        rows = fig.subfigures(len(heights_in), 1, height_ratios=list(heights_in), squeeze=False)
    return fig, list(rows[:, 0])


def save_figure(fig: Figure, path_stem: str | Path, description: str | None = None
                ) -> list[Path]:
    """Save ``fig`` as ``<path_stem>.pdf`` (vector) and ``<path_stem>.png`` (300 dpi).

    The output is deterministic (no creation date, no software version); a file that
    already holds the same bytes is left untouched, otherwise it is replaced atomically.

    Parameters
    ----------
    fig : Figure
    path_stem : path
        Path without suffix.
    description : str, optional
        Provenance stored in the files (PDF ``Subject``, PNG ``Description``).

    Returns
    -------
    list of Path
        The PDF and the PNG file.
    """
    stem = Path(path_stem)
    outputs = []
    metadata = {
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None,
                "Subject": description},
        "png": {"Software": None, "Description": description},
    }
    with style(), quiet("fontTools"):
        for suffix in ("pdf", "png"):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=suffix, dpi=DPI, metadata=metadata[suffix])
            path = stem.with_name(f"{stem.name}.{suffix}")
            write_if_changed(path, buffer.getvalue())
            outputs.append(path)
    return outputs
