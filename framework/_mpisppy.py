"""Import mpi-sppy quietly: nothing on stdout, no log files in the working directory.

mpi-sppy prints a start-up line on import and logs to a handler bound to stdout (either
would corrupt ``--json`` output), and several of its modules open a log file in the
working directory when imported (``hub.log``, ``xhatclp.log``, ``xhateval.log``; empty at
their CRITICAL level). Here the start-up line is swallowed, the console handler writes to
stderr, and those module loggers get no file. Modules of this package take mpi-sppy's
names from here, so that the first import of mpi-sppy in a process is always this one.
"""

import contextlib
import io
import logging
import sys

with contextlib.redirect_stdout(io.StringIO()):
    import mpisppy
    import mpisppy.log


def _setup_logger(name: str, out: object, level: int = logging.DEBUG, mode: str = "w",
                  fmt: str | None = None) -> None:
    """mpi-sppy's ``setup_logger`` without the file: the level, and no output."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    logger.addHandler(logging.NullHandler())


mpisppy.log.setup_logger = _setup_logger
for _handler in logging.getLogger("mpisppy").handlers:
    if isinstance(_handler, logging.StreamHandler) and _handler.stream is sys.stdout:
        _handler.setStream(sys.stderr)

from mpisppy import MPI
from mpisppy.convergers.converger import Converger
from mpisppy.extensions.extension import Extension, MultiExtension
from mpisppy.utils import sputils

__all__ = ["MPI", "Converger", "Extension", "MultiExtension", "sputils"]
