"""Inputs and errors under MPI: every rank reads, one line reaches the user, no rank hangs.

Under ``mpiexec`` every rank of a PH run reads the system and the scenario file itself. If
one rank fails alone (an unreadable file, a different file), the others would wait for it
in the first collective call for ever. :func:`load_everywhere` makes the failure
collective: every rank learns it, rank 0 raises it (naming the rank where it happened) and
the other ranks exit quietly. :func:`stop_everywhere` does the same for an error that all
ranks raise together. Both shut MPI down first, so that ``python -m mpi4py`` exits with
the status instead of calling ``MPI_Abort`` (whose report would add lines to the one
error line).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import numpy as np
import xarray as xr

from framework._mpisppy import MPI
from framework.errors import InputError
from framework.system import System, system_to_dict

T = TypeVar("T")

def _finalize(comm: Any) -> None:
    if comm.Get_size() > 1:
        comm.Barrier()
        MPI.Finalize()


def stop_everywhere(err: Exception, comm: Any = None) -> NoReturn:
    """End every rank after ``err``, raised on all of them: rank 0 raises it, the others
    exit silently with the same status as the command line would (2 for
    :class:`~framework.errors.InputError`, else 3)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    rank = comm.Get_rank()
    _finalize(comm)
    if rank == 0:
        raise err
    raise SystemExit(2 if isinstance(err, InputError) else 3)


def load_everywhere(load: Callable[[], T], comm: Any = None) -> T:
    """Call ``load`` on every rank; an :class:`~framework.errors.InputError` on any rank
    stops every rank (:func:`stop_everywhere`) with the message of the lowest failing rank.
    """
    comm = MPI.COMM_WORLD if comm is None else comm
    try:
        value, error = load(), None
    except InputError as err:
        value, error = None, str(err)
    failed = [(rank, msg) for rank, msg in enumerate(comm.allgather(error)) if msg is not None]
    if failed:
        rank, msg = failed[0]
        stop_everywhere(InputError(msg if comm.Get_size() == 1 else f"MPI rank {rank}: {msg}"),
                        comm)
    return value


def fingerprint(system: System, scenarios: xr.Dataset) -> str:
    """A hash of the system and of the scenario probabilities and profiles."""
    h = hashlib.sha256(json.dumps(system_to_dict(system), sort_keys=True).encode())
    for name in ("probability", "load_kw", "pv_pu", "wind_pu"):
        h.update(np.ascontiguousarray(scenarios[name].values, dtype=float).tobytes())
    return h.hexdigest()


def check_same_inputs(system: System, scenarios: xr.Dataset, comm: Any = None) -> None:
    """Every rank must hold the same system and scenarios; else all stop with an
    :class:`~framework.errors.InputError` naming the first rank that differs from rank 0."""
    comm = MPI.COMM_WORLD if comm is None else comm
    prints = comm.allgather(fingerprint(system, scenarios))
    odd = [rank for rank, p in enumerate(prints) if p != prints[0]]
    if odd:
        stop_everywhere(InputError(
            f"MPI rank {odd[0]} read another system or scenario set than rank 0; every rank "
            "must read the same files (same paths on a shared file system)"), comm)
