"""Solver settings that every HiGHS solve of a run obeys, whatever the method.

A run (a CLI command, or a ``with solver_settings(...)`` block in Python) sets them once;
every HiGHS instance that sesplan creates (extensive form, the least-exchange re-solve,
C&CG's master and separation, PH's subproblems, the allocation and lease solves) passes
through :func:`configure`, and every run of HiGHS through :func:`run_highs`:

* ``threads``: HiGHS's ``threads`` option;
* ``mip_rel_gap``: HiGHS's relative MIP gap (models with binaries: forbidden simultaneous
  charge and discharge, separation problems);
* ``total_time_limit_s``: one limit for the whole run, counted from the start of the block:
  each solve gets what is left (``min`` with its own per-solve limit); a solve stopped by it
  ends with HiGHS's time limit and its result is marked not certified;
* ``log_file``: HiGHS's log of every solve, appended to one file (HiGHS's own ``log_file``
  option would start the file again at each solve);
* ``highs_options``: any other HiGHS option by name (as PyPSA's ``solver_options``), checked
  against HiGHS when the settings are made: an unknown name or a value of the wrong type is
  an :class:`~framework.errors.InputError`.

:func:`run_highs` runs HiGHS in a worker thread (``highspy`` releases the interpreter lock)
with an interrupt callback, so Ctrl-C stops a long solve at once: the solve is interrupted
and ``KeyboardInterrupt`` raised in the caller, instead of waiting for the solve to end.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import highspy

from framework.errors import InputError

log = logging.getLogger(__name__)

#: Options that sesplan sets itself on each solve, or that would break reading the solution.
RESERVED = frozenset({"output_flag", "log_to_console", "log_file", "time_limit"})


@dataclass(frozen=True)
class SolverSettings:
    """See the module docstring. ``deadline`` is the ``time.monotonic()`` at which the total
    time limit ends (``None``: no total limit)."""

    threads: int | None = None
    mip_rel_gap: float | None = None
    total_time_limit_s: float | None = None
    log_file: Path | None = None
    highs_options: Mapping[str, Any] = field(default_factory=dict)
    deadline: float | None = None


#: The HiGHS callbacks through which a solve can be interrupted.
INTERRUPT_CALLBACKS = ("cbSimplexInterrupt", "cbIpmInterrupt", "cbMipInterrupt")

_SETTINGS: contextvars.ContextVar[SolverSettings | None] = contextvars.ContextVar(
    "solver_settings", default=None)
_LOG: contextvars.ContextVar[TextIO | None] = contextvars.ContextVar("solver_log", default=None)


def check_highs_options(options: Mapping[str, Any], where: str = "highs option") -> dict:
    """``options`` checked against HiGHS (a name it knows, a value of the right type)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    out = {}
    for name, value in options.items():
        if name in RESERVED:
            raise InputError(f"{where} {name}: set by sesplan itself (use --time-limit, "
                             "--total-time-limit, --solver-log or -v)")
        try:
            status = h.setOptionValue(str(name), value)
        except (TypeError, RuntimeError) as err:
            raise InputError(f"{where} {name}={value!r}: not accepted by HiGHS ({err})") \
                from None
        if status != highspy.HighsStatus.kOk:
            raise InputError(f"{where} {name}={value!r}: HiGHS has no option of this name, or "
                             "it does not take this value (see the HiGHS options list)")
        out[str(name)] = value
    return out


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--highs-option``: the value as a bool, int, float or string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise InputError(f"--highs-option {text!r}: expected KEY=VALUE, e.g. presolve=off")
    raw = raw.strip()
    value: Any = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                pass
    return name.strip(), value


@contextlib.contextmanager
def solver_settings(threads: int | None = None, mip_rel_gap: float | None = None,
                    total_time_limit_s: float | None = None, log_file: str | Path | None = None,
                    highs_options: Mapping[str, Any] | None = None) -> Iterator[SolverSettings]:
    """Within the block, every HiGHS solve obeys these settings (see the module docstring).

    The total time limit starts when the block is entered; the log file is opened for
    appending and closed at the end.
    """
    if threads is not None and threads < 1:
        raise InputError(f"threads: expected an integer >= 1, got {threads}")
    if mip_rel_gap is not None and not 0 <= mip_rel_gap < 1:
        raise InputError(f"mip_rel_gap: expected a number in [0, 1), got {mip_rel_gap}")
    if total_time_limit_s is not None and not total_time_limit_s > 0:
        raise InputError(f"total time limit: expected a number > 0, got {total_time_limit_s}")
    settings = SolverSettings(
        threads=threads, mip_rel_gap=mip_rel_gap, total_time_limit_s=total_time_limit_s,
        log_file=Path(log_file) if log_file is not None else None,
        highs_options=check_highs_options(highs_options or {}),
        deadline=(time.monotonic() + total_time_limit_s
                  if total_time_limit_s is not None else None))
    with contextlib.ExitStack() as stack:
        stream = None
        if settings.log_file is not None:
            try:
                stream = stack.enter_context(open(settings.log_file, "a", encoding="utf-8"))
            except OSError as err:
                raise InputError(f"solver log {settings.log_file}: cannot be written "
                                 f"({err.strerror})") from None
        token, log_token = _SETTINGS.set(settings), _LOG.set(stream)
        try:
            yield settings
        finally:
            _SETTINGS.reset(token)
            _LOG.reset(log_token)


def current() -> SolverSettings:
    """The settings in force (defaults outside any :func:`solver_settings` block)."""
    return _SETTINGS.get() or SolverSettings()


def option_value(h: highspy.Highs, name: str) -> Any:
    """A HiGHS option's value (``getOptionValue`` returns ``(status, value)`` in some highspy
    versions and the value alone in others)."""
    value = h.getOptionValue(name)
    return value[1] if isinstance(value, tuple) else value


def describe() -> dict[str, Any]:
    """The settings in force that change a solve, for a result's provenance: threads, MIP
    gap, total time limit and the HiGHS options (the log file changes nothing)."""
    s = current()
    out: dict[str, Any] = {k: v for k, v in (("threads", s.threads),
                                             ("mip_rel_gap", s.mip_rel_gap),
                                             ("total_time_limit_s", s.total_time_limit_s))
                           if v is not None}
    if s.highs_options:
        out["highs_options"] = dict(s.highs_options)
    return out


def remaining_s() -> float | None:
    """Seconds left of the total time limit (``None`` without one; at least a millisecond,
    so that a solve started after the deadline stops at once with a time limit)."""
    deadline = current().deadline
    return None if deadline is None else max(deadline - time.monotonic(), 1e-3)


def time_limit(per_solve_s: float | None) -> float | None:
    """The limit of one solve: its own, capped by what is left of the total."""
    left = remaining_s()
    if left is None:
        return per_solve_s
    return left if per_solve_s is None else min(per_solve_s, left)


def configure(h: highspy.Highs, time_limit_s: float | None = None,
              verbose: bool | None = None) -> highspy.Highs:
    """Apply the settings in force to ``h``: threads, MIP gap, the HiGHS options, the time
    limit (``time_limit_s`` capped by the total), and the log (to the console under ``-v``,
    to the solver log file when one is set). Returns ``h``."""
    settings = current()
    stream = _LOG.get()
    console = log.isEnabledFor(logging.DEBUG) if verbose is None else verbose
    h.setOptionValue("output_flag", bool(console or stream is not None))
    h.setOptionValue("log_to_console", bool(console))
    if stream is not None:
        h.cbLogging.subscribe(lambda event: stream.write(event.message))
    if settings.threads is not None:
        h.setOptionValue("threads", int(settings.threads))
    if settings.mip_rel_gap is not None:
        h.setOptionValue("mip_rel_gap", float(settings.mip_rel_gap))
    for name, value in settings.highs_options.items():
        h.setOptionValue(name, value)
    limit = time_limit(time_limit_s)
    h.setOptionValue("time_limit", float(limit) if limit is not None else highspy.kHighsInf)
    return h


def run_highs(h: highspy.Highs) -> highspy.HighsModelStatus:
    """``h.run()`` that Ctrl-C interrupts at once: HiGHS runs in a worker thread with an
    interrupt callback; on ``KeyboardInterrupt`` in the main thread the solve is stopped,
    awaited, and the interrupt raised again. Returns the model status."""
    callbacks = [getattr(h, name, None) for name in INTERRUPT_CALLBACKS]
    if threading.current_thread() is not threading.main_thread() or None in callbacks:
        h.run()  # signals reach the main thread only; a highspy without callbacks
        return h.getModelStatus()
    stop = threading.Event()

    first = [True]

    def interrupt(event: Any) -> None:
        if stop.is_set():
            event.interrupt()
        elif first[0] and event.data_in is not None:
            # HiGHS keeps the interrupt flag of an earlier run of this instance: clear it at
            # this run's first check (other callbacks may set it again from then on)
            event.data_in.user_interrupt = False
        first[0] = False

    for callback in callbacks:
        callback.subscribe(interrupt)
    done = threading.Event()  # not Thread.join: a join that Ctrl-C interrupts can leave the
    failure: list[BaseException] = []  # thread marked finished (CPython < 3.13)

    def work() -> None:
        try:
            h.run()
        except BaseException as err:  # noqa: BLE001 (raised again in the caller)
            failure.append(err)
        finally:
            done.set()

    try:
        threading.Thread(target=work, name="highs", daemon=True).start()
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        stop.set()
        while not done.wait(0.1):  # HiGHS stops at its next interrupt check
            pass
        raise
    finally:
        for callback in callbacks:
            callback.unsubscribe(interrupt)
    if failure:
        raise failure[0]
    return h.getModelStatus()
