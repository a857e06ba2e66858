"""Uncertainty sets of the C&CG engine: box, budget (cardinality / Bertsimas-Sim), polyhedron.

The worst case of a two-stage problem with linear recourse and uncertainty in the right-hand
side is the maximum of a convex, piecewise-linear function ``Q(x, u)`` over the set, so it is
attained at a vertex. Every set therefore says how its vertices are reached:

- box and budget sets expand into binary *selectors* (:class:`BinaryExpansion`):
  ``u = offset + sum_p step_p * e_{coord_p} * s_p`` with ``s in {0, 1}^P`` and
  ``rows @ s <= rhs``; every vertex of the set is such a point and every such point lies in
  the set, which makes the separation problem a MILP;
- a general polyhedron lists its vertices (:meth:`PolyhedralSet.vertices`), and the
  separation evaluates the recourse at each of them.

Sets are frozen dataclasses validated on creation: a bad set (negative budget, empty or
unbounded polyhedron, wrong shapes) is an :class:`~framework.errors.InputError`.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from framework.errors import InputError

INF = highspy.kHighsInf
MAX_VERTEX_CANDIDATES = 2_000_000


@dataclass(frozen=True)
class BinaryExpansion:
    """The vertices of a set as binary selectors.

    ``u = offset + sum_p step[p] * e_{coord[p]} * s[p]``, ``s in {0, 1}^P``,
    ``rows @ s <= rhs``.

    Attributes
    ----------
    offset : ndarray, shape (n,)
        The point with every selector off.
    coord : ndarray of int, shape (P,)
        The coordinate of ``u`` that selector ``p`` moves.
    step : ndarray, shape (P,)
        How far it moves it.
    rows : scipy.sparse.csr_array, shape (R, P)
    rhs : ndarray, shape (R,)
    """

    offset: np.ndarray
    coord: np.ndarray
    step: np.ndarray
    rows: sp.csr_array
    rhs: np.ndarray

    def point(self, s: np.ndarray) -> np.ndarray:
        """The point ``u`` of the selectors ``s`` (rounded to 0/1)."""
        u = self.offset.copy()
        np.add.at(u, self.coord, self.step * np.round(s))
        return u

    def points(self, limit: int) -> np.ndarray:
        """Every point of the expansion (each selector vector that meets the rows), deduplicated;
        an :class:`InputError` if there are more than ``limit`` selector vectors to try."""
        n_sel = len(self.coord)
        if 2 ** n_sel > limit:
            raise InputError(f"uncertainty set: 2^{n_sel} selector vectors exceed the limit "
                             f"{limit} for listing vertices; use the MILP separation")
        dense = self.rows.toarray()
        out = []
        for bits in itertools.product((0.0, 1.0), repeat=n_sel):
            s = np.array(bits)
            if np.all(dense @ s <= self.rhs + 1e-9):
                out.append(self.point(s))
        return np.unique(np.round(np.array(out), 12), axis=0)


class UncertaintySet(ABC):
    """A bounded set ``U`` of uncertain vectors ``u`` of dimension :attr:`dim`."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension ``n`` of ``u``."""

    @abstractmethod
    def nominal(self) -> np.ndarray:
        """A point of the set: the first worst case the master sees."""

    @abstractmethod
    def contains(self, u: np.ndarray, tol: float = 1e-7) -> bool:
        """Whether ``u`` lies in the set (within ``tol``)."""

    def expansion(self) -> BinaryExpansion | None:
        """Binary selectors reaching every vertex, or ``None`` (then vertices are listed)."""
        return None

    @abstractmethod
    def vertices(self, limit: int = MAX_VERTEX_CANDIDATES) -> np.ndarray:
        """The vertices (rows), for the exact separation by enumeration."""


def _vector(value: float | Sequence[float] | np.ndarray, n: int, name: str) -> np.ndarray:
    out = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy() \
        if np.ndim(value) == 0 else np.asarray(value, dtype=float).ravel()
    if out.shape != (n,):
        raise InputError(f"uncertainty set: {name} has {out.size} values, expected {n}")
    if not np.all(np.isfinite(out)):
        raise InputError(f"uncertainty set: {name} must be finite, got {out.tolist()}")
    return out


@dataclass(frozen=True)
class BoxSet(UncertaintySet):
    """``U = {u : lower <= u <= upper}``.

    Parameters
    ----------
    lower, upper : array_like, shape (n,)
        Finite bounds, ``lower <= upper``.
    nominal_point : array_like, optional
        The first worst case; default the centre.
    """

    lower: np.ndarray
    upper: np.ndarray
    nominal_point: np.ndarray | None = None

    def __post_init__(self) -> None:
        lower = _vector(self.lower, np.size(self.lower), "lower")
        upper = _vector(self.upper, lower.size, "upper")
        if np.any(lower > upper):
            j = int(np.argmax(lower > upper))
            raise InputError(f"box set: lower[{j}] = {lower[j]} > upper[{j}] = {upper[j]}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        nominal = (lower + upper) / 2 if self.nominal_point is None else _vector(
            self.nominal_point, lower.size, "nominal_point")
        if not self._inside(nominal, 1e-9):
            raise InputError("box set: nominal_point lies outside the box")
        object.__setattr__(self, "nominal_point", nominal)

    @property
    def dim(self) -> int:
        return self.lower.size

    def _inside(self, u: np.ndarray, tol: float) -> bool:
        return bool(np.all(u >= self.lower - tol) and np.all(u <= self.upper + tol))

    def nominal(self) -> np.ndarray:
        return self.nominal_point.copy()

    def contains(self, u: np.ndarray, tol: float = 1e-7) -> bool:
        return self._inside(np.asarray(u, dtype=float), tol)

    def expansion(self) -> BinaryExpansion:
        moving = np.flatnonzero(self.upper > self.lower)
        return BinaryExpansion(self.lower.copy(), moving, (self.upper - self.lower)[moving],
                               sp.csr_array((0, moving.size)), np.zeros(0))

    def vertices(self, limit: int = MAX_VERTEX_CANDIDATES) -> np.ndarray:
        return self.expansion().points(limit)



@dataclass(frozen=True)
class BudgetSet(UncertaintySet):
    """Budget (cardinality) set of Bertsimas and Sim.

    ``U = {z : 0 <= z_j <= 1, sum_{j in G} z_j <= Gamma_G for every group G}``, or with
    ``symmetric=True`` ``-1 <= z_j <= 1`` and ``sum_{j in G} |z_j| <= Gamma_G``. The groups
    are disjoint; a coordinate in no group is bounded by the box only. ``z`` is the scaled
    deviation: the model writes ``data = nominal + deviation * z``.

    Parameters
    ----------
    n : int
        Dimension.
    gamma : float or sequence of float
        Budget ``Gamma_G >= 0`` of each group (one value for all groups). A fractional budget
        is exact too: a vertex then has one coordinate at ``Gamma - floor(Gamma)``.
    groups : sequence of sequence of int, optional
        Disjoint index groups; default one group of all coordinates.
    symmetric : bool
        Deviations in both directions.
    """

    n: int
    gamma: float | Sequence[float]
    groups: tuple[tuple[int, ...], ...] | None = None
    symmetric: bool = False
    _gammas: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise InputError(f"budget set: n must be an integer >= 0, got {self.n!r}")
        groups = (tuple(range(self.n)),) if self.groups is None else tuple(
            tuple(int(j) for j in g) for g in self.groups)
        seen = [j for g in groups for j in g]
        if len(seen) != len(set(seen)) or any(j < 0 or j >= self.n for j in seen):
            raise InputError(f"budget set: groups must be disjoint indices in 0..{self.n - 1}")
        gammas = np.atleast_1d(np.asarray(self.gamma, dtype=float))
        if gammas.size == 1:
            gammas = np.repeat(gammas, len(groups))
        if gammas.size != len(groups):
            raise InputError(f"budget set: {gammas.size} budgets for {len(groups)} groups")
        if not np.all(np.isfinite(gammas)) or np.any(gammas < 0):
            raise InputError(f"budget set: every budget Gamma must be a finite number >= 0, "
                             f"got {gammas.tolist()}")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "_gammas", gammas)

    @property
    def dim(self) -> int:
        return int(self.n)

    def nominal(self) -> np.ndarray:
        return np.zeros(self.n)

    def contains(self, u: np.ndarray, tol: float = 1e-7) -> bool:
        u = np.asarray(u, dtype=float)
        low = -1.0 if self.symmetric else 0.0
        if np.any(u < low - tol) or np.any(u > 1 + tol):
            return False
        return all(np.abs(u[list(g)]).sum() <= gam + tol
                   for g, gam in zip(self.groups, self._gammas))

    def expansion(self) -> BinaryExpansion:
        """Selectors per coordinate and sign: an integer one (step 1) and, in a group with a
        fractional budget ``Gamma = k + theta``, a fractional one (step ``theta``); per
        coordinate at most one selector is on, per group at most ``k`` integer and one
        fractional selector."""
        signs = (1.0, -1.0) if self.symmetric else (1.0,)
        coord: list[int] = []
        step: list[float] = []
        rows: list[list[int]] = []
        rhs: list[float] = []
        grouped = {j: g for g, members in enumerate(self.groups) for j in members}
        per_coord: dict[int, list[int]] = {j: [] for j in range(self.n)}
        per_group_int: dict[int, list[int]] = {g: [] for g in range(len(self.groups))}
        per_group_frac: dict[int, list[int]] = {g: [] for g in range(len(self.groups))}
        for j in range(self.n):
            g = grouped.get(j)
            whole, theta = 1, 0.0
            if g is not None:
                gamma = float(self._gammas[g])
                if math.floor(gamma) < len(self.groups[g]):
                    whole, theta = math.floor(gamma), gamma - math.floor(gamma)
            for sign in signs:
                if whole > 0:
                    per_coord[j].append(len(coord))
                    if g is not None:
                        per_group_int[g].append(len(coord))
                    coord.append(j)
                    step.append(sign)
                if theta > 1e-12:
                    per_coord[j].append(len(coord))
                    per_group_frac[g].append(len(coord))
                    coord.append(j)
                    step.append(sign * theta)
        for sels in per_coord.values():
            if len(sels) > 1:
                rows.append(sels)
                rhs.append(1.0)
        for g, sels in per_group_int.items():
            whole = math.floor(float(self._gammas[g]))
            if sels and whole < len(self.groups[g]):
                rows.append(sels)
                rhs.append(float(whole))
        for sels in per_group_frac.values():
            if len(sels) > 1:
                rows.append(sels)
                rhs.append(1.0)
        matrix = sp.csr_array(
            (np.ones(sum(map(len, rows))), np.concatenate([np.array(r, int) for r in rows])
             if rows else np.zeros(0, int), np.cumsum([0] + [len(r) for r in rows])),
            shape=(len(rows), len(coord)))
        return BinaryExpansion(np.zeros(self.n), np.array(coord, dtype=int),
                               np.array(step, dtype=float), matrix, np.array(rhs, dtype=float))

    def vertices(self, limit: int = MAX_VERTEX_CANDIDATES) -> np.ndarray:
        return self.expansion().points(limit)



@dataclass(frozen=True)
class PolyhedralSet(UncertaintySet):
    """A bounded polyhedron ``U = {u : A u <= b, lower <= u <= upper}``.

    Its vertices are enumerated once (every choice of ``n`` linearly independent active
    constraints, kept if the point is feasible); the separation evaluates the recourse at
    each vertex, which is exact and needs no bound on dual variables. Creation checks that
    the polyhedron is non-empty and bounded.

    Parameters
    ----------
    a : array_like, shape (m, n)
    b : array_like, shape (m,)
    lower, upper : array_like, shape (n,), optional
        Bounds (``-inf`` / ``inf`` allowed if the rows bound the set).
    """

    a: np.ndarray
    b: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    _vertices: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a = np.atleast_2d(np.asarray(self.a, dtype=float))
        m, n = a.shape
        b = np.asarray(self.b, dtype=float).ravel()
        if b.size != m:
            raise InputError(f"polyhedral set: b has {b.size} values for {m} rows of A")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise InputError("polyhedral set: A and b must be finite")
        lower = np.full(n, -np.inf) if self.lower is None else np.asarray(
            self.lower, dtype=float).ravel()
        upper = np.full(n, np.inf) if self.upper is None else np.asarray(
            self.upper, dtype=float).ravel()
        if lower.size != n or upper.size != n:
            raise InputError(f"polyhedral set: bounds must have {n} values")
        for name, value in (("a", a), ("b", b), ("lower", lower), ("upper", upper)):
            object.__setattr__(self, name, value)
        self._check_bounded()
        object.__setattr__(self, "_vertices", self._enumerate())

    @property
    def dim(self) -> int:
        return self.a.shape[1]

    def _lp(self, cost: np.ndarray) -> tuple[str, np.ndarray]:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        m, n = self.a.shape
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = cost
        lp.col_lower_ = np.where(np.isfinite(self.lower), self.lower, -INF)
        lp.col_upper_ = np.where(np.isfinite(self.upper), self.upper, INF)
        lp.row_lower_ = np.full(m, -INF)
        lp.row_upper_ = self.b
        csc = sp.csc_array(self.a)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = csc.indptr
        lp.a_matrix_.index_ = csc.indices
        lp.a_matrix_.value_ = csc.data
        h.passModel(lp)
        h.run()
        return h.modelStatusToString(h.getModelStatus()), np.array(h.getSolution().col_value)

    def _check_bounded(self) -> None:
        status, _ = self._lp(np.zeros(self.dim))
        if status != "Optimal":
            raise InputError(f"polyhedral set: the polyhedron {{u : A u <= b, lower <= u <= "
                             f"upper}} is empty (HiGHS: {status})")
        for j in range(self.dim):
            for sign in (1.0, -1.0):
                cost = np.zeros(self.dim)
                cost[j] = sign
                status, _ = self._lp(cost)
                if status != "Optimal":
                    raise InputError(f"polyhedral set: unbounded along u[{j}]; add bounds")

    def _enumerate(self) -> np.ndarray:
        n = self.dim
        rows = [self.a, np.eye(n)[np.isfinite(self.upper)], -np.eye(n)[np.isfinite(self.lower)]]
        rhs = [self.b, self.upper[np.isfinite(self.upper)], -self.lower[np.isfinite(self.lower)]]
        a, b = np.vstack(rows), np.concatenate(rhs)
        if math.comb(len(b), n) > MAX_VERTEX_CANDIDATES:
            raise InputError(f"polyhedral set: C({len(b)}, {n}) active sets to try exceed "
                             f"{MAX_VERTEX_CANDIDATES}; write the set as a budget or box set")
        scale = 1.0 + np.abs(b).max(initial=0.0)
        found = []
        for active in itertools.combinations(range(len(b)), n):
            sub = a[list(active)]
            if abs(np.linalg.det(sub)) < 1e-12:
                continue
            u = np.linalg.solve(sub, b[list(active)])
            if np.all(a @ u <= b + 1e-9 * scale):
                found.append(u)
        return np.unique(np.round(np.array(found), 10), axis=0)

    def nominal(self) -> np.ndarray:
        return self._vertices.mean(axis=0)

    def contains(self, u: np.ndarray, tol: float = 1e-7) -> bool:
        u = np.asarray(u, dtype=float)
        return bool(np.all(self.a @ u <= self.b + tol) and np.all(u >= self.lower - tol)
                    and np.all(u <= self.upper + tol))

    def vertices(self, limit: int = MAX_VERTEX_CANDIDATES) -> np.ndarray:
        return self._vertices.copy()

