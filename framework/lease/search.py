"""The scalable method: a search over the price lattice whose every point is an exact
market outcome, led by the microgrids' participation thresholds.

At prices ``p`` (:func:`evaluate`): each microgrid's best response ``V_i(p)`` (its LP,
:class:`framework.lease.model.Follower`, re-solved from its last basis); it leases when
``V_i(p) <= v_i`` (its own battery); then the operator's LP over the joint model chooses,
among the responses that are optimal for every lessee (``c_i(p)' x_i <= V_i(p)``, with no
slack that the operator would take from the lessees), the one and the station that
maximise its profit (the optimistic bilevel convention, as in the exact MILP); with a cycle
life the station's cost holds its cells' annuity over that response's discharge.

The search (:func:`search_prices`), in three passes whose points are dealt to the MPI ranks
(:func:`framework.game.values.deal`):

1. **Thresholds** (:func:`trace_thresholds`). ``V_i`` is non-decreasing in every price (the
   prices multiply leases and metered energy, all >= 0), so the prices at which microgrid
   ``i`` leases are a down-set of the lattice: along the energy axis it leases up to a
   threshold level ``t_i(power, fee)``, non-increasing in the power level. A staircase walk
   finds every threshold exactly with at most ``levels_E + levels_P`` of ``i``'s LPs per fee
   level (bisection for the first column, then one step down or right at a time), and so
   who leases at every lattice point without the operator's LP.
2. **Boundary points**: with the participants fixed, the operator gains by raising the
   prices until one of them leaves, so the candidates are the maximal points of each set of
   participants (no step up along a free axis keeps the same set), and every point of a
   coarse sub-lattice (``coarse`` levels per axis) for optima inside a set.
3. **Refinement**: a pattern search on the lattice from the ``starts`` best points (the
   neighbours at distance ``step`` along every free axis and diagonal; the step halves
   when no neighbour is better, down to one level).

``full=True`` evaluates every lattice point instead (brute force). The search's profit is a
lower bound on the exact one over the lattice; ``docs/lease.md`` states its tolerance.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from framework.errors import SolveError
from framework.game.values import deal, world
from framework.lease.model import Follower, LeaseGame, Outcome, outcome
from framework.solve import lp

log = logging.getLogger(__name__)

Index = tuple[int, int, int]


class Evaluator:
    """Market outcomes at price points, with one warm follower instance per microgrid."""

    def __init__(self, game: LeaseGame) -> None:
        self.game = game
        self.followers = [Follower(game, i) for i in range(game.n)]

    def __call__(self, prices: tuple[float, float, float]) -> Outcome:
        return evaluate(self.game, prices, self.followers)


#: Up to this many indifferent microgrids at a point, the operator's choice among them is
#: found by trying every subset; beyond it, all of them lease or none does.
INDIFFERENT_SUBSETS = 4


def evaluate(game: LeaseGame, prices: tuple[float, float, float],
             followers: list[Follower] | None = None,
             participates: np.ndarray | None = None) -> Outcome:
    """The market outcome at ``prices`` (see the module docstring).

    Every microgrid with ``V_i(p) < v_i`` leases. One that is indifferent
    (``|V_i(p) - v_i|`` within :meth:`LeaseGame.tol`) leases or not as suits the operator
    (the optimistic convention of the exact MILP): every subset of the indifferent ones is
    tried (up to :data:`INDIFFERENT_SUBSETS` of them; beyond, all or none) and the most
    profitable kept. ``participates`` overrides who leases (the exact method passes its
    own, the leader's choice).

    Where the station cannot serve the lessees' responses (bounds on the station, such as
    ``storage.power_max_kw``) a choice is not open to the operator: an outcome with
    ``servable=False`` (profit ``-inf``), as the exact MILP, whose rows hold the same
    bounds, never chooses it.

    Raises
    ------
    SolveError
        If the operator's problem ends otherwise than optimal or infeasible.
    """
    followers = followers or [Follower(game, i) for i in range(game.n)]
    values = np.array([f.value(prices) for f in followers])
    if participates is not None:
        return _serve(game, prices, participates, values)
    tol = np.array([game.tol(i) for i in range(game.n)])
    strict = values < game.standalone - tol
    indifferent = np.flatnonzero(np.abs(values - game.standalone) <= tol)
    if indifferent.size <= INDIFFERENT_SUBSETS:
        choices = itertools.chain.from_iterable(
            itertools.combinations(indifferent, k) for k in range(indifferent.size, -1, -1))
    else:
        choices = iter((tuple(indifferent), ()))
    best = None
    for chosen in choices:
        on = strict.copy()
        on[list(chosen)] = True
        o = _serve(game, prices, on, values)
        if best is None or o.profit > best.profit + 1e-9 * max(1.0, abs(o.profit)):
            best = o
    return best


def _serve(game: LeaseGame, prices: tuple[float, float, float], participates: np.ndarray,
           values: np.ndarray) -> Outcome:
    """The operator's problem when exactly ``participates`` lease, each at its best
    response's cost ``values[i]``."""
    if not participates.any():
        return outcome(game, prices, participates, None)
    on = np.flatnonzero(participates)
    costs = [game.price_cost(i, prices) for i in on]
    revenue = sum(costs) - np.where(np.isin(game.owner, on), game.operating, 0.0)
    cost = game.station_cost + game.wear_per_kwh * game.throughput - revenue
    upper = game.col_upper.copy()
    off = np.flatnonzero(~participates)
    upper[game.lease_energy[off]] = upper[game.lease_power[off]] = 0.0
    matrix = sp.vstack([game.matrix, sp.csr_array(np.array(costs))], format="csr")
    h = lp.new_highs(threads=1)
    lp.pass_model(h, cost, game.col_lower, upper, matrix,
                  np.concatenate([game.row_lower, np.full(on.size, -np.inf)]),
                  np.concatenate([game.row_upper, values[on]]), game.integer)
    status = lp.run(h)
    if status == lp.Status.kInfeasible:
        log.info("lease: at prices %s the station cannot serve the responses of %s",
                 prices, [game.names[i] for i in on])
        return replace(outcome(game, prices, participates, None),
                       participates=participates.copy(), servable=False)
    if status != lp.Status.kOptimal:
        raise SolveError(f"lease: the operator's problem at prices {prices} ended with "
                         f"'{h.modelStatusToString(h.getModelStatus())}'")
    return outcome(game, prices, participates, np.asarray(h.getSolution().col_value))


@dataclass(frozen=True)
class SearchResult:
    """The evaluated points and the best of them.

    Attributes
    ----------
    points : dict
        ``{lattice index: Outcome}`` of every evaluated point.
    best : tuple of int
        The index of the largest profit (ties: the larger total saving, then the lower
        index).
    wall_s : float
    ranks : int
    thresholds : np.ndarray or None
        ``(microgrid, power level, fee level)``: the highest energy level at which each
        microgrid leases (-1: none); ``None`` for brute force.
    boundary : int
        Boundary points evaluated (maximal points of the sets of participants).
    """

    points: dict[Index, Outcome]
    best: Index
    wall_s: float
    ranks: int
    thresholds: np.ndarray | None = None
    boundary: int = 0

    @property
    def outcome(self) -> Outcome:
        return self.points[self.best]


def _best(points: dict[Index, Outcome], game: LeaseGame) -> Index:
    tol = max(1e-9, 1e-7 * float(np.abs(game.standalone).sum()))
    top = max(o.profit for o in points.values())
    near = [k for k, o in points.items() if o.profit >= top - tol]
    return max(near, key=lambda k: (points[k].saving.sum(), tuple(-v for v in k)))


def evaluate_points(game: LeaseGame, indices: list[Index], comm: Any = None,
                    evaluator: Evaluator | None = None) -> dict[Index, Outcome]:
    """Outcomes at lattice ``indices``, dealt to the MPI ranks; the same on every rank."""
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()
    evaluator = evaluator or Evaluator(game)
    owner = deal([1.0] * len(indices), size)
    mine = {k: evaluator(game.box.prices(k)) for k, r in zip(indices, owner) if r == rank}
    if size == 1:
        return mine
    merged: dict[Index, Outcome] = {}
    for part in comm.allgather(mine):
        merged.update(part)
    return merged


def coarse_levels(n: int, coarse: int) -> list[int]:
    """At most ``coarse`` evenly spread levels of an axis of ``n`` (ends included)."""
    return sorted({round(v) for v in np.linspace(0, n - 1, min(n, coarse))})


def _staircase(game: LeaseGame, follower: Follower, fee: int) -> np.ndarray:
    """Follower ``follower.i``'s threshold energy level at every power level of fee level
    ``fee`` (-1: it leases at no energy price): bisection on the first power level, then a
    walk down, the threshold being non-increasing in the power price."""
    box, i = game.box, follower.i
    limit = float(game.standalone[i]) + game.tol(i)

    def leases(a: int, b: int) -> bool:
        return follower.value(box.prices((a, b, fee))) <= limit

    out = np.full(box.size(1), -1)
    low, high = -1, box.size(0)  # leases at low (or low = -1), not at high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if leases(mid, 0) else (low, mid)
    out[0] = a = low
    for b in range(1, out.size):
        while a >= 0 and not leases(a, b):
            a -= 1
        if a < 0:
            break
        out[b] = a
    return out


def trace_thresholds(game: LeaseGame, comm: Any = None,
                     evaluator: Evaluator | None = None) -> np.ndarray:
    """Every microgrid's participation threshold (:func:`_staircase`) at every power and fee
    level, ``(microgrid, power level, fee level)``; the (microgrid, fee level) walks are
    dealt to the MPI ranks. The same on every rank."""
    comm = world() if comm is None else comm
    rank, size = comm.Get_rank(), comm.Get_size()
    evaluator = evaluator or Evaluator(game)
    tasks = list(itertools.product(range(game.n), range(game.box.size(2))))
    owner = deal([1.0] * len(tasks), size)
    mine = {(i, f): _staircase(game, evaluator.followers[i], f)
            for (i, f), r in zip(tasks, owner) if r == rank}
    if size > 1:
        mine = {k: v for part in comm.allgather(mine) for k, v in part.items()}
    out = np.empty((game.n, game.box.size(1), game.box.size(2)), dtype=int)
    for (i, f), walk in mine.items():
        out[i, :, f] = walk
    return out


def participation(game: LeaseGame, thresholds: np.ndarray) -> np.ndarray:
    """Who leases at every lattice point, ``(microgrid, energy, power, fee level)``."""
    energy = np.arange(game.box.size(0))[None, :, None, None]
    return energy <= thresholds[:, None, :, :]


def boundary_points(game: LeaseGame, thresholds: np.ndarray) -> list[Index]:
    """The maximal points of each non-empty set of participants: lattice points from which
    no step up along any axis keeps the same participants."""
    leases = participation(game, thresholds)
    keeps = np.zeros(leases.shape[1:], dtype=bool)
    for axis in range(3):
        up = np.all(np.diff(leases, axis=axis + 1) == 0, axis=0)
        pad = [(0, 0)] * 3
        pad[axis] = (0, 1)
        keeps |= np.pad(up, pad, constant_values=False)
    found = np.argwhere(leases.any(axis=0) & ~keeps)
    return [tuple(int(v) for v in k) for k in found]  # type: ignore[misc]


def _pattern(game: LeaseGame, points: dict[Index, Outcome], best: Index, step: int,
             comm: Any, evaluator: Evaluator) -> None:
    """Pattern search from ``best``: move to the best neighbour at distance ``step`` (every
    free axis and diagonal) while one is better, else halve the step, down to 1."""
    shape = game.box.shape
    free = [a for a in range(3) if shape[a] > 1]
    moves = [d for d in itertools.product((-1, 0, 1), repeat=len(free)) if any(d)]
    while step >= 1:
        near = {best}
        for d in moves:
            k = list(best)
            for a, s in zip(free, d):
                k[a] = min(max(k[a] + s * step, 0), shape[a] - 1)
            near.add(tuple(k))
        new = sorted(near - set(points))
        if new:
            points.update(evaluate_points(game, new, comm, evaluator))
        moved = _best({k: points[k] for k in near}, game)
        if moved == best:
            step //= 2
        best = moved


def search_prices(game: LeaseGame, *, coarse: int = 9, starts: int = 3, full: bool = False,
                  comm: Any = None) -> SearchResult:
    """Search the price lattice of ``game.box`` (see the module docstring).

    Parameters
    ----------
    coarse : int
        Levels per free axis of the coarse sub-lattice evaluated beside the boundary points
        (at least 2).
    starts : int
        Pattern searches, from the best points evaluated.
    full : bool
        Evaluate every lattice point (brute force) instead.
    comm : mpi4py communicator, optional
        Default ``MPI.COMM_WORLD``; every rank must call with the same arguments and gets
        the same result.
    """
    start = time.perf_counter()
    comm = world() if comm is None else comm
    shape = game.box.shape
    evaluator = Evaluator(game)
    levels = [list(range(n)) if full else coarse_levels(n, max(2, coarse)) for n in shape]
    indices = set(itertools.product(*levels))
    thresholds, boundary = None, []
    if not full:
        thresholds = trace_thresholds(game, comm, evaluator)
        boundary = boundary_points(game, thresholds)
        indices |= set(boundary)
    points = evaluate_points(game, sorted(indices), comm, evaluator)
    spacing = max((lv[1] - lv[0] for lv in levels if len(lv) > 1), default=1)
    ranked = sorted(points, key=lambda k: (-points[k].profit, k))
    for start_at in ([] if full else ranked[:max(1, starts)]):
        _pattern(game, points, start_at, max(1, spacing // 2), comm, evaluator)
    best = _best(points, game)
    result = SearchResult(points, best, time.perf_counter() - start, comm.Get_size(),
                          thresholds, len(boundary))
    if comm.Get_rank() == 0:
        o = result.outcome
        log.info("lease search: %d of %d price points (%d on the participation boundary) in "
                 "%.1f s; best %s profit %.6g", len(points), int(np.prod(shape)),
                 len(boundary), result.wall_s, tuple(round(p, 6) for p in o.prices), o.profit)
    return result
