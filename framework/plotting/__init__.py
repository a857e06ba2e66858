"""Figures of sesplan results: one function per figure, one shared style.

Every ``plot_*`` function takes a result dataset (or a study summary) and returns a
:class:`matplotlib.figure.Figure`; it never solves and never writes.
:func:`~framework.plotting.style.save_figure` writes a figure as vector PDF and 300-dpi PNG,
deterministically; :func:`~framework.plotting.make.make_figures` makes every figure that
result files allow (``sesplan figures``).
"""

from framework.plotting.analysis import (
    plot_allocation,
    plot_bound_convergence,
    plot_objective_vs_k,
    plot_price_of_robustness,
    plot_scaling,
)
from framework.plotting.chronology import plot_chronology
from framework.plotting.exchange import plot_exchange
from framework.plotting.ladder import plot_ladder
from framework.plotting.lease import plot_lease_game
from framework.plotting.make import FIGURES, available, figures_for, make_figures
from framework.plotting.plan import (
    plot_capacity_cost,
    plot_out_of_sample,
    plot_representative_days,
    plot_soc,
)
from framework.plotting.style import STYLE, new_figure, save_figure, style

__all__ = [
    "FIGURES", "STYLE", "available", "figures_for", "make_figures", "new_figure",
    "plot_allocation", "plot_bound_convergence", "plot_capacity_cost", "plot_chronology", "plot_exchange",
    "plot_ladder", "plot_lease_game",
    "plot_objective_vs_k", "plot_out_of_sample", "plot_price_of_robustness",
    "plot_representative_days", "plot_scaling", "plot_soc", "save_figure", "style",
]
