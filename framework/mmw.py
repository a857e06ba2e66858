"""MMW confidence interval of a plan's optimality gap, by mpi-sppy, on sampled days.

Mak, Morton and Wood (1999): draw ``m`` independent batches of ``n`` days from the history;
for batch ``j`` let ``x*_j`` be the optimum of the stochastic problem on its days (each of
probability ``1/n``) and

    G_j = (1/n) sum_{s in batch j} [ f(xhat, s) - f(x*_j, s) ] >= 0

(``f(x, s)``: annual cost of capacities ``x`` on day ``s``, dispatch re-optimised). With
``Gbar = mean_j G_j`` and ``s_G`` the standard deviation of the ``G_j``,
``[0, Gbar + t_{m-1}(confidence) s_G / sqrt(m)]`` covers the optimality gap of ``xhat``
with probability ``confidence`` (approximately, one-sided ``t`` quantile). mpi-sppy's
``MMWConfidenceIntervals`` computes it; ``s_G`` is ``numpy.std`` (divisor ``m``) there.

mpi-sppy drives the sampling through a model module (its ``farmer`` contract); this module is
that module: scenario ``scen<k>`` is the day drawn by ``numpy.random.default_rng([seed, k])``
from the pool of days with the pool's probabilities (with replacement), built by the one
model builder. The pool lives in this process (registered for the duration of
:func:`mmw_gap`); mpi-sppy's extensive forms are solved with HiGHS through Pyomo
(``appsi_highs``). An architecture without storage (``none``, ``p2p``) has no first stage:
every batch's optimum is the plan itself, so its gap is 0 and mpi-sppy is not run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyomo.environ as pyo
import xarray as xr

from framework._mpisppy import sputils
from framework.architecture import architecture
from framework.errors import InputError
from framework.logs import quiet
from framework.model import (
    build_scenario_model,
    check_scenarios_match,
    first_stage_vars,
    fix_capacity,
    scenario_data,
)
from framework.system import System

log = logging.getLogger(__name__)

SOLVER = "appsi_highs"
"""Pyomo's name of the solver of mpi-sppy's extensive forms (its HiGHS interface)."""


@dataclass(frozen=True)
class DayPool:
    """What scenario ``scen<k>`` is drawn from: the days, their probabilities, the
    architecture ``mode``."""

    system: System
    days: xr.Dataset
    mode: str
    seed: int

    def draw(self, k: int) -> int:
        """Position of the day that scenario number ``k`` is (reproducible per ``k``)."""
        p = self.days["probability"].values
        return int(np.random.default_rng([self.seed, k]).choice(len(p), p=p / p.sum()))


_POOLS: dict[str, DayPool] = {}
_COUNTER = itertools.count()


@dataclass(frozen=True)
class GapInterval:
    """The MMW estimate and confidence interval of a plan's optimality gap (currency/yr)."""

    estimate: float
    std: float
    ci_low: float
    ci_high: float
    batch_gaps: tuple[float, ...]
    batch_size: int
    confidence: float


def scenario_names_creator(num_scens: int, start: int | None = None) -> list[str]:
    """mpi-sppy contract: ``scen<start> .. scen<start + num_scens - 1>``."""
    start = 0 if start is None else start
    return [f"scen{k}" for k in range(start, start + num_scens)]


def inparser_adder(cfg: Any) -> None:
    """mpi-sppy contract: the only option is the number of scenarios."""
    cfg.num_scens_required()


def kw_creator(cfg: Any) -> dict[str, Any]:
    """mpi-sppy contract: the keyword arguments of :func:`scenario_creator`."""
    return {"pool": cfg["sesplan_pool"], "num_scens": cfg["num_scens"]}


def scenario_denouement(rank: int, scenario_name: str, scenario: pyo.ConcreteModel) -> None:
    """mpi-sppy contract: nothing to report per scenario."""


def scenario_creator(scenario_name: str, *, pool: str, num_scens: int) -> pyo.ConcreteModel:
    """Scenario ``scen<k>``: the day :meth:`DayPool.draw` picks, probability ``1/num_scens``,
    with the root node attached."""
    source = _POOLS[pool]
    k = int(scenario_name.removeprefix("scen"))
    data = replace(scenario_data(source.days, source.draw(k)), name=scenario_name,
                   probability=1.0 / num_scens)
    m = build_scenario_model(source.system, data, source.mode)
    sputils.attach_root_node(m, m.capex_annual, first_stage_vars(m))
    return m


@contextlib.contextmanager
def _no_log_files() -> Iterator[None]:
    """Importing mpi-sppy's ``xhat_eval`` opens ``xhateval.log`` in the working directory
    (``mpisppy.log.setup_logger`` with a file name); send such loggers to ``os.devnull``."""
    import mpisppy.log

    original = mpisppy.log.setup_logger

    def setup_logger(name: str, out: Any, *args: Any, **kwargs: Any) -> None:
        original(name, os.devnull if isinstance(out, str) else out, *args, **kwargs)

    mpisppy.log.setup_logger = setup_logger
    try:
        yield
    finally:
        mpisppy.log.setup_logger = original


def nonant_values(system: System, days: xr.Dataset, mode: str,
                  capacity: Mapping[str, Mapping[str, float]]) -> np.ndarray:
    """The first-stage values of ``capacity`` in the order mpi-sppy holds them."""
    m = build_scenario_model(system, scenario_data(days, 0), mode)
    fix_capacity(m, system, capacity)
    return np.array([pyo.value(v) for var in first_stage_vars(m) for v in var.values()])


def mmw_gap(system: System, capacity: Mapping[str, Mapping[str, float]], days: xr.Dataset,
            mode: str, *, batch_size: int = 10, batches: int = 5, seed: int = 0,
            confidence: float = 0.95) -> GapInterval:
    """MMW confidence interval of the optimality gap of ``capacity`` (see the module text).

    Parameters
    ----------
    system : System
    capacity : mapping
        ``{"cap_energy_kwh": {k: E}, "cap_power_kw": {k: P}}`` of the storages of ``mode``.
    days : xr.Dataset
        The pool of days (e.g. every historical day); drawn with their probabilities.
    mode : str
        The architecture (:data:`framework.architecture.ARCHITECTURES`); without storage
        the gap is 0 (no first stage).
    batch_size, batches : int
        ``n`` days per batch (>= 1) and ``m`` batches (>= 2).
    seed : int
        Seed of the draws.
    confidence : float
        In (0, 1).
    """
    with _no_log_files():
        from mpisppy.confidence_intervals import mmw_ci
        from mpisppy.utils import config

    if batch_size < 1 or batches < 2 or not 0 < confidence < 1:
        raise InputError(f"mmw: expected batch_size >= 1, batches >= 2 and confidence in "
                         f"(0, 1), got {batch_size}, {batches}, {confidence}")
    check_scenarios_match(system, days, where="mmw days")
    if architecture(mode).storage == "none":
        return GapInterval(0.0, 0.0, 0.0, 0.0, (0.0,) * batches, batch_size, confidence)
    key = f"pool{next(_COUNTER)}"
    _POOLS[key] = DayPool(system, days, mode, seed)
    cfg = config.Config()
    cfg.quick_assign("EF_2stage", bool, True)
    cfg.quick_assign("EF_solver_name", str, SOLVER)
    cfg.quick_assign("num_scens", int, batch_size)
    cfg.quick_assign("sesplan_pool", str, key)
    xhat = {"ROOT": nonant_values(system, days, mode, capacity)}
    chatter = io.StringIO()
    try:
        with contextlib.redirect_stdout(chatter), quiet("pyomo.contrib.appsi"):
            ci = mmw_ci.MMWConfidenceIntervals(__name__, cfg, xhat, batches,
                                               batch_size=batch_size, start=0, verbose=False)
            result = ci.run(confidence_level=confidence)
    finally:
        del _POOLS[key]
    log.debug("mpi-sppy: %s", chatter.getvalue().strip())
    gap = GapInterval(estimate=float(result["Gbar"]), std=float(result["std"]),
                      ci_low=float(result["gap_outer_bound"]),
                      ci_high=float(result["gap_inner_bound"]),
                      batch_gaps=tuple(float(g) for g in result["Glist"]),
                      batch_size=batch_size, confidence=confidence)
    log.info("%s: MMW gap %.4g, %.0f %% CI [%.4g, %.4g] (%d batches of %d days)", mode,
             gap.estimate, 100 * confidence, gap.ci_low, gap.ci_high, batches, batch_size)
    return gap
