"""Running a study: every case once, cached by the hash of its configuration.

``run_study(study.toml, out)`` writes

* ``out/cases/<hash>.nc``: one result per case, named by :meth:`Case.digest`; a case whose
  file exists is not solved again, a changed case gets a new hash (and the old file is
  removed); files are written atomically, so a killed run leaves no partial result (only
  temporaries, removed on the next run);
* ``out/.sesplan-<study>.json``: the manifest of what this study wrote there. Only files in
  it are ever removed (a case or figure the study no longer makes): a user's files and
  another study's in the same folder are left alone. ``out/.sesplan.lock`` keeps a second
  run out of the folder while one runs.
* ``out/summary.csv`` and ``out/summary.md``: one row per case and architecture (rule, price
  choice),
  failed cases with their error;
* ``out/figures/``: every figure the results allow (:mod:`framework.plotting`);
* the files of the study's report script, if it has one.

A failing case is logged and reported; the others still run. A second run of a finished
study solves nothing and rewrites nothing: every output is the same, byte for byte.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from framework.errors import InputError
from framework.io import write_if_changed, write_netcdf
from framework.study.config import Case, Study, load_study
from framework.study.tables import (
    headline_table,
    summary_csv,
    summary_dataset,
    summary_frame,
    summary_markdown,
)
from framework.study.tasks import check_case, result_rows, run_case

log = logging.getLogger(__name__)

CASES = "cases"
FIGURES = "figures"
DROPPED_ATTRS = ("created_utc",)
"""Attributes not stored in case files (a case file depends only on its configuration)."""


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one case in a run.

    Attributes
    ----------
    case : Case
    digest : str
        Hash of its configuration; the file is ``cases/<digest>.nc``.
    file : Path
    status : {"solved", "cached", "failed"}
    error : str
        One line, for a failed case.
    seconds : float
        Wall time of the case in this run (0 when cached).
    """

    case: Case
    digest: str
    file: Path
    status: str
    error: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class StudyResult:
    """A finished run: the study, its outcomes, the summary and the files written."""

    study: Study
    output_dir: Path
    outcomes: tuple[CaseOutcome, ...]
    summary: xr.Dataset
    outputs: tuple[Path, ...]

    def names(self, status: str) -> list[str]:
        """Names of the cases with ``status`` (``solved``, ``cached``, ``failed``)."""
        return [o.case.name for o in self.outcomes if o.status == status]

    @property
    def solved(self) -> list[str]:
        """Cases solved in this run."""
        return self.names("solved")

    @property
    def failed(self) -> list[str]:
        """Cases that failed in this run."""
        return self.names("failed")

    def outcome(self, base: str, **labels: str) -> CaseOutcome:
        """The outcome of the case from ``[[case]]`` ``base`` with these sweep labels."""
        found = [o for o in self.outcomes if o.case.base == base and all(
            o.case.labels.get(k) == v for k, v in labels.items())]
        if len(found) != 1:
            raise KeyError(f"{len(found)} cases match {base!r} with labels {labels}")
        return found[0]

    def dataset(self, base: str, **labels: str) -> xr.Dataset:
        """The result of the case from ``[[case]]`` ``base`` with these sweep labels."""
        outcome = self.outcome(base, **labels)
        if outcome.status == "failed":
            raise KeyError(f"case {outcome.case.name!r} failed: {outcome.error}")
        return read_case(outcome.file)


def read_case(path: Path) -> xr.Dataset:
    """A case result, loaded into memory."""
    with xr.open_dataset(path) as ds:
        return ds.load()


def _finished(path: Path, digest: str) -> bool:
    """Whether ``path`` is a complete result of the case with this digest."""
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path) as ds:
            return ds.attrs.get("case_hash") == digest
    except (OSError, ValueError) as err:
        log.warning("%s: unreadable (%s); solving the case again", path, err)
        return False


def _remove_temporaries(out: Path) -> None:
    """Temporaries of a run that was killed while writing (see :func:`framework.io.atomic_path`)."""
    if out.is_dir():
        for tmp in sorted(out.rglob(".*.tmp")):
            log.warning("removing %s, left by an interrupted run", tmp)
            tmp.unlink()


def solve_case(case: Case, digest: str, path: Path, study: Study) -> None:
    """Compute a case and write its result with the case's configuration in the attributes."""
    ds = run_case(case)
    attrs = {k: v for k, v in ds.attrs.items() if k not in DROPPED_ATTRS}
    attrs.update(study=study.name, case=case.name, case_base=case.base, case_hash=digest,
                 case_labels=json.dumps(dict(case.labels), sort_keys=True),
                 case_config=json.dumps(case.key(), sort_keys=True, default=str))
    ds.attrs = attrs
    write_netcdf(ds, path)


def _config_row(case: Case, outcome: CaseOutcome, out: Path) -> dict[str, Any]:
    s = case.scenarios
    row: dict[str, Any] = {"case": case.name, "base_case": case.base, **dict(case.labels),
                           "task": case.task, "method": case.method, "system": case.system,
                           "clusters": s.clusters, "cluster_method": s.method, "seed": s.seed,
                           "extreme_days": s.extreme_days, "all_days": int(s.all_days),
                           "sample_days": s.sample_days}
    row.update({f"option_{k}": v for k, v in case.options.items()
                if isinstance(v, (int, float, str)) and not isinstance(v, bool)})
    row.update(status="ok" if outcome.status != "failed" else "failed", error=outcome.error,
               hash=outcome.digest, file=outcome.file.relative_to(out).as_posix())
    return row


def _provenance(ds: xr.Dataset) -> dict[str, str]:
    versions = json.loads(ds.attrs.get("versions", "{}"))
    return {"git_commit": str(ds.attrs.get("git_commit", "")),
            "sesplan_version": str(versions.get("sesplan", ""))}


def _report(study: Study, result: StudyResult) -> Mapping[str, str]:
    """Run the study's report script: its ``report(result)`` returns ``{file: text}``."""
    path = study.path.parent / study.outputs.report
    spec = importlib.util.spec_from_file_location(f"sesplan_report_{study.name}", path)
    if spec is None or not path.is_file():
        raise InputError(f"{study.path}: outputs.report: {path} not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "report"):
        raise InputError(f"{study.path}: outputs.report: {path} has no report(result)")
    return module.report(result)


def run_study(path: str | Path, output_dir: str | Path | None = None, *,
              force: bool = False) -> StudyResult:
    """Run every case of a study that is not finished, then write the summary and figures.

    Parameters
    ----------
    path : path
        The ``study.toml``.
    output_dir : path, optional
        Default ``results/<study name>`` (relative to the working directory).
    force : bool
        Solve every case again (after a change of the model code: the cache key holds the
        configuration, not the code).

    Returns
    -------
    StudyResult
        Its ``summary`` is the dataset of ``summary.csv`` (dimension ``row``).

    Raises
    ------
    InputError
        The study file is wrong, or a case's method, options or system are (before anything
        is solved).
    """
    study = load_study(path)
    out = Path(output_dir) if output_dir is not None else Path("results") / study.name
    for case in study.cases:
        check_case(case)
    with _locked(out):
        return _run(study, out, force)


def _run(study: Study, out: Path, force: bool) -> StudyResult:
    """:func:`run_study` inside the folder's lock."""
    digests = [case.digest() for case in study.cases]
    before = _manifest(out, study)
    _remove_temporaries(out)
    outcomes: list[CaseOutcome] = []
    rows: list[dict[str, Any]] = []
    details: dict[str, str] = {}
    n = len(study.cases)
    for k, (case, digest) in enumerate(zip(study.cases, digests), start=1):
        file = out / CASES / f"{digest}.nc"
        start = time.perf_counter()
        if not force and _finished(file, digest):
            outcome = CaseOutcome(case, digest, file, "cached")
            log.info("[%d/%d] %s: finished before (%s)", k, n, case.name, file.name)
        else:
            log.info("[%d/%d] %s: solving", k, n, case.name)
            try:
                solve_case(case, digest, file, study)
            except Exception as err:  # a failed case is reported, the others still run
                message = f"{type(err).__name__}: {err}".splitlines()[0]
                log.error("[%d/%d] %s failed: %s", k, n, case.name, message)
                log.debug("traceback of %s", case.name, exc_info=True)
                outcome = CaseOutcome(case, digest, file, "failed", message,
                                      time.perf_counter() - start)
            else:
                outcome = CaseOutcome(case, digest, file, "solved",
                                      seconds=time.perf_counter() - start)
                log.info("[%d/%d] %s: solved in %.1f s -> %s", k, n, case.name,
                         outcome.seconds, file)
        outcomes.append(outcome)
        base = _config_row(case, outcome, out)
        if outcome.status == "failed":
            rows.append(base)
            continue
        ds = read_case(file)
        case_rows = result_rows(case.task, ds)
        rows += [{**base, **r, **_provenance(ds)} for r in case_rows]
        if case.task == "plan" and _wanted(case, study.outputs.details):
            details[case.name] = headline_table(case_rows)
        elif case.task != "plan" and _wanted(case, study.outputs.details):
            details[case.name] = _task_table(case.task, ds)
    cases = {f"{CASES}/{d}.nc" for d in digests}
    _prune(out, before.get("cases", []), cases, "result")
    frame = summary_frame(rows)
    written = [out / "summary.csv", out / "summary.md"]
    write_if_changed(written[0], summary_csv(frame))
    write_if_changed(written[1], summary_markdown(study, frame, details))
    result = StudyResult(study, out, tuple(outcomes), summary_dataset(frame), ())
    if study.outputs.figures:
        from framework.plotting import make_figures

        only = None if study.outputs.figures is True else study.outputs.figures
        figures = make_figures(out, out / FIGURES, only=only, cases=study.outputs.figure_cases)
        written += figures
    drawn = {str(p.relative_to(out)) for p in written if p.parent == out / FIGURES}
    _prune(out, before.get("figures", []), drawn, "figure")
    _write_manifest(out, study, {"cases": sorted(cases), "figures": sorted(drawn)})
    if study.outputs.report and not result.failed:
        for name, text in _report(study, result).items():
            write_if_changed(out / name, text)
            written.append(out / name)
    elif study.outputs.report:
        log.warning("report %s skipped: %d case(s) failed", study.outputs.report,
                    len(result.failed))
    log.info("%s: %d cases (%d solved, %d finished before, %d failed); summary in %s",
             study.name, n, len(result.solved), len(result.names("cached")),
             len(result.failed), out / "summary.md")
    return StudyResult(study, out, tuple(outcomes), result.summary, tuple(written))


def _wanted(case: Case, selection: bool | tuple[str, ...]) -> bool:
    if isinstance(selection, bool):
        return selection
    return case.name in selection or case.base in selection


def _task_table(task: str, ds: xr.Dataset) -> str:
    if task == "allocate":
        from framework.game import allocation_table

        return "```\n" + allocation_table(ds) + "\n```"
    from framework.lease import lease_game_table, lease_table

    table = lease_game_table if "game_method" in ds.attrs else lease_table
    return "```\n" + table(ds) + "\n```"


def _manifest_path(out: Path, study: Study) -> Path:
    return out / f".sesplan-{study.name}.json"


def _manifest(out: Path, study: Study) -> dict[str, list[str]]:
    """What this study wrote into ``out`` on its last run (empty if it never ran there)."""
    try:
        data = json.loads(_manifest_path(out, study).read_text())
    except (OSError, ValueError):
        return {}
    return {k: [str(p) for p in v] for k, v in data.items() if isinstance(v, list)}


def _write_manifest(out: Path, study: Study, files: Mapping[str, list[str]]) -> None:
    write_if_changed(_manifest_path(out, study), json.dumps(files, indent=1, sort_keys=True))


def _prune(out: Path, wrote: list[str], keep: set[str], what: str) -> None:
    """Remove the files this study wrote on its last run (``wrote``, from its manifest) that
    it no longer makes; nothing else in the folder is touched."""
    for name in sorted(set(wrote) - keep):
        path = out / name
        if path.is_file():
            log.info("removing stale %s %s", what, path)
            path.unlink()


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``out/.sesplan.lock`` while a study runs there; a second run is refused while
    the first one's process lives (a lock left by a killed run is taken over)."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".sesplan.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise InputError(f"{out}: another sesplan study is running there (process "
                                 f"{pid}); wait for it or choose another output folder") from None
            log.warning("%s: removing the lock of a run that ended without releasing it", out)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise InputError(f"{out}: cannot take the study lock {lock}")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


TEXT_COLUMNS = ("case", "base_case", "task", "method", "system", "cluster_method", "status",
                "error", "hash", "file", "mode", "rule", "termination", "git_commit",
                "sesplan_version", "saving_of_sharing_versus", "saving_of_sharing_from",
                "warnings")
"""Columns of ``summary.csv`` that are text even where they look like numbers."""


def summary_from_csv(path: str | Path) -> xr.Dataset:
    """The summary dataset of a study folder's ``summary.csv``."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""],
                        dtype=dict.fromkeys(TEXT_COLUMNS, str))
    frame = frame.astype(object).where(frame.notna(), None)
    return summary_dataset(frame)
