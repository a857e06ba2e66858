"""Settings of the C&CG engine: one frozen, validated dataclass holds every default."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from framework.errors import InputError

SEPARATIONS = ("auto", "milp", "vertices")


@dataclass(frozen=True)
class CCGConfig:
    """Limits and tolerances of :func:`framework.robust.solve_ccg`.

    Attributes
    ----------
    rel_gap : float
        Stop when ``(UB - LB) / max(|UB|, 1) <= rel_gap`` (default 1e-3, i.e. 0.1 %).
    max_iterations : int
        Most master solves.
    time_limit_s : float or None
        Wall-clock limit of the whole loop (s); the remaining time bounds every solve.
    separation : {"auto", "milp", "vertices"}
        Worst-case search: ``milp`` (recourse dual with binary selectors of the set's
        vertices, big-M bounds checked), ``vertices`` (the recourse LP at every vertex), or
        ``auto`` (``milp`` for box and budget sets, ``vertices`` for a polyhedron).
    separation_gap : float
        Relative MIP gap of a separation MILP; its dual bound enters the upper bound, so the
        bounds stay valid; it should be well below ``rel_gap``.
    master_gap : float
        Relative MIP gap of the master when the first stage has integers (its dual bound is
        the lower bound).
    bound_factor : float
        A big-M bound found active is widened by this factor and the MILP re-solved.
    max_widenings : int
        Most widenings per separation call; if a bound is still active after them the
        separation raises an error rather than return an inexact worst case.
    cut_tolerance : float
        A worst case is added to the master only if its cost exceeds the master's estimate
        by more than ``cut_tolerance * max(1, |cost|)``.
    heuristic_first : bool
        Try a fast ascent heuristic before the exact MILP separation: a worst case it finds
        above the master's estimate is added at once, and the MILP runs only for blocks
        where it finds none (the upper bound is updated in iterations where every block
        was solved exactly).
    ascent_starts : int
        Previous worst cases of a block used as extra starts of the ascent.
    ascent_evaluations : int
        Most recourse LPs per ascent (gradient steps and exchanges).
    probe_s : float
        Time of a separation MILP in the first of the two passes over the blocks when the
        heuristic found no cut (s): a MILP that finds a cut ends the round early.
    threads : int or None
        HiGHS threads per solve (None: HiGHS's default).
    """

    rel_gap: float = 1e-3
    max_iterations: int = 30
    time_limit_s: float | None = None
    separation: str = "auto"
    separation_gap: float = 1e-4
    master_gap: float = 1e-6
    bound_factor: float = 10.0
    max_widenings: int = 6
    cut_tolerance: float = 1e-7
    heuristic_first: bool = True
    ascent_starts: int = 4
    ascent_evaluations: int = 300
    probe_s: float = 5.0
    threads: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("separation", "time_limit_s", "threads", "heuristic_first") \
                    or value is None:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(
                    value) or value < 0:
                raise InputError(f"ccg config: {f.name} must be a finite number >= 0, "
                                 f"got {value!r}")
        if self.separation not in SEPARATIONS:
            raise InputError(f"ccg config: separation must be one of {SEPARATIONS}, "
                             f"got {self.separation!r}")
        if self.time_limit_s is not None and not (
                isinstance(self.time_limit_s, (int, float)) and self.time_limit_s > 0):
            raise InputError(f"ccg config: time_limit_s must be > 0, got {self.time_limit_s!r}")
        if not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise InputError(f"ccg config: max_iterations must be an integer >= 1, "
                             f"got {self.max_iterations!r}")
        if not isinstance(self.heuristic_first, bool):
            raise InputError(f"ccg config: heuristic_first must be true or false, "
                             f"got {self.heuristic_first!r}")
        if self.bound_factor <= 1:
            raise InputError(f"ccg config: bound_factor must be > 1, got {self.bound_factor}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise InputError(f"ccg config: threads must be an integer >= 1, got {self.threads!r}")
