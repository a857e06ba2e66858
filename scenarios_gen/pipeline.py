"""From a system description to its scenario set: the one entry point the CLI uses."""

from __future__ import annotations

import logging
import time

import xarray as xr

from framework.system import System, scenario_attrs
from scenarios_gen.metrics import representation_metrics
from scenarios_gen.scenarios import days_as_scenarios, generate_scenarios
from scenarios_gen.sources import load_days, load_history

log = logging.getLogger(__name__)


def scenarios_for(system: System, n_clusters: int = 12, method: str = "kmeans",
                  extreme_days: int = 0, seed: int = 0, all_days: bool = False,
                  quantiles: tuple[float, ...] = (0.1, 0.9)) -> xr.Dataset:
    """Load, clean and cluster the history of ``system`` into weighted representative days.

    Parameters
    ----------
    system : System
        Its ``[history]`` says where the profiles come from.
    n_clusters : int
        Number of clustered days ``K`` (extreme days come on top).
    method : {"kmeans", "kmedoids", "hierarchical"}
    extreme_days : int
        Days kept as their own scenarios (highest net load, lowest renewable output, ...).
    seed : int
        Seed of every random choice; stored in the result.
    all_days : bool
        Every historical day its own scenario instead of clustering.
    quantiles : tuple of float
        Quantiles of the member days kept per scenario and step (the spread).

    Returns
    -------
    xr.Dataset
        The scenario set (see ``docs/scenarios.md``). A ``days`` source is returned as given.
    """
    if system.history.source == "days":
        return _known(load_days(system), system)
    start = time.perf_counter()
    history = load_history(system)
    log.info("history: %d days of %d microgrids loaded in %.2f s",
             history.sizes["time"] // system.history.steps_per_day, history.sizes["microgrid"],
             time.perf_counter() - start)
    if all_days:
        return _known(days_as_scenarios(history), system)
    scenarios = generate_scenarios(history, n_clusters, method=method,
                                   extreme_days=extreme_days, seed=seed, quantiles=quantiles)
    log.info("clustered into %d scenarios (%s); representation: %s",
             scenarios.sizes["scenario"], method,
             {k: v for k, v in representation_metrics(history, scenarios).items()
              if not isinstance(v, dict)})
    return _known(scenarios, system)


def _known(scenarios: xr.Dataset, system: System) -> xr.Dataset:
    """The scenario set with the system it was made for in its attributes
    (:func:`framework.system.scenario_attrs`)."""
    scenarios.attrs.update(scenario_attrs(system))
    return scenarios
