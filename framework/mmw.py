"""MMW confidence interval of a plan's optimality gap, on batches of sampled days.

Mak, Morton and Wood (1999): draw ``m`` independent batches of ``n`` days from the history;
for batch ``j`` (its days, each of probability ``1/n``, as a year of their own) let
``x*_j`` be the optimum of the stochastic problem on it and

    G_j = f_j(xhat) - f_j(x*_j) >= 0

(``f_j(x)``: the annual cost of the batch's extensive form with the storage capacities
``x``, everything else re-optimised). With ``Gbar = mean_j G_j`` and ``s_G`` the standard
deviation of the ``G_j`` (``numpy.std``, divisor ``m``),
``[0, Gbar + t_{m-1}(confidence) s_G / sqrt(m)]`` covers the optimality gap of ``xhat``
with probability ``confidence`` (approximately, one-sided ``t`` quantile).

The plan judged is the storage capacities only. What couples the days of a year (the
cells' discharge under a cycle life, the billing periods' peaks under demand charges) is
decided with the batch's year, like the dispatch: each batch is solved as one extensive
form (:func:`framework.solve.ef.solve_ef`), ``f_j(xhat)`` with ``fixed_capacity`` and
``f_j(x*_j)`` free, so the cycle life and demand charges are priced on the batch's days
(a drawn day keeps the months it stands for, so monthly billing periods are those of the
batch's days, :func:`batch_days`).

The draws and the estimator are those of mpi-sppy's ``MMWConfidenceIntervals`` (with the
batches starting at scenario 0): scenario ``k`` is the day drawn by
``numpy.random.default_rng([seed, k])`` from the pool with its probabilities (with
replacement, :class:`DayPool`), batch ``j`` is scenarios ``j n .. (j + 1) n - 1``, and a
``G_j`` of the wrong sign smaller than ``1e-4`` of the objective is solver noise, taken as
0 (mpi-sppy's ``correcting_numeric``). On a system whose days are not coupled the result is
mpi-sppy's (``tests/framework/test_mmw.py`` checks it against ``MMWConfidenceIntervals``).
An architecture without storage (``none``, ``p2p``) has no first stage: every batch's
optimum is the plan itself, so its gap is 0 and nothing is solved.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from framework.architecture import architecture
from framework.errors import InputError
from framework.logs import quiet
from framework.model import check_scenarios_match
from framework.system import System

log = logging.getLogger(__name__)

WRONG_SIGN_REL = 1e-4
"""A batch gap below 0 by less than this share of the plan's cost on the batch is solver
noise and taken as 0 (mpi-sppy's ``correcting_numeric`` threshold)."""


@dataclass(frozen=True)
class DayPool:
    """The days that the scenarios are drawn from, with their probabilities, and the seed."""

    days: xr.Dataset
    seed: int

    def draw(self, k: int) -> int:
        """Position of the day that scenario number ``k`` is (reproducible per ``k``)."""
        p = self.days["probability"].values
        return int(np.random.default_rng([self.seed, k]).choice(len(p), p=p / p.sum()))

    def batch(self, j: int, size: int) -> xr.Dataset:
        """Batch ``j`` of ``size`` days: scenarios ``j size .. (j + 1) size - 1``
        (:func:`batch_days`)."""
        return batch_days(self.days, [self.draw(k) for k in range(j * size, (j + 1) * size)])


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


def batch_days(days: xr.Dataset, positions: Sequence[int]) -> xr.Dataset:
    """The scenario set of the days at ``positions`` of ``days`` (repeats allowed), each of
    probability ``1 / len(positions)``, in that order.

    With the day-to-scenario ``membership`` of a scenario file, each drawn scenario keeps
    the historical days it stands for (repeated with it, their membership renumbered), so
    it keeps its months (:func:`framework.model.data.scenario_months`) and the batch's
    monthly billing periods are those of its days.
    """
    n = len(positions)
    out = days.isel(scenario=list(positions))
    if "membership" in days and days.sizes.get("day", 0) > 0:
        membership = days["membership"].values
        members = [np.flatnonzero(membership == k) for k in positions]
        out = out.isel(day=np.concatenate(members).astype(np.int64))
        out["membership"] = ("day", np.repeat(np.arange(n), [len(m) for m in members]))
    out["probability"] = ("scenario", np.full(n, 1.0 / n))
    return out.assign_coords(scenario=np.arange(n))


def batch_gap(system: System, capacity: Mapping[str, Mapping[str, float]], batch: xr.Dataset,
              mode: str) -> float:
    """``G_j``: the annual cost of ``capacity`` on the extensive form of ``batch`` less the
    batch's optimum (both :func:`framework.solve.ef.solve_ef`, the days' coupling decided
    with the batch), a wrong sign within :data:`WRONG_SIGN_REL` taken as 0."""
    from framework.solve.ef import solve_ef

    at_plan = float(solve_ef(system, batch, mode, fixed_capacity=capacity)["objective"][0])
    optimum = float(solve_ef(system, batch, mode)["objective"][0])
    gap = at_plan - optimum
    noise = WRONG_SIGN_REL * (abs(at_plan) if abs(optimum) > 1 else 1.0)
    if gap <= -noise:
        log.warning("%s: the MMW batch gap is of the wrong sign: %.6g (the plan costs %.10g, "
                    "the batch's optimum %.10g)", mode, gap, at_plan, optimum)
        return gap
    return max(0.0, gap)


def gap_interval(gaps: Sequence[float], batch_size: int, confidence: float) -> GapInterval:
    """``Gbar``, ``s_G`` (``numpy.std``) and ``[0, Gbar + t_{m-1}(confidence) s_G /
    sqrt(m)]`` of the batch gaps ``G_j``."""
    from scipy import stats  # here only: scipy.stats loads slowly

    g = np.asarray(gaps, dtype=float)
    m = len(g)
    estimate, std = float(np.mean(g)), float(np.std(g))
    high = estimate + float(stats.t.ppf(confidence, m - 1)) * std / np.sqrt(m)
    return GapInterval(estimate=estimate, std=std, ci_low=0.0, ci_high=float(high),
                       batch_gaps=tuple(float(x) for x in g), batch_size=batch_size,
                       confidence=confidence)


def mmw_gap(system: System, capacity: Mapping[str, Mapping[str, float]], days: xr.Dataset,
            mode: str, *, batch_size: int = 10, batches: int = 5, seed: int = 0,
            confidence: float = 0.95) -> GapInterval:
    """MMW confidence interval of the optimality gap of ``capacity`` (see the module text).

    Parameters
    ----------
    system : System
        Cycle life and demand charges allowed: they are priced on each batch's days.
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
    if batch_size < 1 or batches < 2 or not 0 < confidence < 1:
        raise InputError(f"mmw: expected batch_size >= 1, batches >= 2 and confidence in "
                         f"(0, 1), got {batch_size}, {batches}, {confidence}")
    check_scenarios_match(system, days, where="mmw days")
    if architecture(mode).storage == "none":
        return GapInterval(0.0, 0.0, 0.0, 0.0, (0.0,) * batches, batch_size, confidence)
    pool = DayPool(days, seed)
    gaps = []
    for j in range(batches):
        with quiet("framework.solve.ef"):  # two solves a batch: the summary below says it
            gaps.append(batch_gap(system, capacity, pool.batch(j, batch_size), mode))
        log.debug("%s: MMW batch %d of %d: G = %.6g", mode, j + 1, batches, gaps[-1])
    gap = gap_interval(gaps, batch_size, confidence)
    log.info("%s: MMW gap %.4g, %.0f %% CI [%.4g, %.4g] (%d batches of %d days)", mode,
             gap.estimate, 100 * confidence, gap.ci_low, gap.ci_high, batches, batch_size)
    return gap
