"""Logging helpers: keep chatty third-party loggers quiet for a block."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet(*names: str, level: int = logging.WARNING) -> Iterator[None]:
    """Raise the level of the loggers ``names`` to ``level`` inside the block (font
    subsetting when a PDF is saved, HiGHS's per-solve report through Pyomo, ...)."""
    loggers = [logging.getLogger(name) for name in names]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        for logger, old in zip(loggers, before):
            logger.setLevel(old)
