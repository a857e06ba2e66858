"""The exception types a user sees: bad input (files, keys, values), and a solver that ended
without a usable solution, and an output that could not be written.

The CLI prints an :class:`InputError` as one line, without a traceback; every message names
where the problem is (file, key or column, row or time) and what was expected.
"""


class InputError(ValueError):
    """A user-supplied file, key or value is wrong; the message says where and why."""


class SolveError(RuntimeError):
    """The solver ended without a usable solution (infeasible, unbounded, no incumbent);
    ``status`` is HiGHS's model status in words where one is known."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class WriteError(OSError):
    """An output file could not be written (full disk, permissions, a read-only file
    system); the message names the file, and whatever was there before is unchanged."""
