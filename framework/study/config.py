"""The study file (``study.toml``): cases, sweeps, outputs; and the key of every case.

A study lists cases; a case's ``[case.sweep]`` table expands it into the cartesian product
of the listed values. Every expanded case has a :meth:`Case.key`, the full configuration that
determines its result (the system's content including its data file, the scenario settings,
task, method, architectures solved, options and evaluation), and :meth:`Case.digest`, the
SHA-256 of that key, which names its result file. See ``docs/studies.md``.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from framework.architecture import ARCHITECTURES
from framework.errors import InputError
from framework.system import (
    System,
    default_system_path,
    load_system,
    read_toml,
    system_from_dict,
    system_to_dict,
)

TASKS = ("plan", "allocate", "lease")
BOTH = "both"
"""``mode = "both"``: the system's individual and shared architecture side by side."""
OUT_OF_SAMPLE = ("none", "all_days", "held_out")
CLUSTER_METHODS = ("kmeans", "kmedoids", "hierarchical")
SYSTEM_SECTIONS = ("history", "tariff", "storage", "shared", "planning")
CASE_KEYS = ("name", "task", "system", "set", "scenarios", "method", "mode", "options",
             "fixed_capacity", "evaluate", "sweep")
STUDY_KEYS = ("study", "defaults", "case", "outputs")
DIGEST_CHARS = 16


def _fail(where: str, key: str, expected: str, value: Any) -> InputError:
    return InputError(f"{where}: {key}: expected {expected}, got {value!r}")


def _int(value: Any, where: str, key: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, key, f"an integer >= {minimum}", value)
    return value


def _bool(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, key, "true or false", value)
    return value


def _number(value: Any, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, key, "a number", value)
    return float(value)


def _table(value: Any, where: str, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, key, "a table", value)
    return dict(value)


def _known(data: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; valid keys: {list(valid)}")


@dataclass(frozen=True)
class ScenarioSettings:
    """How a case's scenarios are made (see :func:`scenarios_gen.pipeline.scenarios_for`).

    Attributes
    ----------
    clusters : int
        Number of clustered days ``K``.
    method : {"kmeans", "kmedoids", "hierarchical"}
    seed : int
    extreme_days : int
    all_days : bool
        Every historical day its own scenario.
    sample_days : int
        If > 0: plan on this many days drawn at random (seed ``seed``) instead of clusters;
        the other days are the held-out days.
    """

    clusters: int = 12
    method: str = "kmeans"
    seed: int = 0
    extreme_days: int = 0
    all_days: bool = False
    sample_days: int = 0

    @classmethod
    def parse(cls, data: Any, where: str) -> ScenarioSettings:
        """Validate the ``scenarios`` table of a case; errors name ``where`` and the key."""
        data = _table(data, where, "scenarios")
        where = f"{where}: scenarios"
        _known(data, [f.name for f in fields(cls)], where)
        out = cls(**data)
        _int(out.clusters, where, "clusters", 1)
        _int(out.seed, where, "seed")
        _int(out.extreme_days, where, "extreme_days")
        _int(out.sample_days, where, "sample_days")
        _bool(out.all_days, where, "all_days")
        if out.method not in CLUSTER_METHODS:
            raise _fail(where, "method", f"one of {CLUSTER_METHODS}", out.method)
        if out.all_days and out.sample_days:
            raise InputError(f"{where}: all_days and sample_days exclude each other")
        return out


@dataclass(frozen=True)
class MMWSettings:
    """The MMW confidence interval of the optimality gap (:func:`framework.mmw.mmw_gap`)."""

    batch_size: int = 10
    batches: int = 5
    seed: int = 0
    confidence: float = 0.95

    @classmethod
    def parse(cls, data: Any, where: str) -> MMWSettings:
        """Validate the ``evaluate.mmw`` table of a case."""
        data = _table(data, where, "mmw")
        where = f"{where}: mmw"
        _known(data, [f.name for f in fields(cls)], where)
        out = cls(**data)
        _int(out.batch_size, where, "batch_size", 1)
        _int(out.batches, where, "batches", 2)
        _int(out.seed, where, "seed")
        if not 0 < _number(out.confidence, where, "confidence") < 1:
            raise _fail(where, "confidence", "a number in (0, 1)", out.confidence)
        return out


@dataclass(frozen=True)
class EvaluateSettings:
    """What is computed after a plan (``[case.evaluate]``).

    Attributes
    ----------
    out_of_sample : {"none", "all_days", "held_out"}
        The plan's capacities on every historical day, or on the days not sampled
        (``scenarios.sample_days``) (:func:`framework.evaluate.out_of_sample`).
    vss_evpi : bool
        VSS and EVPI of the scenario set (:func:`framework.evaluate.vss_evpi`).
    mmw : MMWSettings, optional
        MMW confidence interval of the plan's optimality gap, days drawn from the history.
    chronological : bool
        The plan operated on every historical day in order, the state of charge carried
        from day to day, beside the same days as cyclic days
        (:func:`framework.chronological.evaluate_chronological`: ``chronology_gap``,
        ``planning_gap``).
    """

    out_of_sample: str = "none"
    vss_evpi: bool = False
    mmw: MMWSettings | None = None
    chronological: bool = False

    @classmethod
    def parse(cls, data: Any, where: str) -> EvaluateSettings:
        """Validate the ``evaluate`` table of a case."""
        data = _table(data, where, "evaluate")
        where = f"{where}: evaluate"
        _known(data, [f.name for f in fields(cls)], where)
        oos = data.get("out_of_sample", "none")
        if oos not in OUT_OF_SAMPLE:
            raise _fail(where, "out_of_sample", f"one of {OUT_OF_SAMPLE}", oos)
        mmw = MMWSettings.parse(data["mmw"], where) if "mmw" in data else None
        return cls(out_of_sample=oos, vss_evpi=_bool(data.get("vss_evpi", False), where,
                                                        "vss_evpi"), mmw=mmw,
                   chronological=_bool(data.get("chronological", False), where,
                                       "chronological"))


@dataclass(frozen=True)
class Case:
    """One expanded case of a study.

    Attributes
    ----------
    name : str
        Unique in the study: the ``[[case]]`` name, with ``[key=label, ...]`` of its sweep.
    base : str
        The name of the ``[[case]]`` table it comes from.
    labels : dict
        Sweep key -> label of the value this case takes.
    task : {"plan", "allocate", "lease"}
    system : str
        ``"default"`` or a path relative to the study file.
    overrides : dict
        ``"section.key"`` or ``"microgrid.<name>.key"`` -> value, applied to the system.
    scenarios : ScenarioSettings
    method : str
        Solution method of a plan (``ef``, ``ph``, ``ccg``; see :mod:`framework.study.tasks`).
    mode : tuple of str, or "both", or None
        The sharing architectures to plan (names of
        :data:`framework.architecture.ARCHITECTURES`), ``"both"`` (the system's individual
        and shared architecture) or ``None`` (the system's ``[planning]`` choices); see
        :meth:`modes`.
    options : dict
        Keyword arguments of the method (plan) or of ``allocate`` / ``lease_sweep``.
    fixed_capacity : dict, optional
        ``{"energy_kwh": E, "power_kw": P}`` for every storage of each architecture, or
        tables per storage name (a microgrid's battery, ``station``): evaluate these
        capacities instead of optimising them.
    evaluate : EvaluateSettings
    study_dir : Path
        The folder of the study file (paths are relative to it).
    where : str
        Prefix of error messages (study file and case).
    """

    name: str
    base: str
    labels: Mapping[str, str]
    task: str
    system: str
    overrides: Mapping[str, Any]
    scenarios: ScenarioSettings
    method: str
    mode: tuple[str, ...] | str | None
    options: Mapping[str, Any]
    fixed_capacity: Mapping[str, Any] | None
    evaluate: EvaluateSettings
    study_dir: Path
    where: str

    def modes(self, system: System | None = None) -> list[str]:
        """The architectures to solve: those named by ``mode``; with ``both`` the system's
        individual and shared architecture; without ``mode`` the system's ``[planning]``
        choices (``system``: the case's system, loaded when not given)."""
        if isinstance(self.mode, tuple):
            return list(self.mode)
        planning = (system or self.load_system()).planning
        if self.mode == BOTH:
            return [planning.individual_architecture, planning.shared_architecture]
        return planning.architectures

    def system_path(self) -> Path:
        """The system file (the default system for ``"default"``)."""
        if self.system == "default":
            return default_system_path()
        path = Path(self.system)
        return path if path.is_absolute() else self.study_dir / path

    def load_system(self) -> System:
        """The case's system: the system file with the overrides of ``set`` applied."""
        path = self.system_path()
        base = load_system(path)
        if not self.overrides:
            return base
        data = apply_overrides(system_to_dict(base), self.overrides, f"{self.where}: set")
        return system_from_dict(data, where=f"{self.where}: set", base_dir=path.parent)

    def key(self) -> dict[str, Any]:
        """Everything that determines the result (and nothing else: no paths, no versions)."""
        system = self.load_system()
        config = system_to_dict(system)
        if system.history.path is not None:
            config["history"]["path"] = "sha256:" + file_digest(
                system.resolve(system.history.path))
        data_version = "files"
        if system.history.source == "simbench":
            try:
                data_version = f"simbench {version('simbench')}"
            except PackageNotFoundError:
                data_version = "simbench not installed"
        return {"task": self.task, "system": config, "data": data_version,
                "scenarios": asdict(self.scenarios), "method": self.method,
                "architectures": self.modes(system),
                "options": dict(self.options), "fixed_capacity": self.fixed_capacity,
                "evaluate": asdict(self.evaluate)}

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of :meth:`key` as canonical JSON."""
        text = json.dumps(self.key(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise InputError(f"{path}: data file not found") from None


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any],
                    where: str) -> dict[str, Any]:
    """Apply ``{"section.key": value, "microgrid.<name>.key": value, "name": value}`` to a
    TOML-shaped system dict (a copy is returned; validation is the system's)."""
    out = copy.deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        if parts == ["name"]:
            out["name"] = value
        elif len(parts) == 2 and parts[0] in SYSTEM_SECTIONS:
            out.setdefault(parts[0], {})[parts[1]] = value
        elif len(parts) == 3 and parts[0] == "microgrid":
            match = [mg for mg in out["microgrid"] if mg["name"] == parts[1]]
            if not match:
                names = [mg["name"] for mg in out["microgrid"]]
                raise InputError(f"{where}: {key}: no microgrid {parts[1]!r} (there are "
                                 f"{names})")
            match[0][parts[2]] = value
        else:
            raise InputError(f"{where}: {key}: expected 'name', '<section>.<key>' with a "
                             f"section among {SYSTEM_SECTIONS}, or 'microgrid.<name>.<key>'")
    return out


@dataclass(frozen=True)
class Outputs:
    """``[outputs]``: which figures, tables and report the study writes.

    Attributes
    ----------
    figures : bool or tuple of str
        Every figure the results allow (``true``), none, or these (names as in
        :data:`framework.plotting.FIGURES`).
    figure_cases : tuple of str, optional
        Per-case figures only for these cases (names or ``[[case]]`` names); default all.
    details : bool or tuple of str
        Per-case tables in ``summary.md``: all cases, none, or these.
    columns : tuple of str, optional
        Columns of the case table in ``summary.md`` (default: a standard set).
    report : str, optional
        A Python file beside the study whose ``report(result)`` returns ``{file: text}``
        to write into the output folder.
    """

    figures: bool | tuple[str, ...] = True
    figure_cases: tuple[str, ...] | None = None
    details: bool | tuple[str, ...] = True
    columns: tuple[str, ...] | None = None
    report: str | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> Outputs:
        """Validate the ``[outputs]`` table."""
        data = _table(data, where, "outputs")
        where = f"{where}: outputs"
        _known(data, [f.name for f in fields(cls)], where)

        def names(key: str, allow_bool: bool) -> Any:
            """A list of names (or, where allowed, true/false) under ``key``."""
            value = data.get(key)
            if value is None or (allow_bool and isinstance(value, bool)):
                return value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise _fail(where, key, "a list of names" + (" or true/false" if allow_bool
                                                             else ""), value)
            return tuple(value)

        report = data.get("report")
        if report is not None and not isinstance(report, str):
            raise _fail(where, "report", "a file name", report)
        figures = names("figures", True)
        details = names("details", True)
        return cls(figures=True if figures is None else figures,
                   figure_cases=names("figure_cases", False),
                   details=True if details is None else details,
                   columns=names("columns", False), report=report)


@dataclass(frozen=True)
class Study:
    """A parsed study file: its cases (sweeps expanded) and outputs."""

    name: str
    title: str
    description: str
    path: Path
    cases: tuple[Case, ...]
    outputs: Outputs = field(default_factory=Outputs)

    def digest(self) -> str:
        """SHA-256 of the study file's bytes."""
        return file_digest(self.path)


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, tables merged key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set ``a.b.c`` in nested tables; under ``set`` the rest of the key is one key."""
    parts = key.split(".")
    if parts[0] not in CASE_KEYS or parts[0] in ("name", "sweep"):
        raise InputError(f"{where}: sweep key {key!r}: expected a case key among "
                         f"{[k for k in CASE_KEYS if k not in ('name', 'sweep')]}")
    if parts[0] == "set":
        parts = ["set", ".".join(parts[1:])]
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"{where}: sweep key {key!r}: {part!r} is not a table")
    node[parts[-1]] = copy.deepcopy(value)


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def expand_sweep(table: dict[str, Any], where: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The cartesian product of ``table["sweep"]``: (case table, labels) per combination.

    A sweep value that is a table is merged into the case; its ``label`` names it.
    """
    sweep = _table(table.pop("sweep", {}), where, "sweep")
    axes = []
    for key, values in sweep.items():
        if not isinstance(values, list) or not values:
            raise _fail(where, f"sweep.{key}", "a non-empty list of values", values)
        axes.append((key, values))
    out = []
    for combination in itertools.product(*[values for _, values in axes]):
        case = copy.deepcopy(table)
        labels: dict[str, str] = {}
        for (key, _), value in zip(axes, combination):
            if isinstance(value, Mapping):
                value = dict(value)
                label = value.pop("label", None)
                if not isinstance(label, str) or not label:
                    raise _fail(where, f"sweep.{key}", "tables with a 'label' string", value)
                _known(value, [k for k in CASE_KEYS if k not in ("name", "sweep")],
                       f"{where}: sweep.{key} {label!r}")
                case = deep_merge(case, value)
                labels[key] = label
            else:
                set_dotted(case, key, value, where)
                labels[key] = _label(value)
        out.append((case, labels))
    return out


def case_name(base: str, labels: Mapping[str, str]) -> str:
    """``base[key=label,...]`` (the last part of each key, unless that is ambiguous)."""
    if not labels:
        return base
    short = [k.split(".")[-1] for k in labels]
    keys = [s if short.count(s) == 1 else k for s, k in zip(short, labels)]
    return f"{base}[{','.join(f'{k}={v}' for k, v in zip(keys, labels.values()))}]"


def parse_mode(value: Any, where: str) -> tuple[str, ...] | str | None:
    """The ``mode`` of a case: an architecture name or a list of them (a tuple), ``"both"``,
    or ``None`` (absent: the system's ``[planning]`` choices)."""
    if value is None or value == BOTH:
        return value
    names = [value] if isinstance(value, str) else value
    if (not isinstance(names, list) or not names
            or any(n not in ARCHITECTURES for n in names) or len(set(names)) < len(names)):
        hint = ("; 'shared' is now 'accounts' or 'pooled' (a shared station)"
                if "shared" in (names if isinstance(names, list) else []) else "")
        raise _fail(where, "mode", f"an architecture among {list(ARCHITECTURES)}, a list of "
                    f"distinct ones, or '{BOTH}'{hint}", value)
    return tuple(names)


def parse_case(table: dict[str, Any], labels: dict[str, str], study_dir: Path,
               where: str) -> Case:
    """Validate one expanded case table."""
    base = table["name"]
    name = case_name(base, labels)
    where = f"{where}: case {name!r}"
    _known(table, CASE_KEYS, where)
    task = table.get("task", "plan")
    if task not in TASKS:
        raise _fail(where, "task", f"one of {TASKS}", task)
    mode = parse_mode(table.get("mode"), where)
    system = table.get("system", "default")
    if not isinstance(system, str) or not system:
        raise _fail(where, "system", "'default' or a system file", system)
    method = table.get("method", "ef")
    if not isinstance(method, str):
        raise _fail(where, "method", "a method name", method)
    fixed = table.get("fixed_capacity")
    if fixed is not None:
        fixed = _table(fixed, where, "fixed_capacity")
        _known(fixed, ["energy_kwh", "power_kw"], f"{where}: fixed_capacity")
        if set(fixed) != {"energy_kwh", "power_kw"}:
            raise _fail(where, "fixed_capacity", "energy_kwh and power_kw", fixed)
    return Case(name=name, base=base, labels=labels, task=task, system=system,
                overrides=_table(table.get("set", {}), where, "set"),
                scenarios=ScenarioSettings.parse(table.get("scenarios", {}), where),
                method=method, mode=mode, options=_table(table.get("options", {}), where,
                                                         "options"),
                fixed_capacity=fixed,
                evaluate=EvaluateSettings.parse(table.get("evaluate", {}), where),
                study_dir=study_dir, where=where)


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; errors name the file, the case and the key."""
    path = Path(path)
    where = str(path)
    data = read_toml(path, "study")
    _known(data, STUDY_KEYS, where)
    head = _table(data.get("study", {}), where, "study")
    _known(head, ["name", "title", "description"], f"{where}: study")
    name = head.get("name", path.parent.name)
    defaults = _table(data.get("defaults", {}), where, "defaults")
    _known(defaults, [k for k in CASE_KEYS if k != "name"], f"{where}: defaults")
    tables = data.get("case", [])
    if not isinstance(tables, list) or not tables:
        raise InputError(f"{where}: expected at least one [[case]] table")
    cases: list[Case] = []
    for k, table in enumerate(tables):
        table = _table(table, where, f"case[{k}]")
        if not isinstance(table.get("name"), str) or not table["name"]:
            raise _fail(where, f"case[{k}].name", "a non-empty string", table.get("name"))
        merged = deep_merge(defaults, table)
        for expanded, labels in expand_sweep(merged, f"{where}: case {table['name']!r}"):
            cases.append(parse_case(expanded, labels, path.parent, where))
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{where}: case names must be unique; repeated: {dupes}")
    return Study(name=str(name), title=str(head.get("title", name)),
                 description=str(head.get("description", "")).strip(), path=path,
                 cases=tuple(cases),
                 outputs=Outputs.parse(data.get("outputs", {}), where))
