"""Import mpi-sppy without its start-up line on stdout (it would corrupt ``--json`` output)."""

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    import mpisppy  # noqa: F401  (prints "Initializing mpi-sppy" on import)

from mpisppy.utils import sputils

__all__ = ["sputils"]
