"""Import mpi-sppy without its start-up line on stdout (it would corrupt ``--json`` output).

Modules of this package take mpi-sppy's names from here, so that the first import of
mpi-sppy in a process is always this one.
"""

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    import mpisppy  # noqa: F401  (prints "Initializing mpi-sppy" on import)

from mpisppy import MPI
from mpisppy.convergers.converger import Converger
from mpisppy.extensions.extension import Extension, MultiExtension
from mpisppy.utils import sputils

__all__ = ["MPI", "Converger", "Extension", "MultiExtension", "sputils"]
