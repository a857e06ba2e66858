"""Allocation rules for a cost game and the checks of an allocation (no solver but small LPs).

A cost game is a mapping ``{frozenset of players: cost}``: ``c(C)`` is what coalition ``C``
pays when it cooperates (here: the annual cost of ``C`` sharing the system's station, an
``accounts`` one by default; see :mod:`framework.game.values`), ``c(N)`` the
grand coalition's cost. An allocation ``x`` splits ``c(N)`` among the players. For a cost
game the excess of a coalition is ``e(C, x) = x(C) - c(C)`` with ``x(C) = sum_{i in C} x_i``:
positive when ``C`` pays more together in ``x`` than on its own. The core is
``{x : x(N) = c(N), x(C) <= c(C) for every C}``; the saving of player ``i`` is
``c({i}) - x_i``. Every function here is pure: players are named, allocations are dicts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from framework.errors import InputError
from framework.solve import lp

log = logging.getLogger(__name__)

Coalition = frozenset[str]
Game = Mapping[Coalition, float]
Allocation = dict[str, float]


def players_of(game: Game, players: Sequence[str] | None = None) -> tuple[str, ...]:
    """The players of ``game``: ``players`` if given (checked), else the largest coalition's
    members in sorted order."""
    if not game:
        raise InputError("game: expected at least one coalition value, got none")
    grand = max(game, key=len)
    if players is None:
        return tuple(sorted(grand))
    if frozenset(players) != grand or len(set(players)) != len(players):
        raise InputError(f"players: expected the grand coalition {sorted(grand)}, "
                         f"got {list(players)}")
    return tuple(players)


def _label(coalition: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(coalition)) + "}"


def _table(game: Game, players: Sequence[str]) -> np.ndarray:
    """``c`` as an array indexed by bit mask (bit ``j`` = player ``players[j]``), ``c(0) = 0``."""
    n = len(players)
    table = np.full(2 ** n, np.nan)
    table[0] = 0.0
    bit = {p: 1 << j for j, p in enumerate(players)}
    for coalition, value in game.items():
        if coalition:
            table[sum(bit[p] for p in coalition)] = float(value)
    missing = np.flatnonzero(np.isnan(table))
    if missing.size:
        first = [p for j, p in enumerate(players) if missing[0] >> j & 1]
        raise InputError(f"game: {missing.size} coalition value(s) missing, for example "
                         f"{_label(first)}; this rule needs all 2^n - 1 coalitions")
    return table


def _masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every proper non-empty coalition as a bit mask, and the 0/1 membership matrix."""
    masks = np.arange(1, 2 ** n - 1)
    member = (masks[:, None] >> np.arange(n)[None, :]) & 1
    return masks, member.astype(float)


def _coalition(mask: int, players: Sequence[str]) -> Coalition:
    return frozenset(p for j, p in enumerate(players) if mask >> j & 1)


def shapley(game: Game, players: Sequence[str] | None = None) -> Allocation:
    """Exact Shapley value.

    ``phi_i = sum_{C not containing i} |C|! (n - |C| - 1)! / n! * (c(C + i) - c(C))``:
    each player's marginal cost averaged over all orders in which the coalition forms.
    Needs every coalition value; ``O(n 2^n)``.
    """
    players = players_of(game, players)
    n = len(players)
    table = _table(game, players)
    masks = np.arange(2 ** n)
    sizes = np.array([int(m).bit_count() for m in masks])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                       if s < n else 0.0 for s in range(n + 1)])
    out = {}
    for j, p in enumerate(players):
        without = masks[(masks >> j & 1) == 0]
        out[p] = float(np.sum(weight[sizes[without]] * (table[without | 1 << j]
                                                         - table[without])))
    return out


@dataclass(frozen=True)
class SampledShapley:
    """A Monte Carlo estimate of the Shapley value from random orders of the players.

    Attributes
    ----------
    estimate : dict
        Mean marginal cost of each player over the sampled orders (efficient: the estimates
        sum to ``c(N)`` exactly, since each order's marginal costs do).
    std_error : dict
        Standard error of each estimate, ``s_i / sqrt(m)`` (``s_i``: sample standard
        deviation of ``i``'s samples, ``m``: number of samples: the orders, or with
        stratified orders the groups of ``n`` (:func:`draw_orders`), each group's mean one
        sample).
    ci_low, ci_high : dict
        Confidence interval ``estimate -+ q * std_error``, ``q`` the normal quantile
        ``Phi^-1((1 + confidence) / 2)`` (or Student's with ``m - 1`` degrees of freedom,
        :func:`summarize`); it shrinks as ``1 / sqrt(m)``.
    n_permutations, seed : int
        Orders used and their seed.
    confidence : float
    stratified : bool
        Whether the orders came in stratified groups (:func:`draw_orders`).
    """

    estimate: Allocation
    std_error: Allocation
    ci_low: Allocation
    ci_high: Allocation
    n_permutations: int
    seed: int
    confidence: float
    stratified: bool = False


def draw_orders(rng: np.random.Generator, players: Sequence[str], count: int,
                stratified: bool = False) -> list[tuple[str, ...]]:
    """``count`` random orders of ``players`` from ``rng``.

    With ``stratified`` (``count`` a multiple of ``n``) they come in groups of ``n``, the
    rows of a random Latin square: with random permutations ``sigma``, ``rho`` of
    ``0..n-1``, order ``s`` puts player ``j`` at position ``rho[(sigma[j] + s) mod n]``.
    Each order is uniformly random, and within a group each player takes each position
    exactly once: stratified sampling by position (the size of the coalition a player
    joins), one draw per stratum (:func:`latin_group`).
    """
    n = len(players)
    if not stratified:
        return [tuple(players[j] for j in rng.permutation(n)) for _ in range(count)]
    out = []
    for _ in range(count // n):
        out += latin_group(players, rng.permutation(n), rng.permutation(n))
    return out


def latin_group(players: Sequence[str], sigma: Sequence[int], rho: Sequence[int]
                ) -> list[tuple[str, ...]]:
    """The ``n`` orders of :func:`draw_orders`' group ``(sigma, rho)``: order ``s`` has
    player ``j`` at position ``rho[(sigma[j] + s) mod n]``."""
    n = len(players)
    out = []
    for s in range(n):
        order = [""] * n
        for j, p in enumerate(players):
            order[rho[(sigma[j] + s) % n]] = p
        out.append(tuple(order))
    return out


def sample_permutations(players: Sequence[str], n_permutations: int, seed: int,
                        stratified: bool = False) -> list[tuple[str, ...]]:
    """``n_permutations`` random orders of ``players`` from ``numpy.random.default_rng(seed)``
    (:func:`draw_orders`)."""
    if n_permutations < 2:
        raise InputError(f"n_permutations: expected at least 2, got {n_permutations}")
    if stratified and n_permutations % len(players):
        raise InputError(f"n_permutations: expected a multiple of the {len(players)} players "
                         f"with stratified orders (groups of n), got {n_permutations}")
    return draw_orders(np.random.default_rng(seed), players, n_permutations, stratified)


def permutation_coalitions(orders: Iterable[Sequence[str]]) -> set[Coalition]:
    """The coalitions whose cost the sampled Shapley value of these orders needs (prefixes)."""
    return {frozenset(order[:k]) for order in orders for k in range(1, len(order) + 1)}


def marginal_costs(cost: Callable[[Coalition], float], players: Sequence[str],
                   orders: Sequence[Sequence[str]]) -> np.ndarray:
    """``(orders, players)`` array of ``c(P_i + i) - c(P_i)`` (``P_i``: the players before
    ``i`` in the order); ``cost`` is asked once per prefix, never for the empty set."""
    index = {p: j for j, p in enumerate(players)}
    out = np.empty((len(orders), len(players)))
    for r, order in enumerate(orders):
        before = 0.0
        for k, p in enumerate(order):
            now = float(cost(frozenset(order[:k + 1])))
            out[r, index[p]] = now - before
            before = now
    return out


def shapley_samples(marginal: np.ndarray, stratified: bool) -> np.ndarray:
    """The independent samples of :func:`marginal_costs`: one per order, or with stratified
    orders (consecutive groups of ``n``, :func:`draw_orders`) the mean of each group."""
    if not stratified:
        return marginal
    n = marginal.shape[1]
    return marginal.reshape(-1, n, n).mean(axis=1)


def summarize(samples: np.ndarray, players: Sequence[str], n_permutations: int, seed: int,
              confidence: float, stratified: bool, student: bool = False) -> SampledShapley:
    """Mean, standard error and confidence interval of the samples (rows): normal, or with
    ``student`` Student's t with ``m - 1`` degrees of freedom (valid for few samples)."""
    if not 0 < confidence < 1:
        raise InputError(f"confidence: expected a value in (0, 1), got {confidence}")
    m = samples.shape[0]
    mean = samples.mean(axis=0)
    se = (samples.std(axis=0, ddof=1) / math.sqrt(m) if m > 1
          else np.full(len(players), math.inf))
    if student and m > 1:
        from scipy import stats  # here only: scipy.stats loads slowly

        q = float(stats.t.ppf(0.5 + confidence / 2, m - 1))
    else:
        q = NormalDist().inv_cdf(0.5 + confidence / 2)

    def named(a: np.ndarray) -> Allocation:
        return {p: float(a[j]) for j, p in enumerate(players)}

    return SampledShapley(named(mean), named(se), named(mean - q * se), named(mean + q * se),
                          n_permutations, seed, confidence, stratified)


def sampled_shapley(game: Game | Callable[[Coalition], float], players: Sequence[str],
                    n_permutations: int, seed: int, confidence: float = 0.95,
                    stratified: bool = False) -> SampledShapley:
    """Shapley value estimated from ``n_permutations`` random orders of the players.

    For each order ``pi``, player ``i`` costs ``c(P_i + i) - c(P_i)`` (``P_i``: the players
    before ``i``); the estimate is the mean over orders. ``game`` is a mapping or a function
    of a coalition; only the prefixes of the sampled orders are looked up
    (:func:`permutation_coalitions`), so larger games need not be solved in full. With
    ``stratified`` the orders come in groups where each player takes each position once
    (:func:`draw_orders`), each group's mean one sample (:mod:`framework.game.sampling`
    measures the variance saved).
    """
    value = game if callable(game) else game.__getitem__
    orders = sample_permutations(players, n_permutations, seed, stratified)
    cache: dict[Coalition, float] = {}

    def cost(c: Coalition) -> float:
        if c not in cache:
            cache[c] = float(value(c))
        return cache[c]

    samples = shapley_samples(marginal_costs(cost, players, orders), stratified)
    return summarize(samples, players, n_permutations, seed, confidence, stratified)


def _solve_lp(cost: np.ndarray, rows: np.ndarray, row_lo: np.ndarray, row_hi: np.ndarray,
              col_lo: np.ndarray, col_hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``min cost @ z`` s.t. ``row_lo <= rows @ z <= row_hi``, ``col_lo <= z <= col_hi``
    (HiGHS); returns the solution and the row duals."""
    h = lp.new_highs()
    lp.pass_model(h, cost, col_lo, col_hi, rows, row_lo, row_hi)
    status = lp.run(h)
    if status != lp.Status.kOptimal:
        raise RuntimeError(f"allocation LP ended with '{h.modelStatusToString(status)}'")
    sol = h.getSolution()
    return np.array(sol.col_value), np.array(sol.row_dual)


@dataclass(frozen=True)
class LeastCore:
    """The least core: ``epsilon = min max_{C proper} (x(C) - c(C))`` over efficient ``x``.

    Attributes
    ----------
    epsilon : float
        ``<= 0``: the core is non-empty (every coalition saves at least ``-epsilon`` more
        than it would alone at some allocation); ``> 0``: the core is empty and ``epsilon``
        is the smallest uniform penalty on leaving that makes it non-empty.
    allocation : dict
        The point of the least core closest to the Shapley value in the sum of absolute
        deviations (an LP; the Shapley value itself when it lies in the least core).
    """

    epsilon: float
    allocation: Allocation


def _scale(table: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(table))))


def least_core(game: Game, players: Sequence[str] | None = None) -> LeastCore:
    """Least core value and one allocation in it (see :class:`LeastCore`).

    ``epsilon = min t`` s.t. ``x(C) - c(C) <= t`` for every proper non-empty ``C`` and
    ``x(N) = c(N)``; then ``min sum_i |x_i - phi_i|`` over that set with ``t = epsilon``.
    """
    players = players_of(game, players)
    n = len(players)
    table = _table(game, players)
    if n == 1:
        return LeastCore(0.0, {players[0]: float(table[1])})
    s = _scale(table)
    c = table / s
    masks, member = _masks(n)
    grand = c[2 ** n - 1]
    # variables: x (n), t
    rows = np.vstack([np.hstack([member, -np.ones((len(masks), 1))]),
                      np.hstack([np.ones((1, n)), np.zeros((1, 1))])])
    lo = np.concatenate([np.full(len(masks), -np.inf), [grand]])
    hi = np.concatenate([c[masks], [grand]])
    z, _ = _solve_lp(np.r_[np.zeros(n), 1.0], rows, lo, hi, np.full(n + 1, -np.inf),
                     np.full(n + 1, np.inf))
    eps = float(z[n])
    phi = np.array([v / s for v in shapley(game, players).values()])
    # variables: x (n), d (n) with d >= |x - phi|
    eye = np.eye(n)
    rows = np.vstack([np.hstack([member, np.zeros((len(masks), n))]),
                      np.hstack([np.ones((1, n)), np.zeros((1, n))]),
                      np.hstack([eye, -eye]), np.hstack([-eye, -eye])])
    lo = np.concatenate([np.full(len(masks), -np.inf), [grand], np.full(2 * n, -np.inf)])
    hi = np.concatenate([c[masks] + eps + 1e-9, [grand], phi, -phi])
    z, _ = _solve_lp(np.r_[np.zeros(n), np.ones(n)], rows, lo, hi, np.full(2 * n, -np.inf),
                     np.full(2 * n, np.inf))
    return LeastCore(eps * s, {p: float(z[j] * s) for j, p in enumerate(players)})


def nucleolus(game: Game, players: Sequence[str] | None = None,
              imputations: bool | None = None) -> Allocation:
    """The nucleolus: the allocation that lexicographically minimises the sorted excesses.

    Sequence of LPs (Maschler, Peleg and Shapley): stage ``k`` solves ``t_k = min t`` s.t.
    ``x(N) = c(N)``, ``x(C) - c(C) = t_j`` for every coalition fixed at an earlier stage
    ``j``, ``x(C) - c(C) <= t`` for every free coalition (and ``x_i <= c({i})`` on the
    imputation set). A free coalition is fixed at ``t_k`` when its excess is ``t_k`` in
    *every* optimum of stage ``k``: when its row dual is non-zero, or else when
    ``min x(C) - c(C)`` over the optimal face (``t = t_k``) is still ``t_k``. Coalitions
    whose membership vector is a combination of fixed ones leave the free set; the stages
    end when the fixed coalitions determine ``x`` (rank ``n``), which is solved for exactly.

    Parameters
    ----------
    imputations : bool, optional
        Restrict to imputations (``x_i <= c({i})``); default: whenever that set is not empty
        (``sum_i c({i}) >= c(N)``), else the pre-nucleolus (no such bound) with a warning.
        For a game with a non-empty core both are the same point, in the core.
    """
    players = players_of(game, players)
    n = len(players)
    table = _table(game, players)
    s = _scale(table)
    c = table / s
    singles = np.array([c[1 << j] for j in range(n)])
    if imputations is None:
        imputations = bool(singles.sum() >= c[-1] - 1e-12)
        if not imputations:
            log.warning("nucleolus: no imputation (sum of standalone costs below c(N)); "
                        "returning the pre-nucleolus")
    tol = 1e-7
    masks, member = _masks(n)
    fixed_rows = [np.ones(n)]
    fixed_rhs = [c[-1]]
    free = list(range(len(masks)))
    col_hi = np.r_[singles if imputations else np.full(n, np.inf), np.inf]
    col_lo = np.full(n + 1, -np.inf)
    while free and np.linalg.matrix_rank(np.array(fixed_rows), tol=1e-9) < n:
        rows = np.vstack([np.hstack([np.array(fixed_rows), np.zeros((len(fixed_rows), 1))]),
                          np.hstack([member[free], -np.ones((len(free), 1))])])
        eq = np.array(fixed_rhs)
        lo = np.concatenate([eq, np.full(len(free), -np.inf)])
        hi = np.concatenate([eq, c[masks[free]]])
        z, dual = _solve_lp(np.r_[np.zeros(n), 1.0], rows, lo, hi, col_lo, col_hi)
        t = z[n]
        excess = member[free] @ z[:n] - c[masks[free]]
        tight = [k for k, e in enumerate(excess) if e >= t - tol]
        new = [k for k in tight if abs(dual[len(fixed_rows) + k]) > tol]
        # the optimal face t <= t_k, with HiGHS's feasibility tolerance: fixed exactly at
        # t_k it can be infeasible in floating point (weights 0, 1, 4, 2e-13 of sqrt games)
        face_hi = col_hi.copy()
        face_hi[n] = t + tol
        for k in tight:
            if k in new:
                continue
            cost = np.r_[member[free[k]], 0.0]
            zk, _ = _solve_lp(cost, rows, lo, hi, col_lo, face_hi)
            if member[free[k]] @ zk[:n] - c[masks[free[k]]] >= t - tol:
                new.append(k)
        if not new:  # numerical safety: the theory guarantees one coalition tight everywhere
            new = tight
        # only rows that raise the rank: a dependent one is implied by the others, and its
        # right-hand side, equal in exact arithmetic, would make the next stage infeasible
        # in floating point
        rank = np.linalg.matrix_rank(np.array(fixed_rows), tol=1e-9)
        for k in new:
            if np.linalg.matrix_rank(np.vstack([*fixed_rows, member[free[k]]]), tol=1e-9) > rank:
                fixed_rows.append(member[free[k]])
                fixed_rhs.append(c[masks[free[k]]] + t)
                rank += 1
        basis = np.array(fixed_rows)
        free = [f for f in free if np.linalg.matrix_rank(np.vstack([basis, member[f]]),
                                                         tol=1e-9) > rank]
    x, *_ = np.linalg.lstsq(np.array(fixed_rows), np.array(fixed_rhs), rcond=None)
    return {p: float(x[j] * s) for j, p in enumerate(players)}


def proportional(game: Game, weights: Mapping[str, float],
                 players: Sequence[str] | None = None) -> Allocation:
    """Split the saving ``S = sum_i c({i}) - c(N)`` in proportion to ``weights`` (>= 0).

    ``x_i = c({i}) - S * w_i / sum_j w_j``; an equal split when every weight is 0.
    """
    players = players_of(game, players)
    bad = [p for p in players if not (weights.get(p, -1.0) >= 0)]
    if bad:
        raise InputError(f"weights: expected a number >= 0 for every player, missing or "
                         f"negative for {bad}")
    alone = {p: float(game[frozenset([p])]) for p in players}
    saving = sum(alone.values()) - float(game[frozenset(players)])
    total = sum(weights[p] for p in players)
    share = {p: (weights[p] / total if total > 0 else 1.0 / len(players)) for p in players}
    return {p: alone[p] - saving * share[p] for p in players}


def proportional_to_standalone(game: Game, players: Sequence[str] | None = None
                               ) -> Allocation:
    """The saving split in proportion to ``|c({i})|``.

    With every standalone cost positive this is ``x_i = c(N) * c({i}) / sum_j c({j})``;
    the magnitude keeps the rule defined when a player's standalone cost is negative (a net
    revenue, for a microgrid that exports more than it buys).
    """
    players = players_of(game, players)
    return proportional(game, {p: abs(float(game[frozenset([p])])) for p in players}, players)


def savings(game: Game, allocation: Mapping[str, float]) -> Allocation:
    """Each player's saving against standing alone: ``c({i}) - x_i``."""
    return {p: float(game[frozenset([p])]) - float(x) for p, x in allocation.items()}


@dataclass(frozen=True)
class AllocationCheck:
    """Efficiency, individual rationality and core membership of an allocation.

    Attributes
    ----------
    efficiency_gap : float
        ``x(N) - c(N)`` (0 for an efficient allocation).
    individually_rational : bool
        ``x_i <= c({i})`` for every player (nobody pays more than alone).
    in_core : bool
        Efficient and ``x(C) <= c(C)`` for every coalition checked.
    max_excess : float
        ``max_C x(C) - c(C)`` over the proper coalitions checked.
    most_violated : frozenset or None
        The coalition with that excess when it is positive (beyond the tolerance).
    checked : int
        Number of proper coalitions checked (all ``2^n - 2`` for a full game).
    """

    efficiency_gap: float
    individually_rational: bool
    in_core: bool
    max_excess: float
    most_violated: Coalition | None
    checked: int


def check_allocation(game: Game, allocation: Mapping[str, float],
                     rel_tol: float = 1e-6) -> AllocationCheck:
    """Check ``allocation`` against every coalition in ``game`` (see :class:`AllocationCheck`).

    The tolerance is ``rel_tol * max(1, max_C |c(C)|)`` in the game's unit.
    """
    players = players_of(game, list(allocation))
    grand = frozenset(players)
    tol = rel_tol * max(1.0, max(abs(float(v)) for v in game.values()))
    gap = sum(allocation.values()) - float(game[grand])
    proper = [(c, sum(allocation[p] for p in c) - float(v)) for c, v in game.items()
              if c and c != grand]
    worst, excess = max(proper, key=lambda item: item[1], default=(None, -math.inf))
    rational = all(allocation[p] <= float(game[frozenset([p])]) + tol for p in players
                   if frozenset([p]) in game)
    violated = worst if excess > tol else None
    return AllocationCheck(float(gap), rational, abs(gap) <= tol and violated is None,
                           float(excess), violated, len(proper))


def core_is_empty(game: Game, players: Sequence[str] | None = None,
                  rel_tol: float = 1e-7) -> bool:
    """Whether the core is empty: the least core value is positive (beyond the tolerance)."""
    eps = least_core(game, players).epsilon
    return eps > rel_tol * max(1.0, max(abs(float(v)) for v in game.values()))
