"""Loaders of historical profiles (SimBench, CSV, NetCDF) and of given representative days.

:func:`load_history` returns the cleaned history (dimensions ``time`` and ``microgrid``);
:func:`load_days` returns given days as a scenario dataset, without clustering. The cleaning
rules live in :mod:`scenarios_gen.clean`.

SimBench
    The 2016 profiles (15 min, local wall time) shipped in the ``simbench`` package are read
    from the grid folder :data:`SIMBENCH_GRID`. The three complete-data folders of
    simbench 1.6 hold the same ``LoadProfile.csv`` and ``RESProfile.csv``; the first one is
    used. The package is located without importing it (importing it loads pandapower, which
    takes seconds), and only the needed columns are read.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import framework
from framework.errors import InputError
from framework.system import QUANTITIES, History, System
from scenarios_gen.clean import (
    SIMBENCH_TIME_FORMAT,
    CleaningLog,
    Origin,
    clean_table,
    clip_negatives,
    clip_per_unit,
    parse_numbers,
)

logger = logging.getLogger(__name__)

SIMBENCH_GRID = "1-complete_data-mixed-all-0-sw"
"""SimBench grid folder whose profile files are read."""

LOAD_SUFFIX = "_pload"
"""SimBench load profile columns are ``<name>_pload`` (active power, p.u. of annual peak)."""

DAYS_QUANTILES = (0.1, 0.9)
"""Quantile coordinates of a given-days dataset (the spread equals the nominal values)."""

ATTRS = {
    "load_kw": {"units": "kW", "long_name": "electric load (mean power over the step)"},
    "pv_pu": {"units": "1", "long_name": "PV availability per unit of installed PV (pv_kw)"},
    "wind_pu": {"units": "1",
                "long_name": "wind availability per unit of installed wind (wind_kw)"},
    "pv_kw": {"units": "kW", "long_name": "installed PV capacity"},
    "wind_kw": {"units": "kW", "long_name": "installed wind capacity"},
}
"""Units and long names of the history and scenario variables."""

PU_QUANTITIES = ("pv_pu", "wind_pu")


@contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """A CSV that is empty, not UTF-8 text, or not parsable is one :class:`InputError`
    naming the file (instead of a pandas or codec traceback)."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty; expected a header line and rows") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason}); save it "
                         "as UTF-8") from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: not a readable CSV: {str(err).splitlines()[0]}") from None


def _sniff_separator(path: Path) -> str:
    """The most frequent of ``,``, ``;`` and tab in the header line."""
    with _csv_errors(path), path.open(encoding="utf-8-sig") as fh:
        header = fh.readline()
    if not header.strip():
        raise InputError(f"{path}: the file is empty; expected a header line and rows")
    return max((",", ";", "\t"), key=header.count)


def _csv_header(path: Path, sep: str) -> list[str]:
    """The column names of a CSV."""
    with _csv_errors(path):
        return list(pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns)


def _read_csv(path: Path, columns: list[str], dtype: dict | None = None,
              sep: str | None = None) -> pd.DataFrame:
    """Read only ``columns`` of a CSV; a missing file or column is an :class:`InputError`."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    sep = sep or _sniff_separator(path)
    header = _csv_header(path, sep)
    missing = [c for c in dict.fromkeys(columns) if c not in header]
    if missing:
        raise InputError(f"{path}: column(s) {missing} not found; expected among {header}")
    with _csv_errors(path):
        return pd.read_csv(path, sep=sep, usecols=list(dict.fromkeys(columns)), dtype=dtype,
                           encoding="utf-8-sig")


def _column_maps(system: System, required: tuple[str, ...] = ("load_kw",)) -> None:
    """Check that every microgrid names a column for each ``required`` quantity, and for
    ``pv_pu`` (``wind_pu``) when it has PV (wind) capacity."""
    for mg in system.microgrids:
        for q in required:
            if q not in mg.columns:
                raise InputError(f"microgrid {mg.name!r}: columns.{q}: expected the name of "
                                 f"the {q} column for history source "
                                 f"{system.history.source!r}, got {dict(mg.columns)}")
        for kind in ("pv", "wind"):
            if getattr(mg, f"{kind}_kw") > 0 and f"{kind}_pu" not in mg.columns:
                raise InputError(f"microgrid {mg.name!r}: {kind}_kw = "
                                 f"{getattr(mg, f'{kind}_kw')} but columns has no {kind}_pu: "
                                 f"name its availability column or set {kind}_kw = 0")


def _pu_columns(system: System) -> list[str]:
    return list(dict.fromkeys(mg.columns[q] for mg in system.microgrids for q in PU_QUANTITIES
                              if q in mg.columns))


def _mapped_columns(system: System) -> list[str]:
    return list(dict.fromkeys(c for mg in system.microgrids for c in mg.columns.values()))


def _tables_from_columns(system: System, table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per quantity, a (time x microgrid) table from the columns named by each column map."""
    out = {}
    for q in QUANTITIES:
        out[q] = pd.DataFrame(
            {mg.name: (table[mg.columns[q]].to_numpy() if q in mg.columns
                       else np.zeros(len(table))) for mg in system.microgrids},
            index=table.index)
    return out


def simbench_folder() -> Path:
    """The SimBench grid folder with the profile files.

    Raises
    ------
    InputError
        ``simbench`` is not installed.
    """
    spec = importlib.util.find_spec("simbench")
    if spec is None or spec.origin is None:
        raise InputError("history source 'simbench': the simbench package is not installed; "
                         "install it with: pip install 'sesplan[simbench]'")
    return Path(spec.origin).parent / "networks" / SIMBENCH_GRID


def simbench_profile_names(folder: Path) -> tuple[list[str], list[str]]:
    """The load profile names (``H0-A``, ...) and RES profile names (``PV1``, ``WP4``, ...)."""
    loads = pd.read_csv(folder / "LoadProfile.csv", sep=";", nrows=0).columns
    res = pd.read_csv(folder / "RESProfile.csv", sep=";", nrows=0).columns
    return ([c[: -len(LOAD_SUFFIX)] for c in loads if c.endswith(LOAD_SUFFIX)],
            [c for c in res if c != "time"])


def _check_profile(mg_name: str, key: str, name: str | None, available: list[str]) -> None:
    if name is not None and name not in available:
        raise InputError(f"microgrid {mg_name!r}: {key}: unknown SimBench profile {name!r}; "
                         f"available: {available}")


def _check_simbench_profiles(system: System, loads: list[str], res: list[str]) -> None:
    for mg in system.microgrids:
        if mg.load_profile is None:
            raise InputError(f"microgrid {mg.name!r}: load_profile: expected a SimBench load "
                             f"profile for history source 'simbench', one of {loads}")
        _check_profile(mg.name, "load_profile", mg.load_profile, loads)
        _check_profile(mg.name, "pv_profile", mg.pv_profile,
                       [p for p in res if p.startswith("PV")])
        _check_profile(mg.name, "wind_profile", mg.wind_profile,
                       [p for p in res if p.startswith("WP")])
        for kind in ("pv", "wind"):
            if getattr(mg, f"{kind}_kw") > 0 and getattr(mg, f"{kind}_profile") is None:
                raise InputError(f"microgrid {mg.name!r}: {kind}_kw = {getattr(mg, f'{kind}_kw')}"
                                 f" but no {kind}_profile: name its SimBench profile or set "
                                 f"{kind}_kw = 0")


def _clean_simbench_file(folder: Path, file_name: str, columns: list[str], pu: list[str],
                         history: History) -> tuple[pd.DataFrame, CleaningLog]:
    raw = pd.read_csv(folder / file_name, sep=";", usecols=["time", *columns])
    origin = Origin(f"{folder.name}/{file_name}", "time")
    return clean_table(raw, origin, history, pu, fmt=SIMBENCH_TIME_FORMAT)


def _simbench_tables(system: System) -> tuple[dict[str, pd.DataFrame], CleaningLog, str]:
    """Per quantity a (time x microgrid) table from the SimBench profiles, and the log."""
    folder = simbench_folder()
    loads, res = simbench_profile_names(folder)
    _check_simbench_profiles(system, loads, res)
    load_cols = list(dict.fromkeys(mg.load_profile + LOAD_SUFFIX for mg in system.microgrids))
    load, log = _clean_simbench_file(folder, "LoadProfile.csv", load_cols, [], system.history)
    res_cols = list(dict.fromkeys(p for mg in system.microgrids
                                  for p in (mg.pv_profile, mg.wind_profile) if p))
    table = load
    if res_cols:
        res_table, res_log = _clean_simbench_file(folder, "RESProfile.csv", res_cols, res_cols,
                                                  system.history)
        log.records.extend(res_log.records)
        table = load.join(res_table, how="inner")
    out = {"load_kw": pd.DataFrame(
        {mg.name: table[mg.load_profile + LOAD_SUFFIX].to_numpy() * mg.peak_load_kw
         for mg in system.microgrids}, index=table.index)}
    for q, key in (("pv_pu", "pv_profile"), ("wind_pu", "wind_profile")):
        out[q] = pd.DataFrame(
            {mg.name: (table[getattr(mg, key)].to_numpy() if getattr(mg, key)
                       else np.zeros(len(table))) for mg in system.microgrids},
            index=table.index)
    version = importlib.metadata.version("simbench")
    return out, log, f"simbench {version} ({SIMBENCH_GRID})"


def _csv_tables(system: System) -> tuple[dict[str, pd.DataFrame], CleaningLog, str]:
    """Per quantity a (time x microgrid) table from a CSV history, and the log."""
    _column_maps(system)
    history = system.history
    path = system.resolve(history.path)
    raw = _read_csv(path, [history.time_column, *_mapped_columns(system)])
    table, log = clean_table(raw, Origin(str(path), history.time_column), history,
                             _pu_columns(system))
    return _tables_from_columns(system, table), log, str(path)


def _netcdf_frame(path: Path, time_dim: str, variables: list[str]) -> pd.DataFrame:
    """The ``variables`` (1-D along ``time_dim``) and the time coordinate as a table."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with xr.open_dataset(path) as ds:
            if time_dim not in ds.dims:
                raise InputError(f"{path}: dimension {time_dim!r} not found; expected the time "
                                 f"dimension among {list(ds.dims)}")
            missing = [v for v in variables if v not in ds.variables]
            if missing:
                raise InputError(f"{path}: variable(s) {missing} not found; expected among "
                                 f"{list(ds.data_vars)}")
            for v in variables:
                if ds[v].dims != (time_dim,):
                    raise InputError(f"{path}: variable {v!r}: expected dimensions "
                                     f"({time_dim!r},), got {ds[v].dims}")
            frame = {v: ds[v].values for v in variables}
            frame[time_dim] = ds[time_dim].values
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable NetCDF file: {err}") from None
    return pd.DataFrame(frame)


def _netcdf_tables(system: System) -> tuple[dict[str, pd.DataFrame], CleaningLog, str]:
    """Per quantity a (time x microgrid) table from a NetCDF history, and the log."""
    _column_maps(system)
    history = system.history
    path = system.resolve(history.path)
    raw = _netcdf_frame(path, history.time_column, _mapped_columns(system))
    origin = Origin(str(path), history.time_column, header_lines=None)
    if not pd.api.types.is_datetime64_any_dtype(raw[history.time_column]):
        raise origin.error(history.time_column, "all rows", "a time coordinate decoded as "
                           "datetime64 (CF units such as 'hours since 2016-01-01')",
                           raw[history.time_column].dtype)
    table, log = clean_table(raw, origin, history, _pu_columns(system))
    return _tables_from_columns(system, table), log, str(path)


def _static(system: System) -> dict[str, tuple]:
    return {key: ("microgrid", np.array([getattr(mg, key) for mg in system.microgrids],
                                        dtype="float64"), ATTRS[key])
            for key in ("pv_kw", "wind_kw")}


def _history_dataset(tables: dict[str, pd.DataFrame], system: System, source: str,
                     log: CleaningLog) -> xr.Dataset:
    time = tables["load_kw"].index.to_numpy().astype("datetime64[ns]")
    data_vars = {q: (("time", "microgrid"), tables[q][system.names].to_numpy(dtype="float64"),
                     ATTRS[q]) for q in QUANTITIES}
    data_vars.update(_static(system))
    ds = xr.Dataset(data_vars, coords={"time": time, "microgrid": system.names},
                    attrs={"source": source, "step_h": float(system.history.step_h),
                           "cleaning": log.to_json()})
    ds["time"].attrs["long_name"] = "start of the step (naive local time)"
    return ds


def load_history(system: System) -> xr.Dataset:
    """The cleaned history of every microgrid, resampled to ``system.history.step_h``.

    Parameters
    ----------
    system : System
        ``history.source`` is ``simbench``, ``csv`` or ``netcdf``; each microgrid names its
        SimBench profiles (``load_profile`` scaled by ``peak_load_kw``) or its columns.

    Returns
    -------
    xarray.Dataset
        Dimensions ``time`` (start of each step, naive local time, whole days only) and
        ``microgrid``; ``load_kw`` (kW, mean power over the step), ``pv_pu`` and ``wind_pu``
        (per unit of ``pv_kw`` / ``wind_kw``; 0 without a profile), static ``pv_kw`` and
        ``wind_kw`` (kW); attributes ``source``, ``step_h`` (h) and ``cleaning`` (JSON list of
        records, see :class:`scenarios_gen.clean.CleaningRecord`).

    Raises
    ------
    InputError
        A missing file, column or profile, or a rule of :mod:`scenarios_gen.clean` broken.
    """
    readers = {"simbench": _simbench_tables, "csv": _csv_tables, "netcdf": _netcdf_tables}
    source = system.history.source
    if source not in readers:
        raise InputError(f"history.source: expected one of {sorted(readers)} for a history "
                         f"(given days are read with load_days), got {source!r}")
    tables, log, name = readers[source](system)
    log.log_summary()
    ds = _history_dataset(tables, system, name, log)
    logger.info("history from %s: %d days of %d steps (%g h), %d microgrid(s)", name,
                ds.sizes["time"] // system.history.steps_per_day, system.history.steps_per_day,
                system.history.step_h, ds.sizes["microgrid"])
    return ds


def _days_raw(system: System) -> tuple[pd.DataFrame, Origin, bool, bool]:
    """Read a days file; also whether it has scenario and probability columns."""
    history = system.history
    path = system.resolve(history.path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    sep = _sniff_separator(path)
    header = _csv_header(path, sep)
    has_scen = history.scenario_column in header
    has_prob = history.probability_column in header
    columns = [history.step_column, *_mapped_columns(system)]
    columns += [history.scenario_column] * has_scen + [history.probability_column] * has_prob
    raw = _read_csv(path, columns, dtype={history.scenario_column: str}, sep=sep)
    return raw, Origin(str(path), history.step_column), has_scen, has_prob


def _scenario_labels(raw: pd.DataFrame, origin: Origin, column: str | None) -> np.ndarray:
    """The scenario of each row as text (``"0"`` for a file without a scenario column)."""
    if column is None:
        return np.full(len(raw), "0")
    empty = np.flatnonzero(raw[column].isna().to_numpy())
    if empty.size:
        raise origin.error(column, origin.row(int(empty[0])), "a scenario name",
                           "an empty cell")
    return raw[column].to_numpy(dtype=str)


def _check_steps(steps: np.ndarray, labels: np.ndarray, origin: Origin, per_day: int) -> None:
    """Steps are integers and each scenario has every step ``0..per_day-1`` once."""
    whole = np.flatnonzero(steps != np.round(steps))
    if whole.size:
        raise origin.error(origin.time_column, origin.row(int(whole[0])),
                           "an integer step", steps[whole[0]])
    for label in pd.unique(labels):
        rows = np.flatnonzero(labels == label)
        found, counts = np.unique(steps[rows].astype(int), return_counts=True)
        problems = {"repeated": found[counts > 1].tolist(),
                    "missing": sorted(set(range(per_day)) - set(found.tolist())),
                    "outside": found[(found < 0) | (found >= per_day)].tolist()}
        if any(problems.values()):
            raise origin.error(origin.time_column, f"scenario {str(label)!r} (from "
                               f"{origin.row(int(rows[0]))})",
                               f"steps 0..{per_day - 1}, each once (24 / step_h)",
                               ", ".join(f"{k} {v}" for k, v in problems.items() if v))


def _probabilities(raw: pd.DataFrame, labels: np.ndarray, order: list[str], origin: Origin,
                   column: str | None) -> np.ndarray:
    """One probability per scenario (``order``), normalised to sum 1."""
    if column is None:
        return np.full(len(order), 1.0 / len(order))
    values = parse_numbers(raw[[column]], origin)[column].to_numpy()
    bad = np.flatnonzero(~(values >= 0))
    if bad.size:
        raise origin.error(column, origin.row(int(bad[0])), "a probability >= 0",
                           raw[column].iloc[bad[0]])
    prob = np.empty(len(order))
    for k, label in enumerate(order):
        rows = np.flatnonzero(labels == label)
        if np.ptp(values[rows]) > 0:
            raise origin.error(column, f"scenario {label!r} (from {origin.row(int(rows[0]))})",
                               "one probability for all steps of a scenario",
                               sorted(set(values[rows].tolist())))
        prob[k] = values[rows[0]]
    total = prob.sum()
    if total <= 0:
        raise origin.error(column, "all rows", "probabilities with a positive sum", total)
    if abs(total - 1.0) > 1e-6:
        logger.warning("%s: probabilities sum to %.9g; normalised to 1", origin.file, total)
    return prob / total


def _days_values(raw: pd.DataFrame, origin: Origin, system: System) -> tuple[pd.DataFrame,
                                                                             CleaningLog]:
    """The quantity columns checked: numbers, no empty cell, rules 5 and 6 (clip or error)."""
    columns = _mapped_columns(system)
    values = parse_numbers(raw[columns], origin)
    values.index = pd.Index([origin.row(i) for i in range(len(values))])
    empty = values.isna().to_numpy()
    if empty.any():
        i, j = np.argwhere(empty)[0]
        raise origin.error(columns[j], origin.row(int(i)), "a number (given days are not "
                           "interpolated)", "an empty cell")
    log = CleaningLog()
    history = system.history
    values = clip_negatives(values, history.negative_tolerance, origin, log)
    values = clip_per_unit(values, _pu_columns(system), history.pu_tolerance, origin, log)
    return values, log


def _days_dataset(cube: dict[str, np.ndarray], prob: np.ndarray, labels: list[str],
                  system: System, source: str, log: CleaningLog) -> xr.Dataset:
    dims = ("scenario", "step", "microgrid")
    data_vars: dict[str, tuple] = {
        "probability": ("scenario", prob, {"units": "1", "long_name": "scenario probability"}),
        "membership": ("day", np.zeros(0, dtype="int64"), {"units": "scenario index"}),
        "is_extreme": ("scenario", np.zeros(len(labels), dtype=bool)),
        "representative_day": ("scenario", np.full(len(labels), np.datetime64("NaT", "ns"))),
        **_static(system),
    }
    for q in QUANTITIES:
        data_vars[q] = (dims, cube[q], ATTRS[q])
        spread = np.broadcast_to(cube[q], (len(DAYS_QUANTILES), *cube[q].shape)).copy()
        data_vars[f"{q}_quantile"] = (("quantile", *dims), spread, ATTRS[q])
    coords = {"scenario": np.arange(len(labels)), "step": np.arange(cube["load_kw"].shape[1]),
              "microgrid": system.names, "day": np.zeros(0, dtype="datetime64[ns]"),
              "quantile": np.array(DAYS_QUANTILES),
              "scenario_label": ("scenario", np.array(labels, dtype=str))}
    attrs = {"source": source, "step_h": float(system.history.step_h), "method": "given",
             "seed": 0, "sesplan_version": framework.__version__, "cleaning": log.to_json()}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def load_days(system: System) -> xr.Dataset:
    """Given representative days (``history.source = "days"``) as a scenario dataset.

    The CSV has a step column (integers ``0 .. 24/step_h - 1``, each once per scenario), an
    optional scenario column (absent: one scenario), an optional probability column (absent:
    equal probabilities; constant within a scenario, >= 0, normalised to sum 1 with a warning
    when the sum is off by more than 1e-6) and the quantity columns named by each microgrid's
    ``columns`` map (``load_kw`` in kW required; ``pv_pu``, ``wind_pu`` per unit, 0 when
    absent). Scenarios keep the order of their first row in the file.

    Parameters
    ----------
    system : System
        With ``history.source = "days"`` and ``history.path``.

    Returns
    -------
    xarray.Dataset
        The scenario schema: ``probability`` (scenario); ``load_kw`` (kW), ``pv_pu``,
        ``wind_pu`` (scenario, step, microgrid); ``*_quantile`` (quantile, scenario, step,
        microgrid) equal to the nominal values; ``pv_kw``, ``wind_kw`` (microgrid, kW);
        ``membership`` (day, empty); ``is_extreme`` (all False); ``representative_day``
        (NaT); coordinate ``scenario_label``; attributes ``source``, ``step_h`` (h),
        ``method = "given"``, ``seed = 0`` and ``cleaning``.

    Raises
    ------
    InputError
        A missing file or column, a non-numeric or empty cell, incomplete or repeated steps,
        bad probabilities, values out of range.
    """
    history = system.history
    if history.source != "days":
        raise InputError(f"history.source: expected 'days' for load_days, got "
                         f"{history.source!r}")
    _column_maps(system)
    raw, origin, has_scen, has_prob = _days_raw(system)
    steps = parse_numbers(raw[[history.step_column]], origin)[history.step_column].to_numpy()
    if np.isnan(steps).any():
        raise origin.error(history.step_column, origin.row(int(np.flatnonzero(
            np.isnan(steps))[0])), "a step number", "an empty cell")
    labels = _scenario_labels(raw, origin, history.scenario_column if has_scen else None)
    _check_steps(steps, labels, origin, history.steps_per_day)
    order = [str(label) for label in pd.unique(labels)]
    prob = _probabilities(raw, labels, order, origin,
                          history.probability_column if has_prob else None)
    values, log = _days_values(raw, origin, system)
    positions = {label: k for k, label in enumerate(order)}
    scen = np.array([positions[label] for label in labels])
    step = steps.astype(int)
    table = _tables_from_columns(system, values)
    cube = {}
    for q in QUANTITIES:
        cube[q] = np.zeros((len(order), history.steps_per_day, len(system.names)))
        cube[q][scen, step] = table[q][system.names].to_numpy(dtype="float64")
    log.log_summary()
    return _days_dataset(cube, prob, order, system, str(origin.file), log)
