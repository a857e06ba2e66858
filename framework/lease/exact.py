"""The exact method: the leader-follower game as one MILP on HiGHS (``docs/lease.md``).

Each follower's LP (its rows and columns of the joint model, :class:`LeaseGame`) enters
through its dual and strong duality: ``c_i(p)' x_i <= b_i' y_i - u_i' beta_i`` with
``A_i' y_i - beta_i <= c_i(p)`` (dual feasibility is linear in the prices). The bilinear
terms ``p_a Q_a,i`` (price times lease energy, lease power or metered energy) are exact
through a binary expansion of the prices on the lattice of :class:`PriceBox`,
``p_a = low_a + step_a sum_k 2^k delta_a,k``, and ``w_a,i,k = delta_a,k Q_a,i`` with its
exact McCormick rows. A binary ``z_i`` says whether microgrid ``i`` leases:

* ``z_i = 1``: strong duality and ``c_i(p)' x_i <= v_i`` (no dearer than its own battery);
* ``z_i = 0``: no lease (``e_i = q_i = 0``) and a dual certificate ``b_i' y_i - u_i'
  beta_i >= v_i`` that leasing is no cheaper than its own battery.

The big-M constants are exact bounds: ``N_i - v_i`` (no storage minus own battery) and
``v_i - V_i(p_low)``. The quantities' caps are a participant's (:func:`participant_caps`):
the most lease energy, power and metered energy, and the least operating cost, of a
response that costs no more than ``v_i`` at the lowest prices of the box (so at any), which
also bound ``i``'s payment by ``(v_i - O_i^min) z_i``; a microgrid that leases nowhere in the
box has ``z_i = 0``. The objective is the operator's profit (revenue minus station cost
minus wear; with a cycle life the station cost holds its cells' annuity over the lessees'
discharge, operator rows of the joint model that no follower's dual sees); the followers'
dispatch among their optima is the leader's choice (optimistic). A start (the search's
outcome) fixes the binaries of its prices and participants as HiGHS's first incumbent.
HiGHS certifies the gap.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from framework.errors import SolveError
from framework.lease.model import Follower, LeaseGame, Outcome, outcome
from framework.lease.search import evaluate
from framework.solve import lp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExactResult:
    """The MILP's equilibrium and its certificate.

    Attributes
    ----------
    outcome : Outcome
        At the MILP's prices with its participants: the operator's LP there
        (:func:`framework.lease.search.evaluate`), free of the MILP's tolerances.
    termination : str
        HiGHS's model status.
    profit_bound : float
        Upper bound on the profit over the lattice (HiGHS's dual bound).
    gap : float
        Relative gap ``(bound - profit) / max(1, |profit|)``.
    columns, rows, binaries : int
        Size of the MILP.
    wall_s : float
    """

    outcome: Outcome
    termination: str
    profit_bound: float
    gap: float
    columns: int
    rows: int
    binaries: int
    wall_s: float


class _Builder:
    """Columns and rows of the MILP, appended block by block."""

    def __init__(self) -> None:
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.rows: list[sp.coo_array] = []
        self.row_lower: list[np.ndarray] = []
        self.row_upper: list[np.ndarray] = []
        self.shift: list[tuple[int, float]] = []  # (column, value) added to the cost
        self.n = 0

    def columns(self, lower: np.ndarray, upper: np.ndarray, cost: np.ndarray | None = None,
                integer: bool = False) -> np.ndarray:
        lower = np.asarray(lower, dtype=float)
        k = lower.size
        self.lower.append(lower)
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (k,)).copy())
        self.cost.append(np.zeros(k) if cost is None else np.asarray(cost, dtype=float))
        self.integer.append(np.full(k, integer))
        self.n += k
        return np.arange(self.n - k, self.n)

    def add(self, entries: list[tuple[int, int, float]], n_rows: int, lower: np.ndarray,
            upper: np.ndarray) -> None:
        """Rows given as ``(row, column, value)`` triplets (row numbers local to the block)."""
        r, c, v = (np.array(a) for a in zip(*entries)) if entries else ([], [], [])
        self.rows.append((np.asarray(r, dtype=int), np.asarray(c, dtype=int),
                          np.asarray(v, dtype=float), n_rows))
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), (n_rows,)))
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), (n_rows,)))

    def objective(self) -> np.ndarray:
        cost = np.concatenate(self.cost)
        for c, v in self.shift:
            cost[c] += v
        return cost

    def matrix(self) -> sp.csr_array:
        rs, cs, vs, offset = [], [], [], 0
        for r, c, v, k in self.rows:
            rs.append(r + offset)
            cs.append(c)
            vs.append(v)
            offset += k
        return sp.csr_array((np.concatenate(vs), (np.concatenate(rs), np.concatenate(cs))),
                            shape=(offset, self.n))


def _triplets(matrix: sp.spmatrix, rows: np.ndarray, cols: np.ndarray
              ) -> list[tuple[int, int, float]]:
    coo = sp.coo_array(matrix)
    return list(zip(rows[coo.row].tolist(), cols[coo.col].tolist(), coo.data.tolist()))


def _expansion(b: _Builder, game: LeaseGame) -> tuple[np.ndarray, list[np.ndarray]]:
    """Price columns ``p_a`` and their bits ``delta_a,k``: ``p_a - step_a sum_k 2^k
    delta_a,k = low_a`` and ``sum_k 2^k delta_a,k <= levels_a - 1``."""
    box = game.box
    price = b.columns(np.array([box.bounds(a)[0] for a in range(3)]),
                      np.array([box.bounds(a)[1] for a in range(3)]))
    bits = []
    for a in range(3):
        n = box.size(a)
        k = math.ceil(math.log2(n)) if n > 1 else 0
        delta = b.columns(np.zeros(k), 1.0, integer=True)
        bits.append(delta)
        if k:
            weights = 2.0 ** np.arange(k)
            b.add([(0, price[a], 1.0)] + [(0, d, -box.step(a) * w)
                                          for d, w in zip(delta, weights)]
                  + [(1, d, w) for d, w in zip(delta, weights)], 2,
                  np.array([box.bounds(a)[0], -np.inf]), np.array([box.bounds(a)[0], n - 1]))
    return price, bits


def participant_caps(game: LeaseGame, i: int) -> np.ndarray | None:
    """What a participant can lease: ``[e_max, q_max, M_max, O_min, V_i(p_low)]``, the most
    lease energy, lease power and metered energy (kWh/yr) and the least operating cost of
    microgrid ``i``'s responses whose cost at the lowest prices is at most ``v_i`` (a
    participant's at any prices of the box: the price terms are >= 0), and its least cost at
    the lowest prices; ``None`` when it leases at no price of the box."""
    follower = Follower(game, i)
    low = tuple(game.box.bounds(a)[0] for a in range(3))
    floor = follower.value(low)  # type: ignore[arg-type]
    budget = float(game.standalone[i]) + game.tol(i)
    if floor > budget:
        return None
    cols, h = follower.cols, follower.h
    index = np.arange(cols.size, dtype=np.int32)
    h.addRow(-lp.INF, budget, cols.size, index, game.price_cost(i, low)[cols])  # type: ignore[arg-type]
    targets = [-(cols == game.lease_energy[i]).astype(float),
               -(cols == game.lease_power[i]).astype(float), -game.throughput[cols],
               game.operating[cols]]
    out = []
    for target in targets:
        h.changeColsCost(cols.size, index, target)
        if lp.run(h) != lp.Status.kOptimal:
            raise SolveError(f"lease exact: the caps of microgrid {game.names[i]!r} ended with "
                             f"'{h.modelStatusToString(h.getModelStatus())}'")
        out.append(float(h.getInfo().objective_function_value))
    most = -np.array(out[:3])
    least = out[3] - 1e-7 * abs(out[3]) - 1e-6
    return np.array([*(most + 1e-7 * most + 1e-6), least, floor])


def build_milp(game: LeaseGame) -> tuple[_Builder, np.ndarray, np.ndarray, list[np.ndarray]]:
    """The MILP (see the module docstring): the builder, the price columns, ``z`` and the
    price bits."""
    b = _Builder()
    x = b.columns(game.col_lower, game.col_upper,
                  game.station_cost + game.wear_per_kwh * game.throughput)
    b.integer[-1] = game.integer.copy()
    b.add(_triplets(game.matrix, np.arange(game.matrix.shape[0]), x),
          game.matrix.shape[0], game.row_lower, game.row_upper)
    price, bits = _expansion(b, game)
    caps = [participant_caps(game, i) for i in range(game.n)]
    z = b.columns(np.zeros(game.n), [0.0 if c is None else 1.0 for c in caps], integer=True)
    box = game.box
    low = np.array([box.bounds(a)[0] for a in range(3)])
    steps = np.array([box.step(a) for a in range(3)])
    for i in range(game.n):
        cols, rows = game.cols(i), game.rows(i)
        if np.any(np.isfinite(game.col_lower[cols]) & (game.col_lower[cols] != 0)):
            raise SolveError("lease exact: a follower's column has a lower bound other than "
                             "0 or none, which the dual does not state")
        sub = game.matrix[rows][:, cols]
        lower, upper = game.row_lower[rows], game.row_upper[rows]
        # dual of follower i: y_r >= 0 on >= rows, <= 0 on <= rows, free on equalities
        y = b.columns(np.where(np.isfinite(lower), np.where(np.isfinite(upper), -np.inf, 0.0),
                               -np.inf),
                      np.where(np.isfinite(upper), np.where(np.isfinite(lower), np.inf, 0.0),
                               np.inf))
        rhs = np.where(np.isfinite(lower), lower, upper)
        ub = game.col_upper[cols]
        finite = np.flatnonzero(np.isfinite(ub))
        beta = b.columns(np.zeros(finite.size), np.inf)
        # dual feasibility, one row per column j of i: A_j' y - beta_j <= c0_j + prices
        entries = _triplets(sub.T, np.arange(cols.size), y)
        entries += [(int(j), int(c), -1.0) for j, c in zip(finite, beta)]
        at = {int(game.lease_energy[i]): 0, int(game.lease_power[i]): 1}
        for j, col in enumerate(cols):
            if int(col) in at:
                entries.append((j, int(price[at[int(col)]]), -1.0))
            if game.throughput[col]:
                entries.append((j, int(price[2]), -float(game.throughput[col])))
        free_col = ~np.isfinite(game.col_lower[cols])
        b.add(entries, cols.size, np.where(free_col, game.operating[cols], -np.inf),
              game.operating[cols])
        # the price terms p_a Q_a,i: Q = e_i, q_i and the metered energy, exactly
        v_i, tol = float(game.standalone[i]), game.tol(i)
        cap = np.array([0.0, 0.0, 0.0, v_i, v_i]) if caps[i] is None else caps[i]
        q_max = cap[:3]
        quantity = [[(int(game.lease_energy[i]), 1.0)], [(int(game.lease_power[i]), 1.0)],
                    [(int(c), float(game.throughput[c])) for c in cols if game.throughput[c]]]
        pay: list[tuple[int, float]] = []  # revenue from i = sum of these terms
        for a in range(3):
            pay += [(c, low[a] * v) for c, v in quantity[a]] if low[a] else []
            if not bits[a].size:
                continue
            w = b.columns(np.zeros(bits[a].size), q_max[a])
            for d, wk, weight in zip(bits[a], w, 2.0 ** np.arange(bits[a].size)):
                pay.append((int(wk), steps[a] * weight))
                b.add([(0, wk, 1.0)] + [(0, c, -v) for c, v in quantity[a]]
                      + [(1, wk, 1.0), (1, d, -q_max[a])]
                      + [(2, wk, -1.0), (2, d, q_max[a])] + [(2, c, v) for c, v in quantity[a]],
                      3, -np.inf, np.array([0.0, 0.0, q_max[a]]))
        b.shift += [(c, -v) for c, v in pay]  # the operator's objective: minus revenue
        big = max(float(game.no_storage[i]) - v_i, 0.0) + 1e-3 * max(1.0, abs(v_i))
        big_dual = max(v_i - cap[4], 0.0) + 1e-3 * max(1.0, abs(v_i))
        primal = [(int(c), float(game.operating[c])) for c in cols if game.operating[c]] + pay
        dual = [(int(c), float(r)) for c, r in zip(y, rhs) if r] + \
            [(int(c), -float(u)) for c, u in zip(beta, ub[finite]) if u]
        b.add([(0, c, v) for c, v in primal] + [(0, c, -v) for c, v in dual] + [(0, z[i], big)]
              + [(1, c, v) for c, v in primal] + [(1, z[i], big)]
              + [(2, c, v) for c, v in dual] + [(2, z[i], big_dual)]
              + [(3, int(game.lease_energy[i]), 1.0), (3, z[i], -q_max[0])]
              + [(4, int(game.lease_power[i]), 1.0), (4, z[i], -q_max[1])]
              + [(5, c, v) for c, v in pay] + [(5, z[i], -max(v_i + tol - cap[3], 0.0))], 6,
              np.array([-np.inf, -np.inf, v_i, -np.inf, -np.inf, -np.inf]),
              np.array([big, v_i + big, np.inf, 0.0, 0.0, 0.0]))
    return b, price, z, bits


def start_values(game: LeaseGame, start: Outcome, z: np.ndarray, bits: list[np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The binaries of ``start`` (its prices' bits and its participants) as a partial
    solution, ``(columns, values)``: HiGHS completes it with the binaries fixed, which is
    the operator's LP at those prices, and starts from it."""
    box = game.box
    cols, values = [z], [start.participates.astype(float)]
    for a in range(3):
        if bits[a].size:
            k = round((start.prices[a] - box.bounds(a)[0]) / box.step(a))
            cols.append(bits[a])
            values.append(((k >> np.arange(bits[a].size)) & 1).astype(float))
    return np.concatenate(cols).astype(np.int32), np.concatenate(values)


def solve_exact(game: LeaseGame, *, time_limit_s: float | None = None,
                mip_rel_gap: float = 1e-6, start: Outcome | None = None) -> ExactResult:
    """Solve the single-level MILP on the lattice of ``game.box``.

    Returns the operator's best prices with the outcome there; when its profit is not
    positive the operator offers nothing and the outcome is "no one leases" (profit 0).

    Parameters
    ----------
    time_limit_s, mip_rel_gap
        HiGHS's limits.
    start : Outcome, optional
        A market outcome at lattice prices (the search's) given to HiGHS as its first
        incumbent.

    Raises
    ------
    SolveError
        If HiGHS ends without a feasible solution.
    """
    began = time.perf_counter()
    b, price, z, bits = build_milp(game)
    matrix = b.matrix()
    integer = np.concatenate(b.integer)
    h = lp.new_highs()
    lp.pass_model(h, b.objective(), np.concatenate(b.lower), np.concatenate(b.upper),
                  matrix, np.concatenate(b.row_lower), np.concatenate(b.row_upper), integer)
    if start is not None and start.participates.any():
        cols, values = start_values(game, start, z, bits)
        h.setSolution(cols.size, cols, values)
    log.info("lease exact: MILP of %d columns (%d binary), %d rows", b.n, int(integer.sum()),
             matrix.shape[0])
    status = lp.run(h, time_limit_s, mip_rel_gap)
    if not lp.has_solution(h):
        raise SolveError(f"lease exact: HiGHS ended with '{h.modelStatusToString(status)}' "
                         f"without a solution")
    info = h.getInfo()
    sol = np.asarray(h.getSolution().col_value)
    box = game.box
    prices = box.prices(tuple(round((sol[price[a]] - box.bounds(a)[0]) / box.step(a))
                              if box.step(a) else 0 for a in range(3)))
    participates = sol[z] > 0.5
    profit, bound = -float(info.objective_function_value), -float(info.mip_dual_bound)
    found = evaluate(game, prices, participates=participates)  # clean of the MILP's tolerances
    if profit <= 0:
        found = outcome(game, prices, np.zeros(game.n, bool), None)
    gap = max(bound - max(profit, 0.0), 0.0) / max(1.0, abs(profit))
    result = ExactResult(found, h.modelStatusToString(status), max(bound, 0.0), gap, b.n,
                         matrix.shape[0], int(integer.sum()), time.perf_counter() - began)
    log.info("lease exact: %s in %.1f s; prices %s, profit %.6g, bound %.6g", result.termination,
             result.wall_s, tuple(round(p, 6) for p in prices), found.profit, result.profit_bound)
    return result
