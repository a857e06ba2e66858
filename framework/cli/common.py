"""What every ``sesplan`` command shares: the system and scenario inputs, the rank-0 rule
under MPI, refused outputs, the one JSON document of ``--json``, and certification."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import io
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from framework.errors import InputError
from framework.system import System, default_system_path, load_system, stored_system

log = logging.getLogger("sesplan")


def system_of(path: str | None, args: argparse.Namespace | None = None,
            scenarios: Any = None) -> System:
    """The system of a TOML file; without one, the system stored in the scenario file
    (``scenarios``, when it says which it was made for), else the shipped one. The
    architecture options given on the command line (``--storage``, ``--station``,
    ``--exchange``, ``--forbid-simultaneous``) replace its ``[planning]`` values."""
    stored = None
    if not path and scenarios is not None:
        stored = stored_system(scenarios.attrs, where=str(getattr(args, "scenarios", "")))
        if stored is not None:
            log.info("system %r from the scenario file", stored.name)
    system = stored or load_system(path if path else default_system_path())
    if args is None:
        return system
    chosen = given(storage=getattr(args, "storage", None), station=getattr(args, "station", None),
                   exchange=getattr(args, "exchange", None),
                   forbid_simultaneous=getattr(args, "forbid_simultaneous", None) or None)
    try:
        return dataclasses.replace(system, planning=dataclasses.replace(system.planning,
                                                                        **chosen))
    except InputError as err:
        raise InputError(f"--{err}") from None


#: Environment variables that MPI launchers set to a process's rank and to the world size.
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")


def one_process(what: str) -> bool:
    """Whether this process should run ``what``, a command that runs in one process: under
    ``mpiexec -n N`` (or ``srun``) rank 0 does it and warns, the other ranks do nothing and
    write nothing (before, every rank solved and wrote the same file)."""
    rank = next((int(os.environ[v]) for v in RANK_VARIABLES if v in os.environ), 0)
    size = next((int(os.environ[v]) for v in SIZE_VARIABLES if v in os.environ), 1)
    if size > 1 and rank == 0:
        log.warning("%s runs in one process: rank 0 of %d does it, the other ranks wait for "
                    "nothing (use --method ph to spread a plan over ranks)", what, size)
    return rank == 0


class NotCertified(Exception):
    """A command finished and wrote its result, but a cost in it is not proven optimal."""


def require_certified(ds: Any) -> None:
    """Raise :class:`NotCertified` (exit status 4) when a result of ``ds`` is not certified
    (:func:`framework.results.certification`); the result was written and printed."""
    from framework.results import summary

    s = summary(ds)
    if not s["certified"]:
        raise NotCertified("; ".join(f"{mode}: {row['not_certified_because']}"
                                     for mode, row in s["modes"].items()
                                     if not row["certified"]))


def system_and_scenarios(args: argparse.Namespace) -> tuple[System, Any]:
    """The scenario file of ``--scenarios`` and the system to plan it with (:func:`system_of`)."""
    from scenarios_gen.scenarios import read_scenarios

    scenarios = read_scenarios(args.scenarios)
    return system_of(args.system, args, scenarios), scenarios


def modes(system: System) -> list[str]:
    """The architectures that the system's planning choices name."""
    return system.planning.architectures


def print_json(data: Any, sort_keys: bool = True) -> None:
    """The one JSON document of ``--json``, on the stream :func:`stdout_for_json` keeps."""
    print(json.dumps(data, indent=2, sort_keys=sort_keys), file=_JSON_OUT.get(),
          flush=True)


_JSON_OUT: contextvars.ContextVar[TextIO] = contextvars.ContextVar("json_out",
                                                                   default=sys.stdout)


@contextlib.contextmanager
def stdout_for_json() -> Iterator[None]:
    """While a ``--json`` command runs, everything written to standard output, by Python or
    by a solver's C code on file descriptor 1 (HiGHS prints its banner there), goes to
    standard error; the JSON document alone goes to the real standard output."""
    out = sys.stdout
    try:
        on_fd1 = out.fileno() == 1
    except (AttributeError, OSError, io.UnsupportedOperation):
        on_fd1 = False
    out.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    json_out = os.fdopen(os.dup(saved), "w") if on_fd1 else out
    token = _JSON_OUT.set(json_out)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stdout = out
        _JSON_OUT.reset(token)
        os.dup2(saved, 1)
        os.close(saved)
        if on_fd1:
            json_out.close()


def check_output(output: str | Path, option: str = "-o", **inputs: str | Path | None) -> None:
    """Refuse an output path that is one of the inputs (it would be replaced), or that
    cannot be written (a directory, under a file, a folder where no file can be made: no
    permission, a read-only or special file system), before anything is solved."""
    out = Path(output)
    for name, path in inputs.items():
        if path is not None and Path(path).exists() and out.exists() \
                and out.resolve() == Path(path).resolve():
            raise InputError(f"{option} {output}: is the input of {name}; it would be "
                             "replaced (choose another output file)")
    if out.is_dir():
        raise InputError(f"{option} {output}: is a directory; expected a file name")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is None:
        return
    if not parent.is_dir():
        raise InputError(f"{option} {output}: {parent} is a file, not a folder")
    try:  # the one way to know that a file can be made there: make one
        fd, probe = tempfile.mkstemp(prefix=".sesplan-probe.", dir=parent)
    except OSError as err:
        raise InputError(f"{option} {output}: no file can be written in {parent} "
                         f"({err.strerror})") from None
    os.close(fd)
    os.remove(probe)


def given(**options: Any) -> dict[str, Any]:
    """The options that are not ``None`` (command-line values the user gave)."""
    return {k: v for k, v in options.items() if v is not None}


def mpi_root(args: argparse.Namespace) -> bool:
    """Whether this is MPI rank 0 (the only one that logs, writes and prints); other ranks
    log warnings only, and the per-solve lines of the extensive form need ``--verbose``."""
    from framework.game.values import rank_zero

    root = rank_zero()
    if not root:
        logging.getLogger().setLevel(logging.WARNING)
    if not args.verbose:
        logging.getLogger("framework.solve.ef").setLevel(logging.WARNING)
    return root


def floats(text: str | None, name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def solver_settings_of(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """The solver settings of a command's options (``--threads``, ``--mip-rel-gap``,
    ``--total-time-limit``, ``--solver-log``, ``--highs-option``) for the whole command; a
    command without them solves nothing."""
    if not hasattr(args, "highs_option"):
        return contextlib.nullcontext()
    from framework.solve.settings import parse_option, solver_settings

    if args.solver_log is not None:
        check_output(args.solver_log, "--solver-log")
    options = dict(parse_option(text) for text in args.highs_option)
    return solver_settings(threads=args.threads, mip_rel_gap=args.mip_rel_gap,
                           total_time_limit_s=args.total_time_limit, log_file=args.solver_log,
                           highs_options=options)


def emit(args: argparse.Namespace, ds: Any, summary: Any, table: Any) -> None:
    """Write ``ds`` to ``args.output`` (atomically), then print ``summary(ds)`` as the one
    JSON document of ``--json``, or ``table(ds)``."""
    from framework.results import write_result

    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        print_json(summary(ds))
    else:
        print(table(ds))
