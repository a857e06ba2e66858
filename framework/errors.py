"""The one exception type for bad user input (files, keys, values).

The CLI prints an :class:`InputError` as one line, without a traceback; every message names
where the problem is (file, key or column, row or time) and what was expected.
"""


class InputError(ValueError):
    """A user-supplied file, key or value is wrong; the message says where and why."""
