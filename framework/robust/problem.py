"""The two-stage robust problem as matrices, and its compilation from a Pyomo model.

A problem has a first stage ``x`` (continuous or integer) and blocks ``b`` (one per scenario
of a stochastic robust model, or a single one), each with its own recourse ``y_b`` and
uncertain vector ``u_b`` in a set ``U_b``:

    min_x  c'x + AGG_b  w_b * max_{u in U_b} Q_b(x, u)
    s.t.   row_lower <= F x <= row_upper,  lower <= x <= upper,  x_j integer (j in J)

    Q_b(x, u) = min_y  q'y + f'u + f0
                s.t.   row_lower0 + H u <= A y + B x <= row_upper0 + H u
                       col_lower <= y <= col_upper

with ``AGG`` a weighted sum (``aggregate="sum"``: expected worst-case cost) or a maximum
(``aggregate="max"``: one worst case over all blocks). The uncertainty enters the right-hand
sides (both sides of a row shift by ``H u``) and the objective constant only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from framework.errors import InputError
from framework.robust.sets import UncertaintySet

AGGREGATES = ("sum", "max")


@dataclass(frozen=True)
class FirstStage:
    """First-stage variables, cost and constraints.

    Attributes
    ----------
    cost : ndarray, shape (nx,)
        ``c``.
    lower, upper : ndarray, shape (nx,)
        Bounds (``-inf`` / ``inf`` where none).
    integer : ndarray of bool, shape (nx,)
    rows : scipy.sparse.csr_array, shape (r, nx)
        ``F``.
    row_lower, row_upper : ndarray, shape (r,)
    names : tuple of str
    """

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    rows: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    names: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.cost.size


@dataclass(frozen=True)
class Recourse:
    """The recourse linear program of one block, ``Q_b(x, u)`` (see the module docstring).

    Attributes
    ----------
    cost : ndarray, shape (ny,)
        ``q``.
    col_lower, col_upper : ndarray, shape (ny,)
    matrix : scipy.sparse.csr_array, shape (m, ny)
        ``A``.
    first_stage : scipy.sparse.csr_array, shape (m, nx)
        ``B``.
    row_lower, row_upper : ndarray, shape (m,)
        Row bounds at ``u = 0`` (``-inf`` / ``inf`` for a one-sided row).
    uncertain : scipy.sparse.csr_array, shape (m, nu)
        ``H``: the row bounds at ``u`` are ``row_lower + H u`` and ``row_upper + H u``.
    uncertain_cost : ndarray, shape (nu,)
        ``f``.
    constant : float
        ``f0``.
    """

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    matrix: sp.csr_array
    first_stage: sp.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    uncertain: sp.csr_array
    uncertain_cost: np.ndarray
    constant: float

    def row_bounds(self, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on ``A y`` for first stage ``x`` and uncertain ``u``."""
        shift = self.uncertain @ u - self.first_stage @ x
        return self.row_lower + shift, self.row_upper + shift

    def constant_at(self, u: np.ndarray) -> float:
        """``f'u + f0``."""
        return float(self.uncertain_cost @ u + self.constant)


@dataclass(frozen=True)
class RobustBlock:
    """One recourse problem with its uncertainty set and weight.

    Attributes
    ----------
    name : str
    recourse : Recourse
    uncertainty : UncertaintySet
        Of dimension ``nu`` (the columns of ``recourse.uncertain``).
    weight : float
        ``w_b >= 0`` (a scenario probability for ``aggregate="sum"``).
    dual_bounds : tuple of ndarray or callable, optional
        ``(L, U)``, shape (nu,) each: bounds on the sensitivity ``g_j = (H' pi)_j`` of the
        recourse dual objective to ``u_j``, for the big-M linearisation of the MILP
        separation (``dQ/du_j = g_j + f_j``), or a function of the first stage ``x``
        returning them (bounds valid for that ``x``). Default: derived by the engine from
        the recourse duals (see ``docs/robust.md``); either way the engine checks them
        after every solve and widens any that is active.
    """

    name: str
    recourse: Recourse
    uncertainty: UncertaintySet
    weight: float = 1.0
    dual_bounds: tuple[np.ndarray, np.ndarray] | Callable[
        [np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class RobustProblem:
    """A two-stage robust problem: first stage and blocks (see the module docstring)."""

    first_stage: FirstStage
    blocks: tuple[RobustBlock, ...]
    aggregate: str = "sum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        if self.aggregate not in AGGREGATES:
            raise InputError(f"robust problem: aggregate must be one of {AGGREGATES}, "
                             f"got {self.aggregate!r}")
        if not self.blocks:
            raise InputError("robust problem: no blocks")
        nx = self.first_stage.size
        for b in self.blocks:
            rec = b.recourse
            if rec.first_stage.shape[1] != nx:
                raise InputError(f"block {b.name!r}: B has {rec.first_stage.shape[1]} columns, "
                                 f"the first stage {nx} variables")
            if rec.uncertain.shape[1] != b.uncertainty.dim:
                raise InputError(f"block {b.name!r}: H has {rec.uncertain.shape[1]} columns, "
                                 f"the uncertainty set dimension {b.uncertainty.dim}")
            if not (np.isfinite(b.weight) and b.weight >= 0):
                raise InputError(f"block {b.name!r}: weight must be finite and >= 0, "
                                 f"got {b.weight}")
            if b.dual_bounds is not None and not callable(b.dual_bounds):
                low, high = (np.asarray(v, dtype=float) for v in b.dual_bounds)
                if low.shape != (b.uncertainty.dim,) or high.shape != low.shape or np.any(
                        low > high):
                    raise InputError(f"block {b.name!r}: dual_bounds must be two arrays of "
                                     f"{b.uncertainty.dim} values with L <= U")


def _flatten(components: Iterable[pyo.Var]) -> list:
    out = []
    for comp in components:
        out += list(comp.values()) if comp.is_indexed() else [comp]
    return out


def _bound(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def compile_pyomo(model: pyo.Block, first_stage: Sequence[pyo.Var],
                  uncertain: Sequence[pyo.Var], allow_unused: bool = False
                  ) -> tuple[FirstStage, Recourse]:
    """Compile a linear Pyomo model of one block into matrices.

    The model holds the first-stage variables, the recourse variables (every other variable)
    and the uncertain parameters written as Pyomo variables ``u`` (their bounds are ignored:
    the uncertainty set is given separately). Its objective is minimised and must be
    ``c'x + q'y + f'u + f0``. Constraints with recourse variables form the recourse (``u``
    may appear in them, linearly, as a right-hand side); constraints with first-stage
    variables only are first-stage constraints. A bound of a recourse variable that depends
    on ``u`` must be written as a constraint.

    Parameters
    ----------
    model : pyomo Block
    first_stage : sequence of Var
        First-stage variables (indexed components are taken in their index order).
    uncertain : sequence of Var
        The uncertain vector ``u``, in this order. A ``Param`` is an error (it would be
        compiled at its current value), and so is a ``u`` the model never uses unless
        ``allow_unused`` (a set whose dimensions include entries with no effect, such as a
        PV deviation at night).

    Returns
    -------
    FirstStage, Recourse
    """
    for role, components in (("first-stage", first_stage), ("uncertain", uncertain)):
        for comp in components:
            if not (isinstance(comp, pyo.Var) or getattr(comp, "is_variable_type", bool)()):
                raise InputError(
                    f"compile_pyomo: {role} {getattr(comp, 'name', comp)!r} is a "
                    f"{type(comp).__name__}, not a Pyomo Var; write uncertain data as a Var "
                    "(a mutable Param would be compiled at its current, nominal value)")
    form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=pyo.minimize)
    position = {id(v): k for k, v in enumerate(form.columns)}
    xs, us = _flatten(first_stage), _flatten(uncertain)
    unused = [v.name for v in us if id(v) not in position]
    if unused and not allow_unused:
        raise InputError(f"compile_pyomo: uncertain variable(s) {unused[:5]} appear in no "
                         "constraint and not in the objective; the model does not depend on "
                         "them (was the data written as a Param instead?)")
    ids_x, ids_u = {id(v) for v in xs}, {id(v) for v in us}
    if ids_x & ids_u:
        raise InputError("compile_pyomo: a variable is both first-stage and uncertain")
    y_cols = [k for k, v in enumerate(form.columns) if id(v) not in ids_x | ids_u]
    for k in y_cols:
        if form.columns[k].is_integer() or form.columns[k].is_binary():
            raise InputError(f"compile_pyomo: recourse variable {form.columns[k].name} is "
                             "integer; the recourse must be a linear program")
    a = sp.csc_array(form.A)
    n_cols = a.shape[1]

    def select(variables: list) -> sp.csc_array:
        cols = [position.get(id(v)) for v in variables]
        pick = sp.csc_array((np.ones(sum(c is not None for c in cols)),
                             ([c for c in cols if c is not None],
                              [j for j, c in enumerate(cols) if c is not None])),
                            shape=(n_cols, len(variables)))
        return pick

    pick_x, pick_u = select(xs), select(us)
    pick_y = sp.csc_array((np.ones(len(y_cols)), (y_cols, range(len(y_cols)))),
                          shape=(n_cols, len(y_cols)))
    a_x, a_u, a_y = (sp.csr_array(a @ p) for p in (pick_x, pick_u, pick_y))
    kind = np.array([row.bound_type for row in form.rows], dtype=int)
    rhs = np.asarray(form.rhs, dtype=float)
    lower = np.where(kind == 1, -np.inf, rhs)
    upper = np.where(kind == -1, np.inf, rhs)
    has_y = np.diff(a_y.indptr) > 0
    has_u = np.diff(a_u.indptr) > 0
    if np.any(has_u & ~has_y):
        r = int(np.argmax(has_u & ~has_y))
        raise InputError(f"compile_pyomo: constraint {form.rows[r].constraint.name} has "
                         "uncertain terms but no recourse variable; that is not a recourse "
                         "constraint (uncertain first-stage constraints are not supported)")
    rec, fs = np.flatnonzero(has_y), np.flatnonzero(~has_y)
    cost = np.asarray(form.c.toarray(), dtype=float).ravel()
    first = FirstStage(
        cost=cost @ pick_x,
        lower=np.array([_bound(v.lb, -np.inf) for v in xs]),
        upper=np.array([_bound(v.ub, np.inf) for v in xs]),
        integer=np.array([v.is_integer() or v.is_binary() for v in xs], dtype=bool),
        rows=sp.csr_array(a_x[fs]), row_lower=lower[fs], row_upper=upper[fs],
        names=tuple(v.name for v in xs))
    ys = [form.columns[k] for k in y_cols]
    recourse = Recourse(
        cost=cost @ pick_y,
        col_lower=np.array([_bound(v.lb, -np.inf) for v in ys]),
        col_upper=np.array([_bound(v.ub, np.inf) for v in ys]),
        matrix=sp.csr_array(a_y[rec]), first_stage=sp.csr_array(a_x[rec]),
        row_lower=lower[rec], row_upper=upper[rec], uncertain=sp.csr_array(-a_u[rec]),
        uncertain_cost=cost @ pick_u, constant=float(form.c_offset[0]))
    return first, recourse
