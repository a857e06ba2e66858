"""Every figure that a result file, a folder of results or a study folder allows.

:func:`figures_for` picks the figures of one dataset by what it holds; :func:`make_figures`
reads files, saves every figure (PDF + PNG, :func:`framework.plotting.style.save_figure`)
and returns the files written. This is what ``sesplan figures`` and the study runner call.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from framework.errors import InputError
from framework.ladder import has_ladder
from framework.plotting.analysis import (
    bound_names,
    plot_allocation,
    plot_bound_convergence,
    plot_objective_vs_k,
    plot_price_of_robustness,
)
from framework.plotting.chronology import has_chronology, plot_chronology
from framework.plotting.exchange import exchange_modes, plot_exchange
from framework.plotting.ladder import plot_ladder
from framework.plotting.lease import has_lease_game, plot_lease_game
from framework.plotting.plan import (
    plot_capacity_cost,
    plot_out_of_sample,
    plot_representative_days,
    plot_soc,
)
from framework.plotting.style import save_figure

log = logging.getLogger(__name__)

RESULT_FIGURES: dict[str, Callable[[xr.Dataset], Figure]] = {
    "representative_days": plot_representative_days,
    "soc": plot_soc,
    "capacity_cost": plot_capacity_cost,
    "exchange": plot_exchange,
    "out_of_sample": plot_out_of_sample,
    "allocation": plot_allocation,
    "bound_convergence": plot_bound_convergence,
    "ladder": plot_ladder,
    "lease_game": plot_lease_game,
    "chronology": plot_chronology,
}
"""Figures of one result, by name."""
SUMMARY_FIGURES: dict[str, Callable[[xr.Dataset], Figure]] = {
    "objective_vs_k": plot_objective_vs_k,
    "price_of_robustness": plot_price_of_robustness,
}
"""Figures across the cases of a study (from its summary), by name."""
FIGURES = (*RESULT_FIGURES, *SUMMARY_FIGURES)


def _has_bounds(ds: xr.Dataset) -> bool:
    try:
        bound_names(ds)
    except InputError:
        return False
    return True


def available(ds: xr.Dataset) -> list[str]:
    """Names of the figures that a result dataset allows."""
    out = []
    plan = "cap_energy_kwh" in ds and "mode" in ds.dims
    if "load_kw" in ds and "probability" in ds and "scenario" in ds.dims:
        out.append("representative_days")
    if plan and "soc_kwh" in ds and float(ds["cap_energy_kwh"].sum()) > 1e-6:
        out.append("soc")
    if plan and "annual_operating_cost" in ds:
        out.append("capacity_cost")
    if plan and exchange_modes(ds):
        out.append("exchange")
    if "oos_annual_cost_by_day" in ds:
        out.append("out_of_sample")
    if "saving" in ds and "rule" in ds.dims:
        out.append("allocation")
    if _has_bounds(ds):
        out.append("bound_convergence")
    if has_ladder(ds):
        out.append("ladder")
    if has_lease_game(ds):
        out.append("lease_game")
    if has_chronology(ds):
        out.append("chronology")
    return out


def available_summary(summary: xr.Dataset) -> list[str]:
    """Names of the cross-case figures that a study summary allows."""
    out = []
    if "status" not in summary or "task" not in summary or "mode" not in summary:
        return out
    ok = (summary["status"].values.astype(str) == "ok") & (
        summary["task"].values.astype(str) == "plan")

    def distinct(column: str, mask: np.ndarray) -> int:
        """Number of distinct finite values of ``column`` in the solved plan rows."""
        if column not in summary:
            return 0
        values = np.asarray(summary[column].values[mask & ok], dtype=float)
        return len(np.unique(values[np.isfinite(values)]))

    everything = np.ones(summary.sizes["row"], dtype=bool)
    clustered = everything.copy()
    for column in ("all_days", "sample_days"):
        if column in summary:
            clustered &= ~(np.nan_to_num(np.asarray(summary[column].values, float)) > 0)
    if distinct("clusters", clustered) >= 2:
        out.append("objective_vs_k")
    if distinct("option_gamma", everything) >= 2:
        out.append("price_of_robustness")
    return out


def _check(only: Sequence[str] | None) -> set[str]:
    if only is None:
        return set(FIGURES)
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        raise InputError(f"figures: unknown name(s) {unknown}; known: {list(FIGURES)}")
    return set(only)


def figures_for(ds: xr.Dataset, only: Sequence[str] | None = None) -> dict[str, Figure]:
    """Every figure of one result dataset (or those in ``only`` that it allows)."""
    wanted = _check(only)
    return {name: RESULT_FIGURES[name](ds) for name in available(ds) if name in wanted}


def slug(name: str) -> str:
    """A file-name-safe version of a case name."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_")


def _description(ds: xr.Dataset, source: str) -> str:
    versions = json.loads(ds.attrs.get("versions", "{}"))
    return (f"sesplan {versions.get('sesplan', '')} figure of {source}; git "
            f"{ds.attrs.get('git_commit', 'unknown')}; case hash "
            f"{ds.attrs.get('case_hash', '-')}")


def _read(path: Path) -> xr.Dataset:
    try:
        with xr.open_dataset(path) as ds:
            return ds.load()
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable NetCDF file ({err})") from None


def make_figures(results: str | Path, out_dir: str | Path | None = None, *,
                 only: Sequence[str] | None = None,
                 cases: Sequence[str] | None = None) -> list[Path]:
    """Save every figure that ``results`` allows; return the files written (sorted).

    Parameters
    ----------
    results : path
        A study folder (with ``summary.csv``: the figures of every solved case, named
        ``<figure>-<case>``, and the cross-case figures), a folder of result files
        (``<figure>-<file stem>``), or one result file.
    out_dir : path, optional
        Default ``<folder>/figures`` (for a file: ``figures`` beside it).
    only : sequence of str, optional
        Names among :data:`FIGURES`.
    cases : sequence of str, optional
        Study folder only: per-case figures only for these cases (full names or the names
        of their ``[[case]]`` tables).
    """
    results = Path(results)
    if not results.exists():
        raise InputError(f"{results}: no such file or folder")
    folder = results if results.is_dir() else results.parent
    out = Path(out_dir) if out_dir is not None else folder / "figures"
    wanted = _check(only)
    jobs: list[tuple[str, Path]] = []
    summary = None
    if results.is_dir() and (results / "summary.csv").is_file():
        from framework.study.runner import summary_from_csv

        summary = summary_from_csv(results / "summary.csv")
        names = summary["case"].values.astype(str)
        bases = summary["base_case"].values.astype(str)
        status = summary["status"].values.astype(str)
        files = summary["file"].values.astype(str)
        for k in range(summary.sizes["row"]):
            if status[k] != "ok" or (cases is not None and names[k] not in cases
                                     and bases[k] not in cases):
                continue
            if (names[k], results / files[k]) not in jobs:
                jobs.append((names[k], results / files[k]))
    elif results.is_dir():
        jobs = [(p.stem, p) for p in sorted(results.glob("*.nc"))]
    else:
        jobs = [(results.stem, results)]
    written: list[Path] = []
    for name, path in jobs:
        ds = _read(path)
        for figure, fig in figures_for(ds, [f for f in RESULT_FIGURES if f in wanted]).items():
            written += save_figure(fig, out / f"{figure}-{slug(name)}",
                                   _description(ds, f"{name} ({path.name})"))
    if summary is not None:
        for figure in available_summary(summary):
            if figure in wanted:
                fig = SUMMARY_FIGURES[figure](summary)
                written += save_figure(fig, out / figure,
                                       f"sesplan figure of {results / 'summary.csv'}")
    log.info("%d figure files in %s", len(written), out)
    return sorted(written)
