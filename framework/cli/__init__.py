"""The ``sesplan`` command: thin wrappers over the documented Python API.

Each subcommand reads its inputs, calls one library function and writes its output
atomically; a user mistake prints one line (``sesplan: error: ...``) and exits with 2.
``common`` holds what the commands share, ``parser`` the options and :func:`main`; the
commands live in ``plan``, ``commands`` (scenarios, evaluate, study, figures), ``game``
(allocate, lease) and ``demo``. Module-level imports stay light so ``sesplan --help`` loads
no solver code.
"""

from framework.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
