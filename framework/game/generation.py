"""Least core, nucleolus and core check by constraint generation: no enumeration of coalitions.

The enumeration rules of :mod:`framework.game.rules` need all ``2^n - 1`` coalition values.
Here a master LP holds only the coalitions found so far, and an exact separation finds the
coalition with the largest excess for the master's allocation (by Lagrangian cuts,
:mod:`framework.game.cuts`, the default, or one MILP over the grand coalition's model,
:mod:`framework.game.separation`); its exact value ``v(C)`` is solved as an LP
(:func:`framework.game.values.coalition_values`: cached, spread over MPI ranks) and added to
the master, until the separation's bound proves that no coalition is violated. Every singleton and the grand coalition are solved up front (a singleton has
its own battery, so it is checked against ``v({i})`` directly, never by the separation).

* :func:`least_core_generation`: ``min eps`` s.t. ``x(N) = v(N)``, ``x_i <= v({i}) + eps``,
  ``x(C) <= v(C) + eps`` for the coalitions generated; then the point of that least core
  nearest a reference allocation (L1), again with generation.
* :func:`nucleolus_generation`: the sequence of LPs of :func:`framework.game.rules.nucleolus`
  (same imputation set, same scaling), each stage with generation; a coalition is fixed when
  its row dual is non-zero (tight in every optimum of the stage).
* :func:`core_check_generation`: the certified largest excess of any allocation.

A run that stops at a time or iteration limit is not certified; it reports what it proved:
the master's value is a lower bound (a relaxation), the largest excess of the master's
allocation, bounded by the separation's bound, an upper bound.

MPI: every rank calls these functions; rank 0 solves the master LPs; with two ranks or more
each separation is split in two halves (the coalitions without and with one microgrid),
rank 0 and rank 1 solving one each at the same time; the coalition values are solved on
all ranks; the result is the same on every rank.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from framework.errors import InputError, SolveError
from framework.game import rules as r
from framework.game.cuts import CutSeparator
from framework.game.dual import dual_allocation
from framework.game.separation import Separation, Separator, no_storage_costs
from framework.game.values import coalition_values, world
from framework.system import System

log = logging.getLogger(__name__)

Coalition = frozenset[str]

#: A nucleolus stage closes when its value is proven within this fraction of the tolerance.
STAGE_PRECISION = 0.01

#: The separations: Lagrangian cuts (:mod:`framework.game.cuts`) or one MILP
#: (:class:`framework.game.separation.Separator`).
SEPARATORS = {"cuts": CutSeparator, "milp": Separator}


@dataclass(frozen=True)
class GenerationResult:
    """What a generation run found and what it proved.

    Attributes
    ----------
    rule : str
        ``least_core`` or ``nucleolus``.
    allocation : dict
        ``x_i`` (currency/yr).
    epsilon : float
        The least-core value ``min_x max_{C proper} x(C) - v(C)`` when certified; else the
        best lower bound proven (the master's value).
    epsilon_upper : float
        An upper bound on the least-core value (equal to ``epsilon`` within the tolerance
        when certified): the largest excess of an efficient allocation, bounded by the
        separation.
    certified : bool
        Whether every stage ended with the separation's proof that no coalition is violated.
    stopped : str
        ``""``, or why the run stopped early (``time limit``, ``iteration limit``).
    coalitions : list of tuple
        The coalitions of size 2 to n - 1 generated (added to a master), in order.
    solved : int
        Coalition values solved by this run (not from the cache), singletons and the grand
        coalition and the no-storage costs included.
    iterations : int
        Separations solved.
    stages : int
        Nucleolus stages (1 for the least core).
    wall_s, separation_s, values_s : float
        Wall time of the run, of the separations and of the coalition values (s).
    """

    rule: str
    allocation: dict[str, float]
    epsilon: float
    epsilon_upper: float
    certified: bool
    stopped: str
    coalitions: list[tuple[str, ...]]
    solved: int
    iterations: int
    stages: int
    wall_s: float
    separation_s: float
    values_s: float


@dataclass(frozen=True)
class CoreCheck:
    """The certified core check of one allocation.

    Attributes
    ----------
    efficiency_gap : float
        ``x(N) - v(N)``.
    max_excess : float
        Lower bound on ``max_{C proper} x(C) - v(C)``: the largest exact excess found
        (singletons and the separation's coalition, valued exactly).
    max_excess_upper : float
        Upper bound on it (the singletons and the separation's dual bound).
    most_violated : frozenset or None
        The coalition with ``max_excess`` when it exceeds the tolerance.
    individually_rational : bool
        ``x_i <= v({i})`` for every microgrid.
    in_core : bool or None
        ``True``: efficient and every excess proven at most the tolerance; ``False``: not
        efficient or a coalition violated; ``None``: undecided (the separation stopped at a
        limit with its bound above the tolerance).
    certified : bool
        Whether the separation was solved to optimality.
    solve_s : float
        Wall time (s).
    """

    efficiency_gap: float
    max_excess: float
    max_excess_upper: float
    most_violated: Coalition | None
    individually_rational: bool
    in_core: bool | None
    certified: bool
    solve_s: float


@dataclass
class _Run:
    """The state shared by the three methods: known values, the separator (rank 0, and
    rank 1 for the other half of a split search), time."""

    system: System
    scenarios: xr.Dataset
    cache_dir: Any
    comm: Any
    time_limit_s: float | None
    max_iterations: int | None
    rel_tol: float
    values: dict[Coalition, float] = field(default_factory=dict)
    generated: list[tuple[str, ...]] = field(default_factory=list)
    solved: int = 0
    iterations: int = 0
    separation_s: float = 0.0
    values_s: float = 0.0
    stopped: str = ""
    separation: str = "cuts"
    separator: Separator | CutSeparator | None = None

    def __post_init__(self) -> None:
        self.start = time.perf_counter()
        self.comm = world() if self.comm is None else self.comm
        self.root = self.comm.Get_rank() == 0
        self.players = tuple(self.system.names)
        n = len(self.players)
        start = time.perf_counter()
        base = coalition_values(self.system, self.scenarios,
                                [(p,) for p in self.players] + [self.players],
                                cache_dir=self.cache_dir, comm=self.comm)
        self.values = base.cost()
        self.solved = base.stats.solved
        if n >= 3:
            alone, stats = no_storage_costs(self.system, self.scenarios,
                                            cache_dir=self.cache_dir, comm=self.comm)
            self.solved += stats.solved
            if self.comm.Get_rank() < 2:
                self.separator = SEPARATORS[self.separation](self.system, self.scenarios,
                                                             alone)
        self.values_s = time.perf_counter() - start
        self.scale = max(1.0, max(abs(v) for v in self.values.values()))
        self.tol = self.rel_tol * self.scale

    @property
    def grand(self) -> float:
        return self.values[frozenset(self.players)]

    def single(self, p: str) -> float:
        return self.values[frozenset([p])]

    def remaining(self) -> float | None:
        if self.time_limit_s is None:
            return None
        return self.time_limit_s - (time.perf_counter() - self.start)

    def out_of_budget(self) -> bool:
        """Whether the time or iteration limit is reached (sets :attr:`stopped`)."""
        left = self.remaining()
        if left is not None and left <= 0:
            self.stopped = "time limit"
        elif self.max_iterations is not None and self.iterations >= self.max_iterations:
            self.stopped = "iteration limit"
        return bool(self.stopped)

    def separate(self, x: Mapping[str, float], level: float | None = None,
                 gap: float | None = None) -> Separation:
        """Rank 0: the separation for ``x`` within the time left (only excesses above
        ``level`` matter, see :meth:`Separator.separate`; ``gap``: its absolute gap, default
        a quarter of the tolerance). On two ranks or more the search is split: rank 0
        searches the coalitions without the split member, rank 1 those with it
        (:func:`split_member`), and the two halves are merged."""
        assert self.separator is not None
        left = self.remaining()
        limit = None if left is None else max(left, 1.0)
        gap = self.tol / 4 if gap is None else gap
        if self.comm.Get_size() == 1:
            sep = self.separator.separate(x, limit, abs_gap=gap, level=level)
        else:
            member = split_member(x, self.separator)
            self.comm.bcast(("separate", (dict(x), limit, gap, level, member)), root=0)
            own = self.separator.separate(x, limit, abs_gap=gap, level=level,
                                          fix=(member, False))
            sep = merge(own, self.comm.recv(source=1))
        self.iterations += 1
        self.separation_s += sep.solve_s
        return sep

    def exclude(self, coalitions: Sequence[Coalition]) -> None:
        """Rank 0: exclude ``coalitions`` from every later separation (on rank 1 too)."""
        if self.comm.Get_size() > 1:
            self.comm.bcast(("exclude", list(coalitions)), root=0)
        assert self.separator is not None
        self.separator.exclude(coalitions)

    def clear(self) -> None:
        """Rank 0: remove every exclusion (on rank 1 too)."""
        if self.comm.Get_size() > 1:
            self.comm.bcast(("clear", None), root=0)
        assert self.separator is not None
        self.separator.clear()

    def outside_span(self, fixed: Sequence[Coalition]) -> None:
        """Rank 0: search only outside the span of ``fixed`` from now on (on rank 1 too;
        :meth:`Separator.outside_span`)."""
        if self.comm.Get_size() > 1:
            self.comm.bcast(("span", list(fixed)), root=0)
        assert self.separator is not None
        self.separator.outside_span(fixed)

    def value(self, coalitions: Sequence[Coalition]) -> None:
        """Rank 0: solve the exact values of ``coalitions`` on every rank (the others wait
        for them in :meth:`collective`)."""
        wanted = [tuple(p for p in self.players if p in c) for c in coalitions
                  if c not in self.values]
        if self.comm.Get_size() > 1:
            self.comm.bcast(("values", wanted), root=0)
        self._solve(wanted)

    def _serve(self, kind: str, args: Any) -> None:
        """Another rank: what rank 0 asked for in :meth:`collective`."""
        if kind == "values":
            self._solve(args)
        elif self.separator is None:  # ranks 2 and up take no part in the separation
            return
        elif kind == "separate":
            x, limit, gap, level, member = args
            self.comm.send(self.separator.separate(x, limit, abs_gap=gap, level=level,
                                                   fix=(member, True)), dest=0)
        elif kind == "exclude":
            self.separator.exclude(args)
        elif kind == "span":
            self.separator.outside_span(args)
        else:
            self.separator.clear()

    def _solve(self, wanted: list[tuple[str, ...]]) -> None:
        if not wanted:
            return
        start = time.perf_counter()
        values = coalition_values(self.system, self.scenarios, wanted,
                                  cache_dir=self.cache_dir, comm=self.comm)
        self.values.update(values.cost())
        self.solved += values.stats.solved
        self.values_s += time.perf_counter() - start

    def generate(self, coalitions: Sequence[Coalition]) -> None:
        self.value(coalitions)
        self.generated += [tuple(p for p in self.players if p in c) for c in coalitions]

    def excess(self, c: Coalition, x: Mapping[str, float]) -> float:
        return sum(x[p] for p in c) - self.values[c]

    def collective(self, body: Any) -> Any:
        """Run ``body()`` on rank 0 while the other ranks solve the values it asks for (and
        rank 1 its half of each separation); returns its result (or raises its error) on
        every rank."""
        if self.comm.Get_size() == 1:
            return body()
        if self.root:
            result, error = None, None
            try:
                result = body()
            except (InputError, SolveError, RuntimeError) as err:
                error = err
            self.comm.bcast(None, root=0)
            self.comm.bcast((result, None if error is None else (type(error), str(error))),
                            root=0)
            if error is not None:
                raise error
            return result
        while (message := self.comm.bcast(None, root=0)) is not None:
            try:
                self._serve(*message)
            except (InputError, SolveError):
                pass  # rank 0 got the same error from the same solves and stops
        result, error = self.comm.bcast(None, root=0)
        if error is not None:
            raise error[0](error[1])
        return result

    def result(self, rule: str, x: Mapping[str, float], eps: float, upper: float,
               certified: bool, stages: int) -> GenerationResult:
        return GenerationResult(rule, {p: float(x[p]) for p in self.players}, float(eps),
                                float(upper), certified and not self.stopped, self.stopped,
                                list(self.generated), self.solved, self.iterations, stages,
                                time.perf_counter() - self.start, self.separation_s,
                                self.values_s)


def _separation(name: str) -> str:
    """``name`` if it is a separation (:data:`SEPARATORS`), else an :class:`InputError`."""
    if name not in SEPARATORS:
        raise InputError(f"separation: expected one of {sorted(SEPARATORS)}, got {name!r}")
    return name


def split_member(x: Mapping[str, float], separator: Separator) -> str:
    """The microgrid a split search branches on: the one whose ``x_i - c0_i`` (its weight in
    the separation's objective) is the median, so that neither half holds all the
    coalitions that pay most."""
    weight = [float(x[p]) - c for p, c in zip(separator.players, separator.no_storage)]
    return separator.players[int(np.argsort(weight)[len(weight) // 2])]


def merge(a: Separation, b: Separation) -> Separation:
    """One separation from the two halves of a split search: the better incumbent, the
    larger bound (each bounds its half), the worse status, the candidates of both; the
    wall time is the longer half's (they run at the same time)."""
    if b.excess > a.excess:
        a, b = b, a  # a: the better incumbent
    statuses = {a.status, b.status} - {"infeasible"} or {"infeasible"}  # a half can be empty
    status = next(s for s in ("time_limit", "interrupted", "violated", "optimal",
                              "infeasible")
                  if s in statuses)
    found: dict[Coalition, float] = dict(b.candidates)
    for c, e in a.candidates:
        found[c] = max(found.get(c, -math.inf), e)
    return Separation(a.coalition, a.excess, max(a.bound, b.bound), status,
                      max(a.solve_s, b.solve_s),
                      tuple(sorted(found.items(), key=lambda item: -item[1])), a.binding)


def _violated(sep: Separation, level: float, known: set[Coalition]) -> list[Coalition]:
    """The separation's coalitions, not in ``known``, whose excess is proven above ``level``
    (the incumbent's lower bound suffices; each is then valued exactly). Called with the
    master's level itself, not plus the tolerance: when the bound is above the level plus
    the tolerance but the incumbent, within the MIP gap of it, is not, the incumbent still
    goes to the master (it is new, so the generation goes on)."""
    return [c for c, e in sep.candidates if e > level and c not in known]


def _stuck(run: _Run, sep: Separation) -> None:
    """The separation proved no new coalition violated but its bound is still open: a limit
    stopped it, or the master and the separation disagree within their tolerances."""
    if sep.status in ("time_limit", "interrupted"):
        run.stopped = run.stopped or "time limit"
    else:
        log.warning("separation: bound %.9g above the master's level but no new violated "
                    "coalition; stopping uncertified", sep.bound)
        run.stopped = run.stopped or "no progress"


def least_core_generation(system: System, scenarios: xr.Dataset, *,
                          reference: Mapping[str, float] | None = None,
                          cache_dir: Any = None, comm: Any = None,
                          time_limit_s: float | None = None, max_iterations: int | None = None,
                          rel_tol: float = 1e-6, separation: str = "cuts") -> GenerationResult:
    """The least core by constraint generation (see the module docstring).

    Parameters
    ----------
    system, scenarios
        Coalitions share ``system.planning.shared_architecture``; singletons have their own
        battery.
    reference : mapping, optional
        The allocation returned is the point of the least core nearest this one in the sum
        of absolute deviations; :func:`framework.game.rules.least_core` takes the Shapley
        value (pass it, exact or sampled, to match). Default: ``proportional_cost`` (it
        needs only the singletons and the grand coalition).
    cache_dir, comm
        As for :func:`framework.game.values.coalition_values`.
    time_limit_s : float, optional
        Wall-time limit of the whole run; the separations get what is left.
    max_iterations : int, optional
        Limit on the number of separations.
    rel_tol : float
        Tolerance relative to ``max(1, max |v|)`` over the singletons and the grand
        coalition: a coalition is violated when its excess exceeds the master's level by
        more (the separation's absolute gap is a quarter of it).
    separation : {"cuts", "milp"}
        The separation: Lagrangian cuts (:class:`framework.game.cuts.CutSeparator`) or one
        MILP (:class:`framework.game.separation.Separator`).
    """
    run = _Run(system, scenarios, cache_dir, comm, time_limit_s, max_iterations, rel_tol,
               separation=_separation(separation))
    return run.collective(lambda: _least_core(run, reference))


def _least_core(run: _Run, reference: Mapping[str, float] | None) -> GenerationResult:
    players, n = run.players, len(run.players)
    s = run.scale
    known: set[Coalition] = set()

    def master(ref: np.ndarray | None, level: float) -> tuple[np.ndarray, float]:
        """``min eps`` (``ref`` None) or the point nearest ``ref`` (L1) with every excess at
        most ``level``, over the singletons and the coalitions generated (scaled by ``s``)."""
        cs = [frozenset([p]) for p in players] + sorted(known, key=sorted)
        member = np.array([[float(p in c) for p in players] for c in cs])
        cost = np.array([run.values[c] for c in cs]) / s
        grand = run.grand / s
        if ref is None:  # variables x (n), eps
            rows = np.vstack([np.hstack([member, -np.ones((len(cs), 1))]),
                              np.r_[np.ones(n), 0.0][None, :]])
            z, _ = r._solve_lp(np.r_[np.zeros(n), 1.0], rows,
                               np.r_[np.full(len(cs), -np.inf), grand], np.r_[cost, grand],
                               np.full(n + 1, -np.inf), np.full(n + 1, np.inf))
            return z[:n] * s, float(z[n]) * s
        eye = np.eye(n)  # variables x (n), d (n) >= |x - ref|, as rules.least_core
        rows = np.vstack([np.hstack([member, np.zeros((len(cs), n))]),
                          np.r_[np.ones(n), np.zeros(n)][None, :],
                          np.hstack([eye, -eye]), np.hstack([-eye, -eye])])
        z, _ = r._solve_lp(np.r_[np.zeros(n), np.ones(n)], rows,
                           np.r_[np.full(len(cs), -np.inf), grand, np.full(2 * n, -np.inf)],
                           np.r_[cost + level / s + 1e-9, grand, ref / s, -ref / s],
                           np.full(2 * n, -np.inf), np.full(2 * n, np.inf))
        return z[:n] * s, level

    def generate(ref: np.ndarray | None, level: float
                 ) -> tuple[dict[str, float], float, float, bool]:
        """Master and separation until no coalition's excess exceeds the master's level:
        the allocation, that level, an upper bound on its largest excess, and whether
        proven."""
        while True:
            xs, eps = master(ref, level)
            x = dict(zip(players, xs))
            singles = max(x[p] - run.single(p) for p in players)
            if run.separator is None:
                return x, eps, singles, True
            if run.out_of_budget():
                return x, eps, math.inf, False
            sep = run.separate(x, level=eps + run.tol / 2)
            log.info("least core%s iteration %d: eps %.6g, excess %.6g (bound %.6g) of %s",
                     "" if ref is None else " point", run.iterations, eps, sep.excess,
                     sep.bound, "+".join(sorted(sep.coalition or ())))
            if sep.bound <= eps + run.tol:
                return x, eps, max(singles, sep.bound), True
            new = _violated(sep, eps, known)
            if not new:
                _stuck(run, sep)
                return x, eps, max(singles, sep.bound), False
            run.generate(new)
            known.update(new)
            for c in new:
                log.info("  coalition %s: v %.6g, excess %.6g", "+".join(sorted(c)),
                         run.values[c], run.excess(c, x))

    x, eps, upper, certified = generate(None, math.nan)
    if certified:
        game = {frozenset([p]): run.single(p) for p in players}
        game[frozenset(players)] = run.grand
        ref = dict(reference) if reference is not None else \
            r.proportional_to_standalone(game, players)
        missing = [p for p in players if p not in ref]
        if missing:
            raise InputError(f"reference: expected a cost share for every microgrid, "
                             f"missing {missing}")
        x, _, upper, certified = generate(np.array([ref[p] for p in players]), eps)
    return run.result("least_core", x, eps, max(upper, eps), certified, 1)


def nucleolus_generation(system: System, scenarios: xr.Dataset, *, cache_dir: Any = None,
                         comm: Any = None, time_limit_s: float | None = None,
                         max_iterations: int | None = None, rel_tol: float = 1e-6,
                         imputations: bool | None = None, separation: str = "cuts"
                         ) -> GenerationResult:
    """The nucleolus by its sequence of LPs, each stage with constraint generation.

    The definition is that of :func:`framework.game.rules.nucleolus` (the same imputation
    set, every proper coalition, singletons included). Stage ``k``: ``t_k = min t`` s.t.
    ``x(N) = v(N)``, the coalitions fixed earlier at their excess, ``x(C) - v(C) <= t`` for
    the free coalitions generated (and ``x_i <= v({i})`` on imputations); the separation,
    restricted to the coalitions outside the span of the fixed ones
    (:meth:`Separator.outside_span`: their excess is settled), ends the stage when it
    proves no free coalition's excess above ``t_k``. The free coalitions tight in every
    optimum (:func:`_tight_everywhere`) are fixed; the stages end when the fixed coalitions
    determine ``x``. ``epsilon`` is ``t_1``, the least-core value.
    Parameters as :func:`least_core_generation`.
    """
    run = _Run(system, scenarios, cache_dir, comm, time_limit_s, max_iterations, rel_tol,
               separation=_separation(separation))
    dual = _dual_in_core(system, scenarios, cache_dir, run.comm, time_limit_s)
    return run.collective(lambda: _nucleolus(run, imputations, dual))


def _dual_in_core(system: System, scenarios: xr.Dataset, cache_dir: Any, comm: Any,
                  time_limit_s: float | None) -> dict[str, float] | None:
    """The dual-price allocation (:func:`framework.game.dual.dual_allocation`, one LP of
    the grand coalition) where its guarantee holds (every coalition of two or more has
    excess <= 0 by LP duality), else None (a MILP, a coincident peak, a station bound)."""
    try:
        dual = dual_allocation(system, scenarios, standalone=False, cache_dir=cache_dir,
                               comm=comm, time_limit_s=time_limit_s)
    except (InputError, SolveError) as err:
        log.info("nucleolus: no dual allocation to bound the least core (%s)", err)
        return None
    return dict(dual.allocation) if dual.in_core else None


def _rank(rows: list[np.ndarray]) -> int:
    return int(np.linalg.matrix_rank(np.array(rows), tol=1e-9))


def _tight_everywhere(rows: np.ndarray, eq: np.ndarray, cost: np.ndarray, x: np.ndarray,
                      t: float, dual: np.ndarray, col_lo: np.ndarray, col_hi: np.ndarray,
                      tol: float) -> list[int]:
    """The free rows of a stage's master whose excess is ``t`` in every optimum.

    ``rows``: the ``len(eq)`` fixed rows, then the free ones ``x(C) - t <= cost``; ``x``,
    ``t`` and ``dual`` (of the free rows) its optimum. As :func:`framework.game.rules.nucleolus`:
    a non-zero dual, or else ``min x(C) - cost`` over the optimal face (``t <= t_k``) still
    ``t_k``. A degenerate stage (a least-core value of 0 with many coalitions at excess 0)
    then fixes them all at once instead of one per stage. The master's optimal face
    contains the full stage LP's (same ``t_k``, fewer rows), so each is tight there too.
    """
    n = x.size
    member = rows[eq.size:, :n]
    lo, hi = np.r_[eq, np.full(cost.size, -np.inf)], np.r_[eq, cost]
    face_hi = col_hi.copy()
    face_hi[n] = t + tol
    out = []
    for k in np.flatnonzero(member @ x - cost >= t - tol):
        if abs(dual[k]) <= tol:
            z, _ = r._solve_lp(np.r_[member[k], 0.0], rows, lo, hi, col_lo, face_hi)
            if member[k] @ z[:n] - cost[k] < t - tol:
                continue
        out.append(int(k))
    return out


def _nucleolus(run: _Run, imputations: bool | None,
               dual: Mapping[str, float] | None = None) -> GenerationResult:
    players, n = run.players, len(run.players)
    s = run.scale
    singles = np.array([run.single(p) for p in players]) / s
    if imputations is None:
        imputations = bool(singles.sum() >= run.grand / s - 1e-12)
        if not imputations:
            log.warning("nucleolus: no imputation (sum of standalone costs below v(N)); "
                        "returning the pre-nucleolus")
    tol = run.rel_tol
    # a stage closes when its value is proven within ``close``, a fraction of the tolerance:
    # the error of each stage's value reaches the coalitions spanned by the fixed ones (one
    # spanned by two fixed coalitions carries both), so the final allocation's excesses
    # stay within the tolerance of the core check
    close = run.tol * STAGE_PRECISION
    # stage 1's value (the least-core value) is at most the dual allocation's largest
    # excess, max(0, x_i - v({i})), where that allocation is an imputation (or imputations
    # are not required): the stage ends as soon as the master reaches it
    dual_x = dual_inner = None
    if dual is not None:
        alone = np.array([dual[p] for p in players]) / s - singles
        if not imputations or alone.max() <= tol:
            dual_x, dual_inner = np.array([dual[p] for p in players]) / s, \
                max(0.0, float(alone.max())) * s

    def vector(c: Coalition) -> np.ndarray:
        return np.array([float(p in c) for p in players])

    fixed_rows, fixed_rhs = [np.ones(n)], [run.grand / s]
    fixed_sets = [frozenset(players)]
    free: list[Coalition] = [frozenset([p]) for p in players]
    known: set[Coalition] = set(free)
    col_lo = np.full(n + 1, -np.inf)
    col_hi = np.r_[singles if imputations else np.full(n, np.inf), np.inf]
    first = upper = None
    x = np.zeros(n)
    stages = 0
    certified = True
    rank = 1
    while rank < n and free and certified:
        stages += 1
        stage_upper = math.inf
        # an efficient point whose every free excess is proven at most t_inner: the stage
        # ends when the master's value reaches t_inner (the dual allocation, while it keeps
        # the excess of every coalition fixed so far)
        inner = dual_inner if dual_x is not None and np.allclose(
            np.array(fixed_rows) @ dual_x, fixed_rhs, rtol=0.0, atol=tol) else None
        while True:  # stage: master and separation until nothing exceeds t
            member = np.array([vector(c) for c in free])
            cost = np.array([run.values[c] for c in free]) / s
            rows = np.vstack([np.hstack([np.array(fixed_rows), np.zeros((len(fixed_rows), 1))]),
                              np.hstack([member, -np.ones((len(free), 1))])])
            eq = np.array(fixed_rhs)
            z, dual = r._solve_lp(np.r_[np.zeros(n), 1.0], rows,
                                  np.r_[eq, np.full(len(free), -np.inf)], np.r_[eq, cost],
                                  col_lo, col_hi)
            x, t = z[:n], float(z[n])
            alloc = dict(zip(players, x * s))
            if run.separator is None:
                stage_upper = -math.inf
                break
            if inner is not None and inner <= t * s + close:
                stage_upper = inner  # the master's value is proven optimal: the stage ends
                log.info("nucleolus stage %d: t %.6g reaches the dual allocation's bound "
                         "%.6g", stages, t * s, inner)
                break
            if run.out_of_budget():
                certified = False
                break
            level = t * s + close
            sep = run.separate(alloc, level=level - close / 2, gap=close / 4)
            stage_upper = sep.bound
            log.info("nucleolus stage %d iteration %d: t %.6g, excess %.6g (bound %.6g) of %s",
                     stages, run.iterations, t * s, sep.excess, sep.bound,
                     "+".join(sorted(sep.coalition or ())))
            if sep.bound <= level:
                break
            violated = _violated(sep, t * s, known)
            spanned = [c for c in violated if _rank([*fixed_rows, vector(c)]) == rank]
            run.exclude(spanned)  # their excess is settled by the fixed ones
            new = [c for c in violated if c not in spanned]
            if new:
                run.generate(new)
                known.update(new)
                free += new
            elif not spanned:
                if sep.status == "optimal" and sep.bound <= t * s + run.tol:
                    # nothing new above the level, yet the bound is: the separation's own
                    # accuracy (a MILP's feasibility tolerance through its big-Ms) is coarser
                    # than ``close``; the stage closes at the tolerance
                    log.info("nucleolus stage %d: closed at the separation's accuracy, bound "
                             "%.6g for t %.6g", stages, sep.bound, t * s)
                    break
                _stuck(run, sep)
                certified = False
                break
        if first is None:
            first = t * s
            singles_excess = max(alloc[p] - run.single(p) for p in players)
            upper = max(first, singles_excess, stage_upper)
        if not certified:
            break
        new_fixed = _tight_everywhere(rows, eq, cost, x, t, dual[len(fixed_rows):], col_lo,
                                      col_hi, tol) or [k for k, e in enumerate(member @ x - cost)
                                                       if e >= t - tol]
        fixed_now = []
        for k in new_fixed:
            if _rank([*fixed_rows, member[k]]) > rank:
                fixed_rows.append(member[k])
                fixed_rhs.append(member[k] @ x)  # excess t_k within tol: consistent with x
                fixed_now.append(free[k])
                rank += 1
        fixed_sets += fixed_now
        spanned = [c for c in free if _rank([*fixed_rows, vector(c)]) == rank]
        free = [c for c in free if c not in spanned]
        if run.separator is not None and rank < n:
            run.outside_span(fixed_sets)
        log.info("nucleolus stage %d: t %.6g, %d coalition(s) fixed (rank %d of %d)", stages,
                 t * s, len(fixed_now), rank, n)
    if certified and _rank(fixed_rows) == n:
        x, *_ = np.linalg.lstsq(np.array(fixed_rows), np.array(fixed_rhs), rcond=None)
    if run.separator is not None:
        run.clear()
    return run.result("nucleolus", dict(zip(players, x * s)), first, upper, certified, stages)


def core_check_generation(system: System, scenarios: xr.Dataset,
                          allocation: Mapping[str, float], *, cache_dir: Any = None,
                          comm: Any = None, time_limit_s: float | None = None,
                          rel_tol: float = 1e-6, separation: str = "cuts") -> CoreCheck:
    """Check ``allocation`` against every coalition without enumerating them.

    Singletons are compared with ``v({i})``, the grand coalition with ``v(N)``, and the
    separation bounds the excess of every coalition of size 2 to n - 1; the coalition it
    finds is valued exactly. The tolerance is ``rel_tol * max(1, max |v|)`` over the
    singletons and the grand coalition (:func:`framework.game.rules.check_allocation` takes
    it over the whole game).
    """
    players = tuple(system.names)
    missing = [p for p in players if p not in allocation]
    if missing:
        raise InputError(f"allocation: expected a cost share for every microgrid, missing "
                         f"{missing}")
    run = _Run(system, scenarios, cache_dir, comm, time_limit_s, None, rel_tol,
               separation=_separation(separation))
    return run.collective(lambda: _core_check(run, allocation))


def _core_check(run: _Run, allocation: Mapping[str, float]) -> CoreCheck:
    x = {p: float(allocation[p]) for p in run.players}
    gap = sum(x.values()) - run.grand
    found = {frozenset([p]): x[p] - run.single(p) for p in run.players}
    upper = max(found.values())
    certified = True
    if run.separator is not None:
        sep = run.separate(x)
        certified = sep.status == "optimal"
        upper = max(upper, sep.bound)
        if sep.coalition is not None:
            run.value([sep.coalition])
            found[sep.coalition] = run.excess(sep.coalition, x)
    worst = max(found, key=found.get)
    lower = found[worst]
    violated = lower > run.tol
    in_core = False if abs(gap) > run.tol or violated else (True if upper <= run.tol else None)
    log.info("core check: gap %.6g, max excess %.6g (bound %.6g), in core %s", gap, lower,
             upper, in_core)
    return CoreCheck(float(gap), float(lower), float(max(upper, lower)),
                     worst if violated else None,
                     all(x[p] <= run.single(p) + run.tol for p in run.players), in_core,
                     certified, time.perf_counter() - run.start)
