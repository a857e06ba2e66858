"""Cleaning and validation of a history table, one small function per rule.

A history table is read by :mod:`scenarios_gen.sources` into a :class:`pandas.DataFrame` with
one timestamp column and one column per quantity, exactly as in the file. :func:`clean_table`
applies the rules in this order and returns a regular, gap-free table of whole days at the
scenario step (mean power over each step):

1. unparseable timestamps are an error naming the row (:func:`parse_times`);
2. non-numeric or infinite cells are an error naming column, row and cell text
   (:func:`parse_numbers`);
3. exact duplicate timestamps are averaged; at a daylight-saving fold they are recorded as
   ``dst_fold``, elsewhere as ``duplicate`` (:func:`merge_duplicates`);
4. the step is inferred from the timestamps; irregular steps, time going backwards, steps
   not on the step grid from midnight, a switch to a coarser resolution (four or more equal
   steps longer than the file's), and a step that does not divide ``step_h`` are errors
   (:func:`infer_step`);
5. tiny negatives down to ``-negative_tolerance`` are clipped to 0, more negative is an error
   (:func:`clip_negatives`);
6. per-unit availability up to ``1 + pu_tolerance`` is clipped to 1, above is an error
   (:func:`clip_per_unit`);
7. missing steps and NaN runs up to ``max_gap_h`` hours are interpolated linearly, a longer
   gap is an error; values missing at the very ends are dropped (:func:`fill_gaps`);
8. partial days at the ends are dropped; no whole day left is an error
   (:func:`drop_partial_days`);
9. the table is resampled to ``step_h`` by the mean (:func:`resample_mean`).

Every action is stored as a :class:`CleaningRecord`; every error is an
:class:`~framework.errors.InputError` naming the file, the column, the row or time and what was
expected. Nothing is returned from a bad file.

Daylight-saving dates are recognised for the European rule (last Sunday of March, 02:00 to
03:00 missing; last Sunday of October, 02:00 to 03:00 repeated; SimBench 2016 follows it) and
the United States rule since 2007 (second Sunday of March, 02:00 missing; first Sunday of
November, 01:00 repeated). The label only changes how a gap or duplicate is recorded.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from framework.errors import InputError
from framework.system import History

logger = logging.getLogger(__name__)

SIMBENCH_TIME_FORMAT = "%d.%m.%Y %H:%M"
_FALLBACK_FORMATS = ("ISO8601", SIMBENCH_TIME_FORMAT)


@dataclass(frozen=True)
class CleaningRecord:
    """One thing cleaning did to one column of one file.

    Attributes
    ----------
    file : str
        The file (as named in messages).
    column : str
        The file's column (the time column for missing or duplicated timestamps).
    rule : str
        ``dst_gap``, ``gap``, ``nan``, ``nan_edge``, ``dst_fold``, ``duplicate``,
        ``negative``, ``above_one``, ``partial_day``.
    count : int
        Number of values (or timestamps, or steps) affected.
    first_time : str
        ISO time of the first value affected.
    action : str
        What was done, in words.
    """

    file: str
    column: str
    rule: str
    count: int
    first_time: str
    action: str


@dataclass
class CleaningLog:
    """The records of one cleaning run, in the order the rules ran."""

    records: list[CleaningRecord] = field(default_factory=list)

    def add(self, file: str, column: str, rule: str, count: int, first: object,
            action: str) -> None:
        """Append a record; ``first`` is a time (stored in ISO format) or a row label."""
        first_time = first.isoformat() if isinstance(first, pd.Timestamp) else str(first)
        self.records.append(CleaningRecord(file, column, rule, int(count), first_time, action))

    def to_json(self) -> str:
        """The records as a JSON list of objects (the ``cleaning`` attribute of a dataset)."""
        return json.dumps([asdict(r) for r in self.records])

    def log_summary(self) -> None:
        """Log one INFO line per record and one summary line."""
        for r in self.records:
            logger.info("%s [%s] %s: %d from %s, %s", r.file, r.column, r.rule, r.count,
                        r.first_time, r.action)
        logger.info("cleaning: %d record(s)", len(self.records))


@dataclass(frozen=True)
class Origin:
    """Where a table comes from, for messages.

    Attributes
    ----------
    file : str
        The file name used in messages and records.
    time_column : str
        Name of the timestamp column (or time dimension).
    header_lines : int or None
        Lines before the first data row in a text file (1 for a CSV header); ``None`` for a
        binary file, where rows are named by their index along time.
    """

    file: str
    time_column: str
    header_lines: int | None = 1

    def row(self, i: int) -> str:
        """Position of the data row ``i`` (0-based) in words."""
        if self.header_lines is None:
            return f"time index {i}"
        return f"row {i + 1} (line {i + 1 + self.header_lines})"

    def error(self, column: str, where: str, expected: str, got: object) -> InputError:
        """An :class:`InputError` naming file, column, row or time, and what was expected."""
        return InputError(f"{self.file}: column {column!r}, {where}: expected {expected}, "
                          f"got {got}")


def _at(index: pd.Index, i: int) -> str:
    """Position ``i`` of a table in words: its time, or its label (days files)."""
    if isinstance(index, pd.DatetimeIndex):
        return f"time {index[i].isoformat(sep=' ')}"
    return str(index[i])


def _span(td: pd.Timedelta) -> str:
    """A duration in words: ``15 min``, ``1 h``, ``90 s``."""
    seconds = td / pd.Timedelta(seconds=1)
    if seconds % 60:
        return f"{seconds:g} s"
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds / 60:g} min"


def _last_sunday(year: int, month: int) -> date:
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1))
    return last - timedelta(days=(last.weekday() - 6) % 7)


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _dst_hours(year: int, fold: bool) -> set[tuple[date, int]]:
    """(date, hour) pairs when wall clocks skip (``fold=False``) or repeat (``fold=True``)."""
    if fold:
        return {(_last_sunday(year, 10), 2), (_nth_sunday(year, 11, 1), 1)}
    return {(_last_sunday(year, 3), 2), (_nth_sunday(year, 3, 2), 2)}


def is_dst_change(times: pd.DatetimeIndex, fold: bool) -> bool:
    """Whether every time lies in a daylight-saving hour that is skipped or repeated.

    Parameters
    ----------
    times : DatetimeIndex
        Naive local wall times.
    fold : bool
        ``True``: the autumn hour that is repeated; ``False``: the spring hour that is skipped.
    """
    if len(times) == 0:
        return False
    return all((t.date(), t.hour) in _dst_hours(t.year, fold) for t in times)


def _to_datetime(raw: pd.Series, fmt: str, origin: Origin) -> pd.Series:
    """``raw`` parsed with ``fmt`` (NaT where it fails); mixed UTC offsets are an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            times = pd.to_datetime(raw, format=fmt, errors="coerce")
        except ValueError:  # mixed UTC offsets in newer pandas
            times = raw.astype(object)
    if times.dtype == object:
        raise origin.error(origin.time_column, "all rows", "timestamps with one UTC offset "
                           "or none (naive local wall time)", "mixed UTC offsets")
    return times


def parse_times(raw: pd.Series, origin: Origin, fmt: str | None = None) -> pd.DatetimeIndex:
    """Rule 8: timestamps as naive local wall times; an unparseable one is an error.

    Parameters
    ----------
    raw : Series
        The timestamp column as read (text or datetime64).
    origin : Origin
        For messages.
    fmt : str, optional
        A ``strftime`` format. Without it ISO 8601 (``2016-01-01 00:15``) is tried, and if no
        row parses, the SimBench format ``01.01.2016 00:15``.

    Returns
    -------
    DatetimeIndex
        One timestamp per row, ``datetime64[ns]``, without time zone (a single fixed UTC
        offset is dropped, keeping the wall time).
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        times = raw
    else:
        for candidate in (fmt,) if fmt else _FALLBACK_FORMATS:
            times = _to_datetime(raw, candidate, origin)
            if times.notna().any():
                break
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        expected = f"a timestamp in format {fmt!r}" if fmt else "a timestamp like 2016-01-01 00:15"
        raise origin.error(origin.time_column, origin.row(i), expected, repr(raw.iloc[i]))
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_localize(None)
    return index.astype("datetime64[ns]")


def parse_numbers(frame: pd.DataFrame, origin: Origin) -> pd.DataFrame:
    """Rule 4: every cell a finite number or empty; anything else is an error.

    Empty cells (and pandas' missing markers such as ``NA``) become NaN and are handled as
    gaps by :func:`fill_gaps`.

    Parameters
    ----------
    frame : DataFrame
        Value columns as read.
    origin : Origin
        For messages.

    Returns
    -------
    DataFrame
        The same columns as float64.
    """
    out = {}
    for column in frame.columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = values.isna().to_numpy() & raw.notna().to_numpy()
        bad |= np.isinf(values.to_numpy())
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise origin.error(column, origin.row(i), "a finite number", repr(raw.iloc[i]))
        if values.isna().all():
            raise origin.error(column, "all rows", "numbers", "no value at all")
        out[column] = values.to_numpy()
    return pd.DataFrame(out, index=frame.index)


def merge_duplicates(frame: pd.DataFrame, origin: Origin, log: CleaningLog) -> pd.DataFrame:
    """Rule 1: rows with the same timestamp are averaged (NaN ignored).

    Parameters
    ----------
    frame : DataFrame
        Indexed by timestamp in file order.
    origin : Origin
        For records.
    log : CleaningLog
        Receives a ``dst_fold`` record for duplicates in a repeated daylight-saving hour and a
        ``duplicate`` record for any others (count = duplicated timestamps).

    Returns
    -------
    DataFrame
        One row per timestamp, in order of first appearance.
    """
    dup = frame.index.duplicated(keep=False)
    if not dup.any():
        return frame
    times = frame.index[dup].unique()
    at_fold = np.array([is_dst_change(pd.DatetimeIndex([t]), fold=True) for t in times])
    for rule, mask in (("dst_fold", at_fold), ("duplicate", ~at_fold)):
        if mask.any():
            n_rows = int(frame.index.isin(times[mask]).sum())
            log.add(origin.file, origin.time_column, rule, mask.sum(), times[mask].min(),
                    f"averaged {n_rows} rows into {int(mask.sum())}")
    return frame.groupby(level=0, sort=False).mean()


def infer_step(index: pd.DatetimeIndex, origin: Origin, step_h: float) -> pd.Timedelta:
    """Rule 2: the one regular step of the timestamps.

    The step is the most common difference between consecutive timestamps; every other
    difference must be a whole multiple of it (a gap, see :func:`fill_gaps`). Timestamps must
    increase, lie on the step grid counted from midnight, and the step must divide ``step_h``.

    Parameters
    ----------
    index : DatetimeIndex
        Unique timestamps in file order.
    origin : Origin
        For messages.
    step_h : float
        Scenario step (h).

    Returns
    -------
    Timedelta
        The step of the table.
    """
    t = index.asi8
    if len(t) < 2:
        raise origin.error(origin.time_column, "all rows", "at least two timestamps", len(t))
    diff = np.diff(t)
    back = np.flatnonzero(diff <= 0)
    if back.size:
        k = int(back[0]) + 1
        raise origin.error(origin.time_column, _at(index, k),
                           f"increasing timestamps (after {index[k - 1]})", "an earlier time")
    values, counts = np.unique(diff, return_counts=True)
    step = int(values[np.argmax(counts)])
    odd = np.flatnonzero(diff % step != 0)
    if odd.size:
        k = int(odd[0]) + 1
        raise origin.error(origin.time_column, _at(index, k),
                           f"one regular step of {_span(pd.Timedelta(step))} (gaps as whole "
                           "multiples)", f"{_span(pd.Timedelta(int(diff[k - 1])))} after "
                           f"{index[k - 1]}")
    coarse = _coarser_run(diff, step)
    if coarse is not None:
        raise origin.error(origin.time_column, _at(index, coarse + 1),
                           f"one resolution of {_span(pd.Timedelta(step))} throughout (gaps "
                           "are filled by interpolation, a change of resolution is not)",
                           f"{_span(pd.Timedelta(int(diff[coarse])))} steps from "
                           f"{index[coarse]} on")
    off = np.flatnonzero((t - index.normalize().asi8) % step != 0)
    if off.size:
        raise origin.error(origin.time_column, _at(index, int(off[0])),
                           f"steps starting at multiples of {_span(pd.Timedelta(step))} from "
                           "midnight",
                           "a time off that grid")
    step_ns = round(step_h * 3600e9)
    if step_ns % step != 0:
        raise origin.error(origin.time_column, "all rows",
                           f"a step that divides step_h = {step_h} h", _span(pd.Timedelta(step)))
    return pd.Timedelta(step)


#: Consecutive equal steps longer than a file's step that mean its resolution changed.
COARSER_RUN = 4


def _coarser_run(diff: np.ndarray, step: int) -> int | None:
    """The index of the first of :data:`COARSER_RUN` consecutive equal differences longer
    than ``step`` (a file that switches to a coarser resolution), else ``None``."""
    longer = diff > step
    same = np.r_[False, diff[1:] == diff[:-1]]
    run = 0
    for k in range(diff.size):
        run = run + 1 if longer[k] and (run == 0 or same[k]) else int(longer[k])
        if run >= COARSER_RUN:
            return k - COARSER_RUN + 1
    return None


def clip_negatives(frame: pd.DataFrame, tolerance: float, origin: Origin,
                   log: CleaningLog) -> pd.DataFrame:
    """Rule 5: values in ``[-tolerance, 0)`` are set to 0 and counted; below is an error.

    Parameters
    ----------
    frame : DataFrame
        Indexed by time.
    tolerance : float
        ``negative_tolerance`` (same unit as the column).
    origin : Origin
        For messages and records.
    log : CleaningLog
        Receives a ``negative`` record per column with clipped values.
    """
    out = frame.copy()
    for column in frame.columns:
        values = frame[column].to_numpy()
        too_low = np.flatnonzero(values < -tolerance)
        if too_low.size:
            i = int(too_low[0])
            raise origin.error(column, _at(frame.index, i), f"a value >= -{tolerance}",
                               values[i])
        neg = np.flatnonzero(values < 0)
        if neg.size:
            out[column] = np.where(values < 0, 0.0, values)
            log.add(origin.file, column, "negative", neg.size, frame.index[neg[0]],
                    f"clipped to 0 (min {values.min():.3g})")
    return out


def clip_per_unit(frame: pd.DataFrame, columns: list[str], tolerance: float, origin: Origin,
                  log: CleaningLog) -> pd.DataFrame:
    """Rule 6: per-unit values in ``(1, 1 + tolerance]`` are set to 1; above is an error.

    Parameters
    ----------
    frame : DataFrame
        Indexed by time.
    columns : list of str
        The per-unit (availability) columns.
    tolerance : float
        ``pu_tolerance`` (per unit).
    origin : Origin
        For messages and records.
    log : CleaningLog
        Receives an ``above_one`` record per column with clipped values.
    """
    out = frame.copy()
    for column in columns:
        values = frame[column].to_numpy()
        too_high = np.flatnonzero(values > 1 + tolerance)
        if too_high.size:
            i = int(too_high[0])
            raise origin.error(column, _at(frame.index, i),
                               f"per-unit availability <= 1 + {tolerance}", values[i])
        high = np.flatnonzero(values > 1)
        if high.size:
            out[column] = np.where(values > 1, 1.0, values)
            log.add(origin.file, column, "above_one", high.size, frame.index[high[0]],
                    f"clipped to 1 (max {values.max():.6g})")
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) positions of each run of True values."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _trim_edges(frame: pd.DataFrame, origin: Origin, log: CleaningLog) -> pd.DataFrame:
    """Drop rows at the ends where a column has no value (nothing to interpolate from)."""
    complete = np.flatnonzero(frame.notna().all(axis=1).to_numpy())
    if complete.size == 0:
        raise origin.error(",".join(frame.columns), "all rows",
                           "at least one time with a value in every column", "none")
    first, last = int(complete[0]), int(complete[-1])
    for column in frame.columns:
        missing = frame[column].isna().to_numpy()
        dropped = np.flatnonzero(missing[:first]).tolist()
        dropped += (last + 1 + np.flatnonzero(missing[last + 1:])).tolist()
        if dropped:
            log.add(origin.file, column, "nan_edge", len(dropped), frame.index[dropped[0]],
                    "dropped (no value on one side to interpolate from)")
    return frame.iloc[first:last + 1]


def _check_gaps(mask: np.ndarray, index: pd.DatetimeIndex, hours: float, column: str,
                max_gap_h: float, origin: Origin) -> None:
    for first, last in _runs(mask):
        if (last - first + 1) * hours > max_gap_h + 1e-9:
            raise origin.error(column, f"from {index[first]} to {index[last]}",
                               f"gaps of at most max_gap_h = {max_gap_h} h",
                               f"{(last - first + 1) * hours:g} h missing")


def fill_gaps(frame: pd.DataFrame, step: pd.Timedelta, max_gap_h: float, origin: Origin,
              log: CleaningLog) -> pd.DataFrame:
    """Rule 3: missing steps and NaN runs up to ``max_gap_h`` interpolated linearly.

    A gap of ``n`` missing steps lasts ``n * step``; a longer gap than ``max_gap_h`` is an error
    naming the column (the time column for missing timestamps) and its first and last time.
    Values missing at the very start or end cannot be interpolated; those rows are dropped.

    Parameters
    ----------
    frame : DataFrame
        Indexed by increasing unique times on the grid of ``step``.
    step : Timedelta
        The step of the table.
    max_gap_h : float
        Longest gap to interpolate (h).
    origin : Origin
        For messages and records.
    log : CleaningLog
        Receives ``dst_gap`` / ``gap`` records (missing timestamps, on the time column) and
        ``nan`` records (empty cells, per column).

    Returns
    -------
    DataFrame
        On the full regular grid from first to last time, without NaN.
    """
    grid = pd.date_range(frame.index[0], frame.index[-1], freq=step)
    hours = step / pd.Timedelta(hours=1)
    absent = ~grid.isin(frame.index)
    _check_gaps(absent, grid, hours, origin.time_column, max_gap_h, origin)
    full = frame.reindex(grid)
    for first, last in _runs(absent):
        rule = "dst_gap" if is_dst_change(grid[first:last + 1], fold=False) else "gap"
        log.add(origin.file, origin.time_column, rule, last - first + 1, grid[first],
                "missing steps interpolated linearly")
    full = _trim_edges(full, origin, log)
    present = ~full.index.isin(pd.DatetimeIndex(grid[absent]))
    for column in full.columns:
        missing = full[column].isna().to_numpy()
        _check_gaps(missing, full.index, hours, column, max_gap_h, origin)
        empty = np.flatnonzero(missing & present)
        if empty.size:
            log.add(origin.file, column, "nan", empty.size, full.index[empty[0]],
                    "empty cells interpolated linearly")
    return full.interpolate(method="linear", limit_area="inside")


def drop_partial_days(frame: pd.DataFrame, step: pd.Timedelta, origin: Origin,
                      log: CleaningLog) -> pd.DataFrame:
    """Rule 7: keep whole days only; partial days at the ends are dropped and recorded.

    Parameters
    ----------
    frame : DataFrame
        On a regular grid of ``step`` without gaps.
    step : Timedelta
        The step of the table.
    origin : Origin
        For messages and records.
    log : CleaningLog
        Receives a ``partial_day`` record per dropped day (count = steps dropped).
    """
    per_day = int(pd.Timedelta(days=1) / step)
    days = frame.index.normalize()
    counts = pd.Series(1, index=days).groupby(level=0).size()
    partial = counts.index[counts.to_numpy() != per_day]
    for day in partial:
        rows = frame.index[days == day]
        log.add(origin.file, origin.time_column, "partial_day", len(rows), rows[0],
                f"dropped partial day {day.date()} ({len(rows)} of {per_day} steps)")
        logger.info("%s: dropped partial day %s (%d of %d steps)", origin.file, day.date(),
                    len(rows), per_day)
    if len(partial) == len(counts):
        raise origin.error(origin.time_column, f"from {frame.index[0]} to {frame.index[-1]}",
                           f"at least one whole day of {per_day} steps", "partial days only")
    return frame[~days.isin(partial)]


def resample_mean(frame: pd.DataFrame, step: pd.Timedelta, step_h: float) -> pd.DataFrame:
    """Mean over each scenario step: ``x_k = mean of the values in [t_k, t_k + step_h)``.

    Parameters
    ----------
    frame : DataFrame
        Whole days on a regular grid of ``step``.
    step : Timedelta
        The step of the table; divides ``step_h``.
    step_h : float
        Scenario step (h).
    """
    target = pd.Timedelta(hours=step_h)
    if step == target:
        return frame
    return frame.resample(target, origin="start_day").mean()


def clean_table(raw: pd.DataFrame, origin: Origin, history: History, pu_columns: list[str],
                fmt: str | None = None) -> tuple[pd.DataFrame, CleaningLog]:
    """Apply every rule to one table read from a file.

    Parameters
    ----------
    raw : DataFrame
        The time column ``origin.time_column`` and the value columns, as read.
    origin : Origin
        File and time column, for messages and records.
    history : History
        ``step_h``, ``max_gap_h``, ``negative_tolerance`` and ``pu_tolerance``.
    pu_columns : list of str
        Columns holding per-unit availability (rule 6 applies to them only).
    fmt : str, optional
        Timestamp format (see :func:`parse_times`).

    Returns
    -------
    DataFrame
        Whole days at ``history.step_h`` (mean over each step), indexed by the start of each
        step, float64, without NaN.
    CleaningLog
        What was done.
    """
    log = CleaningLog()
    times = parse_times(raw[origin.time_column], origin, fmt)
    frame = parse_numbers(raw.drop(columns=[origin.time_column]), origin)
    frame.index = times
    frame = merge_duplicates(frame, origin, log)
    step = infer_step(frame.index, origin, history.step_h)
    frame = clip_negatives(frame, history.negative_tolerance, origin, log)
    frame = clip_per_unit(frame, pu_columns, history.pu_tolerance, origin, log)
    frame = fill_gaps(frame, step, history.max_gap_h, origin, log)
    frame = drop_partial_days(frame, step, origin, log)
    return resample_mean(frame, step, history.step_h), log
