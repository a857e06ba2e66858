"""The C&CG loop (Zeng and Zhao, 2013): master, worst cases, bounds, stopping rules.

Iteration ``k``: the master gives ``x_k`` and the lower bound ``LB = max(LB, master)``; every
block's separator finds its worst case ``u_b`` for ``x_k``, which gives the upper bound
``UB = min(UB, c'x_k + AGG_b w_b max_u Q_b(x_k, u))``; each ``u_b`` whose cost exceeds the
master's estimate ``eta_b`` gets its recourse copy in the master. The loop stops when
``(UB - LB) / max(|UB|, 1) <= rel_gap``, when no worst case cuts off ``x_k``, or at a limit.
Each block starts with one copy at its set's nominal point, so the first master is the
nominal (stochastic) problem.

Under MPI (``mpi4py`` with more than one rank, or an explicit ``comm``) the blocks are dealt
to the ranks; rank 0 solves the master and broadcasts ``x``, every rank solves the
separation of its blocks, and rank 0 gathers the worst cases. Every rank returns the same
result; only rank 0 logs.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from framework.robust.config import CCGConfig
from framework.robust.master import Master
from framework.robust.problem import RobustProblem
from framework.robust.results import (
    CCGResult,
    IterationRecord,
    Termination,
    WorstCase,
    relative_gap,
)
from framework.robust.separation import make_separator
from framework.solve import settings

log = logging.getLogger(__name__)


def default_comm() -> Any:
    """``MPI.COMM_WORLD`` when running under ``mpiexec`` with several ranks, else ``None``."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def robust_value(problem: RobustProblem, x: np.ndarray, values: list[float]) -> float:
    """``c'x + AGG_b w_b v_b`` for per-block worst-case values ``v_b``."""
    weighted = [b.weight * v for b, v in zip(problem.blocks, values)]
    agg = sum(weighted) if problem.aggregate == "sum" else max(weighted)
    return float(problem.first_stage.cost @ x + agg)


class _Separation:
    """The separators of this rank's blocks and one round over all blocks.

    A round first runs every block's fast search (exact for vertex enumeration, the ascent
    heuristic for the MILP separation). If some block's search found a worst case that cuts
    off the master's solution, the round ends there: those cuts go to the master and the
    upper bound waits. Otherwise the blocks are solved exactly (:meth:`_certify`); a round
    in which no exact solve finds a cut gives the upper bound.
    """

    def __init__(self, problem: RobustProblem, config: CCGConfig, comm: Any) -> None:
        self.comm = comm
        size = 1 if comm is None else comm.Get_size()
        rank = 0 if comm is None else comm.Get_rank()
        self.mine = {b: make_separator(problem.blocks[b], b, config)
                     for b in range(len(problem.blocks)) if b % size == rank}
        self.heuristic_first = config.heuristic_first
        self.probe_s = config.probe_s
        self.weights = np.array([block.weight for block in problem.blocks])

    def round(self, x: np.ndarray | None, thresholds: np.ndarray | None,
              gaps: np.ndarray | None, time_limit_s: float | None
              ) -> list[WorstCase] | None:
        """Worst cases of every block for ``x``, sorted by block (on rank 0; an empty list on
        the other ranks). ``thresholds[b]``: the cost above which a worst case of block ``b``
        cuts off the master's solution; ``gaps[b]``: the absolute MIP gap its exact
        separation may stop at. The heuristic's worst cases end the round only if one
        exceeds its threshold by more than half its gap (smaller ones still become cuts, but
        the round goes on to certify, so that C&CG does not creep up by cuts too small to
        matter). Under MPI every rank must call it with rank 0's arguments broadcast;
        ``x = None`` from rank 0 means stop, and the call returns ``None``."""
        if self.comm is not None:
            x, thresholds, gaps, time_limit_s = self.comm.bcast(
                (x, thresholds, gaps, time_limit_s), root=0)
        if x is None:
            return None
        found = {b: sep.search(x) for b, sep in self.mine.items()}
        stop = thresholds + 0.5 * gaps
        if self.heuristic_first:
            violated = any(w.value > stop[b] for b, w in found.items())
            if self.comm is not None:
                violated = self.comm.allreduce(violated, op=_lor())
        if not self.heuristic_first:
            found = {b: w if w.exact else dataclasses.replace(
                self.mine[b].solve(x, time_limit_s, gaps[b]), others=w.others)
                for b, w in found.items()}
        elif not violated:
            self._certify(found, x, stop, gaps, time_limit_s)
        if self.comm is None:
            return list(found.values())
        gathered = self.comm.gather(list(found.values()), root=0)
        if gathered is None:
            return []
        return sorted((w for part in gathered for w in part), key=lambda w: w.block)


    def _certify(self, found: dict[int, WorstCase], x: np.ndarray, thresholds: np.ndarray,
                 gaps: np.ndarray, time_limit_s: float | None) -> None:
        """Exact separations of this rank's blocks. Each MILP stops at a worst case above
        the threshold (here: the cut threshold plus half the gap), and after the first such
        one the remaining blocks keep their heuristic worst case.
        A first pass gives every MILP at most ``probe_s``, the blocks whose heuristic worst
        case came closest to its threshold first. A second pass solves those it left
        unproven, the smallest weighted gap first; under a time limit each gets an equal
        share of the time left, so that the time one does not use passes to the next and
        no block is left with only its probe's bound."""

        def proven(b: int) -> bool:
            w = found[b]
            return w.exact and (w.value > thresholds[b]
                                or w.bound <= max(w.value, thresholds[b]) + gaps[b])

        def weighted_gap(b: int) -> float:
            w = found[b]
            return self.weights[b] * (w.bound - max(w.value, thresholds[b]))

        start = time.perf_counter()
        order = sorted(found, key=lambda b: (thresholds[b] - found[b].value)
                       / max(1.0, abs(thresholds[b])))
        for probe in (True, False):
            todo = [b for b in order if not proven(b)]
            if not probe:
                todo.sort(key=weighted_gap)
            for n, b in enumerate(todo):
                left = None if time_limit_s is None else time_limit_s - (
                    time.perf_counter() - start)
                if left is None:
                    limit = self.probe_s if probe else None
                else:
                    limit = min(self.probe_s, left) if probe else left / (len(todo) - n)
                found[b] = dataclasses.replace(
                    self.mine[b].solve(x, limit, gaps[b], thresholds[b]),
                    others=found[b].others)
                if found[b].value > thresholds[b]:
                    return


def _lor() -> Any:
    from mpi4py import MPI

    return MPI.LOR


def solve_ccg(problem: RobustProblem, config: CCGConfig | None = None,
              comm: Any = None) -> CCGResult:
    """Solve a two-stage robust problem by column-and-constraint generation.

    Parameters
    ----------
    problem : RobustProblem
        First stage, blocks (recourse, uncertainty set, weight) and aggregate.
    config : CCGConfig, optional
        Gap, iteration and time limits, separation method, tolerances.
    comm : mpi4py communicator, optional
        Spread the separations over its ranks; default ``MPI.COMM_WORLD`` when it has more
        than one rank. Every rank must call :func:`solve_ccg` with the same problem.

    Returns
    -------
    CCGResult
        Status, best first stage, bounds, worst cases, iteration history and timings.
    """
    config = config or CCGConfig()
    comm = default_comm() if comm is None else comm
    root = comm is None or comm.Get_rank() == 0
    start = time.perf_counter()
    separation = _Separation(problem, config, comm)
    if not root:
        while separation.round(None, None, None, None) is not None:
            pass
        result = comm.bcast(None, root=0)
        if result is None:
            raise RuntimeError("C&CG: rank 0 failed; see its error")
        return result
    result = None
    try:
        master = Master(problem, config.threads)
        for b, block in enumerate(problem.blocks):
            master.add_cut(b, block.uncertainty.nominal())
        setup_s = time.perf_counter() - start
        result = _iterate(problem, config, master, separation, start, setup_s)
    finally:
        if comm is not None:
            separation.round(None, None, None, None)
            comm.bcast(result, root=0)
    return result


def _thresholds(problem: RobustProblem, eta: np.ndarray, tolerance: float) -> np.ndarray:
    """Per block, the recourse cost above which a worst case cuts off the master's solution:
    its estimate ``eta_b`` (``eta / w_b`` for ``aggregate="max"``) plus the tolerance."""
    out = np.empty(len(problem.blocks))
    for b, block in enumerate(problem.blocks):
        if problem.aggregate == "sum":
            estimate = eta[b]
        else:
            estimate = eta[0] / block.weight if block.weight > 0 else np.inf
        out[b] = estimate + tolerance * max(1.0, abs(estimate))
    return out


def _gaps(problem: RobustProblem, config: CCGConfig, lower: float) -> np.ndarray:
    """Per block, an absolute MIP gap of its separation that costs at most half the
    relative gap ``rel_gap`` of the robust objective (``lower`` estimates its size)."""
    weights = np.array([b.weight for b in problem.blocks])
    allowed = 0.5 * config.rel_gap * max(abs(lower), 1.0)
    if problem.aggregate == "sum":
        return np.full(weights.size, allowed / max(weights.sum(), 1e-12))
    return allowed / np.maximum(weights, 1e-12)


def _remaining(config: CCGConfig, start: float) -> float | None:
    """Seconds left of the run's limit, capped by the command's total
    (:func:`framework.solve.settings.time_limit`)."""
    left = (None if config.time_limit_s is None
            else config.time_limit_s - (time.perf_counter() - start))
    return settings.time_limit(left)


def _iterate(problem: RobustProblem, config: CCGConfig, master: Master,
             separation: _Separation, start: float, setup_s: float) -> CCGResult:
    lower, upper = -np.inf, np.inf
    best_x = np.full(problem.first_stage.size, np.nan)
    best_cases: list[WorstCase] = []
    records: list[IterationRecord] = []
    status = Termination.ITERATION_LIMIT
    master_total = separation_total = 0.0
    for k in range(1, config.max_iterations + 1):
        left = _remaining(config, start)
        if left is not None and left <= 0:
            status = Termination.TIME_LIMIT
            break
        tic = time.perf_counter()
        sol = master.solve(left, config.master_gap)
        master_s = time.perf_counter() - tic
        master_total += master_s
        if sol.status == "infeasible":
            status = Termination.INFEASIBLE
            break
        if sol.status == "time_limit" and not np.all(np.isfinite(sol.x)):
            status = Termination.TIME_LIMIT
            break
        lower = max(lower, sol.bound)
        thresholds = _thresholds(problem, sol.eta, config.cut_tolerance)
        tic = time.perf_counter()
        cases = separation.round(sol.x, thresholds, _gaps(problem, config, sol.bound),
                                 _remaining(config, start))
        separation_s = time.perf_counter() - tic
        separation_total += separation_s
        value = robust_value(problem, sol.x, [w.bound for w in cases])
        if value < upper or upper == np.inf:
            upper, best_x, best_cases = value, sol.x.copy(), cases
        cuts = 0
        for w in cases:
            for u, v in ((w.u, w.value), *w.others):
                if v > thresholds[w.block] and not master.has_cut(w.block, u):
                    master.add_cut(w.block, u)
                    cuts += 1
        gap = relative_gap(lower, upper)
        records.append(IterationRecord(k, sol.bound, lower, upper, gap, cuts,
                                       sum(w.exact for w in cases), master_s, separation_s))
        log.info("C&CG %3d  LB %.8g  UB %.8g  gap %.3e  new worst cases %d  master %.2f s  "
                 "separation %.2f s", k, lower, upper, gap, cuts, master_s, separation_s)
        if gap <= config.rel_gap:
            status = Termination.OPTIMAL
            break
        left = _remaining(config, start)
        if sol.status == "time_limit" or (left is not None and left <= 0):
            status = Termination.TIME_LIMIT
            break
        if cuts == 0:
            status = Termination.STALLED
            break
    total_s = time.perf_counter() - start
    log.info("C&CG %s after %d iterations in %.2f s (master %.2f s, separation %.2f s): "
             "robust objective %.8g, lower bound %.8g", status.value, len(records), total_s,
             master_total, separation_total, upper, lower)
    return CCGResult(
        status=status, x=best_x, x_names=problem.first_stage.names, objective=upper,
        lower_bound=lower, worst_cases=tuple(best_cases),
        cuts=tuple(tuple(c) for c in master.cuts), iterations=tuple(records),
        setup_s=setup_s, master_s=master_total, separation_s=separation_total,
        total_s=total_s)


def worst_case(problem: RobustProblem, x: np.ndarray, config: CCGConfig | None = None
               ) -> tuple[float, tuple[WorstCase, ...]]:
    """The robust objective of a fixed first stage ``x`` and its worst case per block
    (serial): ``c'x + AGG_b w_b max_{u in U_b} Q_b(x, u)``, each maximum bounded by its
    separation MILP's dual bound (default: solved to a relative gap of 1e-9; with
    ``config.time_limit_s`` each separation stops there and its bound may be looser)."""
    config = config or CCGConfig(separation_gap=1e-9)
    x = np.asarray(x, dtype=float)
    cases = tuple(make_separator(b, i, config).solve(x, config.time_limit_s)
                  for i, b in enumerate(problem.blocks))
    return robust_value(problem, x, [w.bound for w in cases]), cases
