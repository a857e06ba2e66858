"""The exception types a user sees: bad input (files, keys, values), and a solver that ended
without a usable solution.

The CLI prints an :class:`InputError` as one line, without a traceback; every message names
where the problem is (file, key or column, row or time) and what was expected.
"""


class InputError(ValueError):
    """A user-supplied file, key or value is wrong; the message says where and why."""


class SolveError(RuntimeError):
    """The solver ended without a usable solution (infeasible, unbounded, no incumbent)."""
