"""``sesplan_highs``: a lean persistent HiGHS plugin for mpi-sppy's subproblem solves.

PH solves each subproblem hundreds of times with a few changed numbers (weights ``W``,
``xbar``, ``rho``, proximal cuts, fixed first stages). Pyomo's HiGHS interfaces cost far
more than the LPs here (``docs/ph.md`` has the measurements): the legacy wrappers name every
variable after each solve to build a symbol map, and the persistent interface builds the
model constraint by constraint. This plugin offers mpi-sppy the legacy *persistent*
protocol it recognises (``set_instance``, ``set_objective``, ``solve``, ``load_vars``,
``update_var``, ``add_constraint``) on a ``highspy.Highs`` object directly:

- the constraints are compiled to matrices at once by Pyomo's standard-form compiler (as
  the extensive form is, :mod:`framework.solve.highs`); fixed variables become columns with
  equal bounds, so fixing or releasing one is a bound change;
- the objective is split into its parts without mutable parameters (the model's own cost,
  compiled once) and the parts with them (mpi-sppy's ``W``, ``xbar``, ``rho`` terms, a few
  terms per first-stage variable), which are re-evaluated before each solve;
- after a solve only what is asked for is loaded (:data:`NAME_NONANTS`: the first stage).

The quadratic proximal term is not offered (``has_capability("quadratic_objective")`` is
False): HiGHS's QP solver can cycle without end on these subproblems (ERGO-Code/HiGHS#1583),
so mpi-sppy must linearize it (``linearize_proximal_terms``).
"""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import SumExpression
from pyomo.core.expr.visitor import identify_mutable_parameters
from pyomo.opt import SolverFactory, SolverResults, SolverStatus, TerminationCondition
from pyomo.opt.results.solution import Solution, SolutionStatus
from pyomo.repn import generate_standard_repn
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
from pyomo.solvers.plugins.solvers.persistent_solver import PersistentSolver

from framework.solve import settings
from framework.solve.highs import standard_form_lp

NAME = "sesplan_highs"
NAME_NONANTS = "sesplan_highs_nonants"
"""The same plugin loading only the first-stage (nonanticipative) values and the variables
of the linearized proximal term after a solve: enough for the PH hub and the Lagrangian
spoke; an xhat spoke evaluates the whole objective and needs :data:`NAME`."""

INF = highspy.kHighsInf
_STATUS = {
    highspy.HighsModelStatus.kOptimal: (SolverStatus.ok, TerminationCondition.optimal),
    highspy.HighsModelStatus.kInfeasible: (SolverStatus.warning,
                                           TerminationCondition.infeasible),
    highspy.HighsModelStatus.kUnbounded: (SolverStatus.warning,
                                          TerminationCondition.unbounded),
    highspy.HighsModelStatus.kUnboundedOrInfeasible: (
        SolverStatus.warning, TerminationCondition.infeasibleOrUnbounded),
    highspy.HighsModelStatus.kTimeLimit: (SolverStatus.aborted,
                                          TerminationCondition.maxTimeLimit),
    highspy.HighsModelStatus.kIterationLimit: (SolverStatus.aborted,
                                               TerminationCondition.maxIterations),
}


def _bound(value: Any, default: float) -> float:
    return default if value is None else float(pyo.value(value))


class PersistentHighs(PersistentSolver):
    """The legacy persistent-solver face that mpi-sppy recognises, over ``highspy``.

    Only the methods that mpi-sppy's PH hub, Lagrangian and xhat cylinders call are
    provided; the legacy base class is not initialised.
    """

    nonants_only = False

    def __init__(self, **kwds: Any) -> None:
        self.name = NAME_NONANTS if self.nonants_only else NAME
        self.options: dict[str, Any] = dict(kwds.get("options", {}))
        self._model: pyo.Block | None = None
        self._highs: highspy.Highs | None = None
        self._col: dict[int, int] = {}
        self._vars: list = []
        self._objective_expr = None
        self._static_cost = np.zeros(0)
        self._static_offset = 0.0
        self._mutable: list = []
        self._mip = False
        self._constraints = -1

    def available(self, exception_flag: bool = True) -> bool:
        return True

    def license_is_valid(self) -> bool:
        return True

    def version(self) -> tuple[int, int, int]:
        h = highspy.Highs()
        return h.versionMajor(), h.versionMinor(), h.versionPatch()

    def has_capability(self, cap: str) -> bool:
        """Linear and integer models; no quadratic objective (see the module docstring)."""
        return cap in ("linear", "integer")

    def warm_start_capable(self) -> bool:
        return True

    def has_instance(self) -> bool:
        return self._model is not None

    # ---- building -------------------------------------------------------------------
    def set_instance(self, model: pyo.Block, **kwds: Any) -> None:
        """Compile the constraints of ``model`` into a new HiGHS model, then the objective.

        For the model already held, with the same constraints, only the objective is
        updated (mpi-sppy calls this again after adding the PH terms and their variables
        to the objective after iteration 0); new variables become columns as they appear.
        """
        constraints = sum(1 for _ in model.component_data_objects(
            pyo.Constraint, active=True, descend_into=True))
        if model is self._model and constraints == self._constraints:
            self.set_objective(_active_objective(model))
            return
        self._model = model
        self._constraints = constraints
        fixed = [v for v in model.component_data_objects(pyo.Var, descend_into=True)
                 if v.fixed]
        objective = _active_objective(model)
        objective.deactivate()
        for v in fixed:
            v.unfix()
        try:
            form = LinearStandardFormCompiler().write(model, mixed_form=True,
                                                      set_sense=pyo.minimize)
        finally:
            objective.activate()
            for v in fixed:
                v.fix()
        lp = standard_form_lp(form, np.zeros(len(form.columns)))
        self._mip = any(v.is_integer() or v.is_binary() for v in form.columns)
        self._highs = settings.configure(highspy.Highs(), verbose=False)
        self._highs.passModel(lp)
        self._vars = list(form.columns)
        self._col = {id(v): j for j, v in enumerate(self._vars)}
        for v in fixed:
            self.update_var(v)
        self._objective_expr = None
        self._static_cost = np.zeros(len(self._vars))
        self._static_offset = 0.0
        self._mutable = []
        self.set_objective(objective)
        if self.nonants_only:  # values never loaded must still evaluate
            for v in model.component_data_objects(pyo.Var, descend_into=True):
                if v.value is None:
                    v.set_value(0.0 if v.lb is None else max(v.lb, 0.0),
                                skip_validation=True)

    def _column(self, v: Any) -> int:
        """The column of ``v``, added (with its bounds) if the model did not have it."""
        j = self._col.get(id(v))
        if j is None:
            j = len(self._vars)
            self._highs.addVar(_bound(v.lb, -INF), _bound(v.ub, INF))
            if v.is_integer() or v.is_binary():
                self._highs.changeColIntegrality(j, highspy.HighsVarType.kInteger)
                self._mip = True
            self._vars.append(v)
            self._col[id(v)] = j
            self._static_cost = np.append(self._static_cost, 0.0)
        return j

    def _linear(self, expr: Any) -> tuple[np.ndarray, np.ndarray, float]:
        repn = generate_standard_repn(expr, compute_values=True, quadratic=False)
        if repn.nonlinear_expr is not None:
            raise ValueError(f"{NAME}: only linear objectives and constraints")
        cols = np.array([self._column(v) for v in repn.linear_vars], dtype=np.int32)
        return cols, np.asarray(repn.linear_coefs, dtype=float), float(repn.constant)

    def set_objective(self, obj: pyo.Objective) -> None:
        """Split the objective into its parts without and with mutable parameters.

        When mpi-sppy extends the objective (``expr += W_term + prox_term``), only the
        added terms are compiled; the rest keeps its compiled costs.
        """
        expr = obj.expr
        if expr is self._objective_expr:
            return
        previous = self._objective_expr
        parts = list(expr.args) if isinstance(expr, SumExpression) else [expr]
        if previous is not None and parts and parts[0] is previous and not self._mutable:
            parts = parts[1:]
        else:
            self._static_cost = np.zeros(len(self._vars))
            self._static_offset = 0.0
            self._mutable = []
        for part in parts:
            if next(iter(identify_mutable_parameters(part)), None) is not None:
                self._mutable.append(part)
                continue
            cols, coefs, constant = self._linear(part)
            np.add.at(self._static_cost, cols, coefs)
            self._static_offset += constant
        self._objective_expr = expr

    def _refresh_objective(self) -> None:
        cost = self._static_cost.copy()
        offset = self._static_offset
        for part in self._mutable:
            cols, coefs, constant = self._linear(part)
            if len(cost) < len(self._vars):
                cost = np.append(cost, np.zeros(len(self._vars) - len(cost)))
            np.add.at(cost, cols, coefs)
            offset += constant
        n = len(cost)
        self._highs.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        self._highs.changeObjectiveOffset(offset)

    def add_constraint(self, con: Any) -> None:
        """Add one linear constraint (a proximal cut) as a row."""
        self._constraints += 1
        cols, coefs, constant = self._linear(con.body)
        lower = -INF if con.lower is None else float(pyo.value(con.lower)) - constant
        upper = INF if con.upper is None else float(pyo.value(con.upper)) - constant
        self._highs.addRow(lower, upper, len(cols), cols, coefs)

    def add_var(self, var: pyo.Var) -> None:
        self._column(var)

    def update_var(self, var: Any) -> None:
        """Pass a changed bound or fixed value of ``var`` to HiGHS."""
        j = self._column(var)
        if var.fixed:
            lb = ub = float(var.value)
        else:
            lb, ub = _bound(var.lb, -INF), _bound(var.ub, INF)
        self._highs.changeColBounds(j, lb, ub)

    # ---- solving --------------------------------------------------------------------
    def solve(self, model: pyo.Block, tee: bool = False, load_solutions: bool = True,
              **kwds: Any) -> SolverResults:
        """Solve ``model`` (warm-started from the last basis) and return legacy results:
        status, termination, the bounds, and one solution entry without values
        (``load_vars`` loads them)."""
        if model is not self._model:
            self.set_instance(model)
        h = self._highs
        self._refresh_objective()
        h.setOptionValue("output_flag", bool(tee) or settings.current().log_file is not None)
        h.setOptionValue("log_to_console", bool(tee))
        for key, val in self.options.items():
            h.setOptionValue(key, val)
        if settings.current().deadline is not None:  # the run's total time limit
            h.setOptionValue("time_limit", settings.time_limit(self.options.get("time_limit")))
        settings.run_highs(h)
        status = h.getModelStatus()
        info = h.getInfo()
        solver_status, termination = _STATUS.get(
            status, (SolverStatus.error, TerminationCondition.error))
        results = SolverResults()
        results.solver.status = solver_status
        results.solver.termination_condition = termination
        results.solver.termination_message = h.modelStatusToString(status)
        feasible = info.primal_solution_status == highspy.kSolutionStatusFeasible
        incumbent = info.objective_function_value if feasible else None
        if self._mip:
            bound = info.mip_dual_bound if termination == TerminationCondition.optimal else None
        else:
            bound = incumbent if termination == TerminationCondition.optimal else None
        results.problem.lower_bound = bound
        results.problem.upper_bound = incumbent
        if feasible:
            solution = Solution()
            solution.status = (SolutionStatus.optimal if termination
                               == TerminationCondition.optimal else SolutionStatus.feasible)
            results.solution.insert(solution)
            if load_solutions:
                self.load_vars()
        return results

    def load_vars(self, vars_to_load: list | None = None) -> None:
        """Load the primal values of the last solve into the model (with
        :data:`NAME_NONANTS`, by default only the first-stage values and the variables of
        the linearized proximal term, which mpi-sppy reads to place its next cuts)."""
        values = self._highs.getSolution().col_value
        if vars_to_load is None and self.nonants_only:
            vars_to_load = list(self._model._mpisppy_data.nonant_indices.values())
            squares = getattr(self._model._mpisppy_model, "xsqvar", None)
            if squares is not None:
                vars_to_load += list(squares.values())
        if vars_to_load is None:
            for v, value in zip(self._vars, values):
                v.set_value(value, skip_validation=True)
            return
        for v in vars_to_load:
            j = self._col.get(id(v))
            if j is not None:
                v.set_value(values[j], skip_validation=True)


class PersistentHighsNonants(PersistentHighs):
    """:class:`PersistentHighs` that loads only the first stage (:data:`NAME_NONANTS`)."""

    nonants_only = True


def _active_objective(model: pyo.Block) -> pyo.Objective:
    return next(model.component_data_objects(pyo.Objective, active=True, descend_into=True))


SolverFactory.register(NAME, doc="persistent HiGHS for mpi-sppy (sesplan)")(PersistentHighs)
SolverFactory.register(NAME_NONANTS, doc="persistent HiGHS for mpi-sppy, first stage only")(
    PersistentHighsNonants)
