"""Atomic file writes: a temporary file in the target folder, then a rename.

A temporary is named ``.<name>.<host>.<pid>-<random>.tmp`` beside its target. A process that
is killed while writing (``SIGKILL``, a node failure) cannot remove it; the next write of the
same target on the same host removes the temporaries whose process no longer runs. A write
that fails (full disk, no permission, a read-only file system) raises :class:`WriteError`
naming the file, and leaves the target as it was.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from framework.errors import WriteError

log = logging.getLogger(__name__)

_UMASK = os.umask(0o022)  # the process umask (reading it means setting it), restored below
os.umask(_UMASK)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries of ``path`` left by killed writers on this host (their process
    no longer runs); temporaries of running writers and of other hosts stay. Returns the
    removed files."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(_host())}\.(\d+)-.*\.tmp")
    removed = []
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(tmp.name)
        if match and not _running(int(match.group(1))):
            log.warning("removing %s, left by a write that was killed", tmp)
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _glob_escape(name: str) -> str:
    """``name`` with the characters that :meth:`Path.glob` treats specially escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    On any exception the temporary file is removed and ``path`` is left untouched; an
    ``OSError`` (full disk, permissions, a folder that cannot be made) becomes a
    :class:`WriteError` naming ``path``. Temporaries of ``path`` left by killed writers are
    removed first (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_host()}.{os.getpid()}-",
                                   suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as err:
        reason = err.strerror or str(err)
        raise WriteError(f"{path}: could not be written ({reason}); a file there before is "
                         "unchanged") from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` as NetCDF-4, atomically."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def write_json(data: object, path: str | Path) -> Path:
    """Write ``data`` as indented JSON to ``path``, atomically (its folder made if missing);
    returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))
    return path


def write_if_changed(path: str | Path, data: bytes | str) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds exactly it.

    Returns whether the file was written. Outputs that are regenerated on every run (tables,
    figures) keep their bytes and their modification time when nothing changed.
    """
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == raw:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)
    return True

