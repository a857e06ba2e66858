"""The general C&CG engine on a textbook instance and on small hand-checkable problems.

The location-transportation instance of Zeng and Zhao (2013, section 5.1): three
facilities (fixed costs 400, 414, 326; capacity costs 18, 25, 20 per unit; at most 800
units each), three customers with demand ``d_j = 206, 274, 220 + 40 g_j`` and
``g in [0,1]^3, g1 + g2 + g3 <= 1.8, g1 + g2 <= 1.2``; total capacity must cover the
largest total demand, 772. Its robust optimum is 33680 (facilities 1 and 3 open),
reached by C&CG in two iterations.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse as sp

from framework.errors import InputError
from framework.robust import (
    BoxSet,
    BudgetSet,
    CCGConfig,
    FirstStage,
    PolyhedralSet,
    Recourse,
    RobustBlock,
    RobustProblem,
    Termination,
    compile_pyomo,
    solve_ccg,
    worst_case,
)
from framework.robust.loop import _Separation, robust_value
from framework.robust.results import WorstCase
from framework.robust.separation import Ascent, RecourseLP, make_separator
from framework.solve.highs import solve_highs

FIXED = [400, 414, 326]
PER_UNIT = [18, 25, 20]
SHIP = [[22, 33, 24], [33, 23, 30], [20, 25, 27]]
DEMAND = [206, 274, 220]
F = range(3)


def location_model(total: float = 772) -> pyo.ConcreteModel:
    """The facility-location model with the demand deviations ``g`` as variables."""
    m = pyo.ConcreteModel()
    m.open = pyo.Var(F, within=pyo.Binary)
    m.cap = pyo.Var(F, bounds=(0, None))
    m.ship = pyo.Var(F, F, bounds=(0, None))
    m.g = pyo.Var(F)
    m.cap_open = pyo.Constraint(F, rule=lambda m, i: m.cap[i] <= 800 * m.open[i])
    m.total = pyo.Constraint(expr=sum(m.cap[i] for i in F) >= total)
    m.supply = pyo.Constraint(F, rule=lambda m, i: sum(m.ship[i, j] for j in F) <= m.cap[i])
    m.demand = pyo.Constraint(F, rule=lambda m, j: sum(m.ship[i, j] for i in F)
                              >= DEMAND[j] + 40 * m.g[j])
    m.cost = pyo.Objective(expr=sum(FIXED[i] * m.open[i] + PER_UNIT[i] * m.cap[i] for i in F)
                           + sum(SHIP[i][j] * m.ship[i, j] for i in F for j in F))
    return m


ZZ_SET = {"a": [[1, 1, 1], [1, 1, 0]], "b": [1.8, 1.2], "lower": [0, 0, 0], "upper": [1, 1, 1]}


def location_problem(uncertainty: Any, total: float = 772) -> RobustProblem:
    m = location_model(total)
    first, recourse = compile_pyomo(m, [m.open, m.cap], [m.g])
    return RobustProblem(first, [RobustBlock("customers", recourse, uncertainty)])


def brute_force(points: np.ndarray, total: float = 772) -> float:
    """``min_x max_{g in points} cost``: one copy of the transport per point."""
    m = pyo.ConcreteModel()
    m.open = pyo.Var(F, within=pyo.Binary)
    m.cap = pyo.Var(F, bounds=(0, 800))
    m.eta = pyo.Var()
    m.cap_open = pyo.Constraint(F, rule=lambda m, i: m.cap[i] <= 800 * m.open[i])
    m.total = pyo.Constraint(expr=sum(m.cap[i] for i in F) >= total)
    m.copies = pyo.Block(range(len(points)))
    for k, g in enumerate(points):
        b = m.copies[k]
        b.ship = pyo.Var(F, F, bounds=(0, None))
        b.supply = pyo.Constraint(F, rule=lambda b, i: sum(b.ship[i, j] for j in F) <= m.cap[i])
        b.demand = pyo.Constraint(F, rule=lambda b, j, g=g: sum(b.ship[i, j] for i in F)
                                  >= DEMAND[j] + 40 * g[j])
        b.eta = pyo.Constraint(expr=m.eta >= sum(SHIP[i][j] * b.ship[i, j]
                                                  for i in F for j in F))
    m.cost = pyo.Objective(expr=sum(FIXED[i] * m.open[i] + PER_UNIT[i] * m.cap[i] for i in F)
                           + m.eta)
    return solve_highs(m, mip_rel_gap=0).objective


def test_zeng_zhao_location_transportation() -> None:
    result = solve_ccg(location_problem(PolyhedralSet(**ZZ_SET)), CCGConfig(rel_gap=1e-9))
    assert result.status is Termination.OPTIMAL
    assert result.objective == pytest.approx(33680, abs=1e-6)
    assert result.lower_bound == pytest.approx(33680, abs=1e-6)
    assert len(result.iterations) == 2
    opened = result.x[:3]
    assert opened == pytest.approx([1, 0, 1])
    assert result.x[3:].sum() == pytest.approx(772)
    # the worst case is a vertex of the set with the whole budget used
    assert PolyhedralSet(**ZZ_SET).contains(result.worst_cases[0].u)
    assert result.worst_cases[0].u.sum() == pytest.approx(1.8)


def test_polyhedron_vertices_by_hand() -> None:
    vertices = PolyhedralSet(**ZZ_SET).vertices()
    assert len(vertices) == 12
    assert {tuple(v) for v in np.round(vertices, 9)} >= {(0, 0, 0), (1, 0.2, 0.6),
                                                          (0.2, 1, 0.6), (1, 0, 0.8)}
    assert brute_force(vertices) == pytest.approx(33680)


@pytest.mark.parametrize("gamma", [1.0, 1.8, 3.0])
@pytest.mark.parametrize("separation", ["milp", "vertices"])
def test_budget_set_equals_brute_force(gamma: float, separation: str) -> None:
    # total capacity 820 covers every demand of the set, so every recourse is feasible
    budget = BudgetSet(3, gamma)
    result = solve_ccg(location_problem(budget, total=820),
                       CCGConfig(separation=separation, rel_gap=1e-9))
    assert result.status is Termination.OPTIMAL
    assert result.objective == pytest.approx(brute_force(budget.vertices(), total=820),
                                             rel=1e-9)
    lower = [r.lower_bound for r in result.iterations]
    upper = [r.upper_bound for r in result.iterations]
    assert lower == sorted(lower)
    assert upper == sorted(upper, reverse=True)
    assert upper[-1] - lower[-1] <= 1e-9 * abs(upper[-1])


def test_infeasible_recourse_is_a_feasibility_cut() -> None:
    # with Gamma = 2 the largest demand is 780 > 772: the first stage must build 780
    for separation in ("milp", "vertices"):
        result = solve_ccg(location_problem(BudgetSet(3, 2.0)),
                           CCGConfig(separation=separation))
        assert result.status is Termination.OPTIMAL
        assert result.iterations[0].upper_bound == np.inf
        assert result.x[3:].sum() == pytest.approx(780)
        assert result.objective == pytest.approx(brute_force(BudgetSet(3, 2.0).vertices()))


def test_budget_vertices() -> None:
    # Gamma = 1.5 on 3 coordinates: every 0/1 point with at most one 1, and the points with
    # one coordinate at 1 and another at 0.5
    points = {tuple(v) for v in BudgetSet(3, 1.5).vertices()}
    assert (1.0, 0.5, 0.0) in points and (0.0, 0.0, 0.5) in points
    assert (1.0, 1.0, 0.0) not in points
    assert all(sum(p) <= 1.5 + 1e-12 for p in points)
    sym = BudgetSet(2, 1.0, symmetric=True).vertices()
    assert {tuple(v) for v in sym} == {(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)}
    grouped = BudgetSet(4, [1, 0], groups=[(0, 1), (2, 3)]).vertices()
    assert len(grouped) == 3 and np.all(grouped[:, 2:] == 0)
    assert BoxSet([0, -1], [2, 1]).vertices().tolist() == [[0, -1], [0, 1], [2, -1], [2, 1]]


def two_blocks(aggregate: str) -> RobustProblem:
    """``min x + AGG_b w_b max_{u in [0,1]} min {y : y >= a_b + u - x, y >= 0}``: one unit of
    capacity ``x`` (cost 1) saves ``y`` at cost ``c_b`` per unit."""
    first = FirstStage(np.array([1.0]), np.array([0.0]), np.array([10.0]), np.array([False]),
                       sp.csr_array((0, 1)), np.zeros(0), np.zeros(0), ("x",))

    def recourse(a: float, c: float) -> Recourse:
        return Recourse(np.array([c]), np.array([0.0]), np.array([np.inf]),
                        sp.csr_array([[1.0]]), sp.csr_array([[1.0]]), np.array([a]),
                        np.array([np.inf]), sp.csr_array([[1.0]]), np.zeros(1), 0.0)

    blocks = [RobustBlock("b0", recourse(1.0, 3.0), BoxSet([0.0], [1.0], [0.0]), 0.5),
              RobustBlock("b1", recourse(3.0, 1.5), BoxSet([0.0], [1.0], [0.0]), 0.5)]
    return RobustProblem(first, blocks, aggregate)


def test_sum_and_max_aggregates_by_hand() -> None:
    # sum: 0.5 * 3 * (2 - x)+ + 0.5 * 1.5 * (4 - x)+ ; slope -1.5 - 0.75 < -1 up to x = 2,
    # then -0.75 > -1: x = 2, objective 2 + 0.75 * 2 = 3.5
    result = solve_ccg(two_blocks("sum"), CCGConfig(rel_gap=1e-9))
    assert result.x == pytest.approx([2.0])
    assert result.objective == pytest.approx(3.5)
    # max: x + max(1.5 (2 - x)+, 0.75 (4 - x)+); equal at x = 0, then 0.75 (4 - x) rules
    # with slope -0.75 > -1: x = 0, objective 3
    result = solve_ccg(two_blocks("max"), CCGConfig(rel_gap=1e-9))
    assert result.x == pytest.approx([0.0], abs=1e-9)
    assert result.objective == pytest.approx(3.0)
    value, cases = worst_case(two_blocks("max"), np.array([1.0]))
    assert value == pytest.approx(1 + max(1.5, 2.25))
    assert [c.u[0] for c in cases] == [1.0, 1.0]


def test_mip_first_stage_and_limits() -> None:
    problem = location_problem(PolyhedralSet(**ZZ_SET))
    assert problem.first_stage.integer.tolist() == [True] * 3 + [False] * 3
    result = solve_ccg(problem, CCGConfig(max_iterations=1))
    assert result.status is Termination.ITERATION_LIMIT
    assert result.lower_bound < result.objective
    assert result.master_s > 0 and result.separation_s > 0
    assert result.history()["iteration"].tolist() == [1]


@pytest.mark.parametrize(("make", "match"), [
    (lambda: PolyhedralSet([[1.0, 1.0]], [-1.0], [0, 0], [1, 1]), "empty"),
    (lambda: PolyhedralSet([[1.0, -1.0]], [0.0]), "unbounded"),
    (lambda: BudgetSet(3, -1.0), "budget"),
    (lambda: BudgetSet(3, [1.0, 2.0]), "budgets for 1 groups"),
    (lambda: BudgetSet(3, 1.0, groups=[(0, 1), (1, 2)]), "disjoint"),
    (lambda: BoxSet([0.0, 2.0], [1.0, 1.0]), "lower"),
    (lambda: BoxSet([0.0], [np.inf]), "finite"),
])
def test_bad_sets_are_input_errors(make: Any, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make()


def test_bad_problems_are_input_errors() -> None:
    m = location_model()
    m.bad = pyo.Constraint(expr=m.g[0] <= m.cap[0])
    with pytest.raises(InputError, match="no recourse variable"):
        compile_pyomo(m, [m.open, m.cap], [m.g])
    m = location_model()
    first, recourse = compile_pyomo(m, [m.open, m.cap], [m.g])
    with pytest.raises(InputError, match="dimension"):
        RobustProblem(first, [RobustBlock("b", recourse, BudgetSet(2, 1.0))])
    with pytest.raises(InputError, match="aggregate"):
        RobustProblem(first, [RobustBlock("b", recourse, BudgetSet(3, 1.0))], "mean")
    with pytest.raises(InputError, match="rel_gap"):
        CCGConfig(rel_gap=-1.0)
    with pytest.raises(InputError, match="separation"):
        CCGConfig(separation="guess")
    with pytest.raises(InputError, match="needs a box or budget"):
        solve_ccg(RobustProblem(first, [RobustBlock("b", recourse, PolyhedralSet(**ZZ_SET))]),
                  CCGConfig(separation="milp"))


def test_milp_bounds_are_widened_when_active() -> None:
    # dual bounds far too small: the check finds them active and widens them until the
    # worst case is exact
    m = location_model(total=820)
    first, recourse = compile_pyomo(m, [m.open, m.cap], [m.g])
    tiny = (np.zeros(3), np.full(3, 1.0))
    problem = RobustProblem(first, [RobustBlock("b", recourse, BudgetSet(3, 1.0), 1.0, tiny)])
    x = np.array([1, 0, 1, 300, 0, 520], dtype=float)
    value, cases = worst_case(problem, x)
    exact = max(worst_case(problem, x, CCGConfig(separation="vertices"))[0], value)
    assert value == pytest.approx(exact)
    assert cases[0].widenings > 0
    assert list(itertools.chain(cases[0].u)) in ([1, 0, 0], [0, 1, 0], [0, 0, 1])


def test_milp_after_an_interrupted_one_is_exact() -> None:
    # a separation stopped at its first worst case above a threshold leaves HiGHS's
    # interrupt flag set; the next MILP on the same separator must still be solved
    problem = location_problem(BudgetSet(3, 1.5))
    x = np.array([1, 0, 1, 300, 0, 520], dtype=float)
    separator = make_separator(problem.blocks[0], 0, CCGConfig(heuristic_first=False))
    stopped = separator.solve(x, stop_above=-1e9)
    assert stopped.bound == np.inf and stopped.value > -1e9
    exact = separator.solve(x)
    truth = worst_case(problem, x, CCGConfig(separation="vertices"))[0]
    assert exact.bound == pytest.approx(exact.value) and exact.bound < np.inf
    assert robust_value(problem, x, [exact.value]) == pytest.approx(truth)


def test_limit_before_any_upper_bound_returns_the_last_master() -> None:
    # iteration 1 solves the nominal master, and the ascent's worst cases end the round
    # before any exact separation: no upper bound, but a plan (the nominal one) and a bound
    result = solve_ccg(location_problem(BudgetSet(3, 1.5)), CCGConfig(max_iterations=1))
    assert result.status is Termination.ITERATION_LIMIT
    assert result.objective == np.inf and np.all(np.isfinite(result.x))
    nominal = solve_ccg(location_problem(BudgetSet(3, 0.0)))
    assert result.lower_bound == pytest.approx(nominal.objective)


def test_second_certification_pass_shares_the_time_left() -> None:
    """Blocks left unproven by the probe pass each get an equal share of the time left, the
    smallest weighted gap first, so that the time one does not use passes to the next."""
    block = location_problem(BudgetSet(3, 1.0)).blocks[0]
    problem = location_problem(BudgetSet(3, 1.0))
    problem = RobustProblem(problem.first_stage, [block, block, block])
    calls: list[tuple[int, float, bool]] = []

    class Stub:
        def __init__(self, b: int, bounds: list[float], busy: bool) -> None:
            self.b, self.bounds, self.busy = b, bounds, busy

        def solve(self, x: np.ndarray, limit: float, gap: float, above: float) -> WorstCase:
            probe = len(self.bounds) == 2
            calls.append((self.b, limit, probe))
            if self.busy and not probe:
                time.sleep(limit)
            return WorstCase(self.b, np.zeros(3), -10.0, self.bounds.pop(0), 0.0)

    separation = _Separation(problem, CCGConfig(probe_s=0.05), None)
    # block 0 is proven by its probe; block 1 (gap 50) would take all the time it gets,
    # block 2 (gap 5) none
    separation.mine = {0: Stub(0, [0.5, 0.5], False), 1: Stub(1, [50.0, 50.0], True),
                       2: Stub(2, [5.0, 0.5], False)}
    found = {b: WorstCase(b, np.zeros(3), v, np.inf, 0.0, exact=False)
             for b, v in enumerate([-1.0, -2.0, -3.0])}
    separation._certify(found, np.zeros(6), np.zeros(3), np.ones(3), 0.4)
    assert [(b, p) for b, _, p in calls] == [(0, True), (1, True), (2, True),
                                             (2, False), (1, False)]
    assert all(limit == pytest.approx(0.05) for _, limit, probe in calls if probe)
    assert calls[3][1] == pytest.approx(0.2, abs=0.05)
    assert calls[4][1] == pytest.approx(0.4, abs=0.05)
    assert found[2].bound == 0.5 and found[1].bound == 50.0


def test_ascent_returns_its_other_local_maxima() -> None:
    """``Q(u) = max(2 u1, 1.5 u2, u3, 0)`` over ``u1 + u2 + u3 <= 1``: from ``e2`` and ``e3``
    the gradient steps stop at once (local maxima 1.5 and 1); an exchange then reaches
    ``e1`` (2). Both other maxima come back, best first, as cuts for the master."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.u = pyo.Var(range(3))
    m.y = pyo.Var()
    m.pieces = pyo.Constraint(range(4), rule=lambda m, k: m.y >= (
        [2 * m.u[0], 1.5 * m.u[1], m.u[2], m.x][k]))
    m.cost = pyo.Objective(expr=m.y)
    _, recourse = compile_pyomo(m, [m.x], [m.u])
    expansion = BudgetSet(3, 1.0).expansion()
    ascent = Ascent(expansion, RecourseLP(recourse))
    e = np.eye(3)
    best, value, others = ascent.run(np.zeros(1), [e[1], e[2]])
    assert best == pytest.approx(e[0]) and value == pytest.approx(2.0)
    assert [(list(s), v) for s, v in others] == [([0, 1, 0], pytest.approx(1.5)),
                                                 ([0, 0, 1], pytest.approx(1.0))]


def test_uncertain_data_written_as_a_mutable_param_is_refused() -> None:
    """The natural idiom, ``Param(mutable=True)`` for the demand deviation, would be compiled
    at its current value (the nominal problem: 30536 on Zeng and Zhao's instance instead of
    33680); it must be an error, as must an uncertain variable the model never uses."""
    m = pyo.ConcreteModel()
    m.open = pyo.Var(F, within=pyo.Binary)
    m.cap = pyo.Var(F, bounds=(0, None))
    m.ship = pyo.Var(F, F, bounds=(0, None))
    m.g = pyo.Param(F, mutable=True, initialize=0.0)
    m.demand = pyo.Constraint(F, rule=lambda m, j: sum(m.ship[i, j] for i in F)
                              >= DEMAND[j] + 40 * m.g[j])
    m.cost = pyo.Objective(expr=sum(PER_UNIT[i] * m.cap[i] for i in F)
                           + sum(SHIP[i][j] * m.ship[i, j] for i in F for j in F))
    with pytest.raises(InputError, match=r"uncertain 'g' is a IndexedParam, not a Pyomo Var"):
        compile_pyomo(m, [m.open, m.cap], [m.g])
    m = location_model()
    m.unused = pyo.Var(F)
    with pytest.raises(InputError, match=r"uncertain variable\(s\) \['unused\[0\]', "
                                         r"'unused\[1\]', 'unused\[2\]'\] appear in no"):
        compile_pyomo(m, [m.open, m.cap], [m.g, m.unused])
    _, recourse = compile_pyomo(m, [m.open, m.cap], [m.g, m.unused], allow_unused=True)
    assert recourse.uncertain.shape[1] == 6  # the unused entries are columns of zeros
