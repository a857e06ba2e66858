"""The ``sesplan`` command: thin wrappers over the documented Python API.

Each subcommand reads its inputs, calls one library function and writes its output
atomically; a user mistake prints one line (``sesplan: error: ...``) and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import dataclasses
import functools
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from framework import __version__, git_commit
from framework.errors import InputError, SolveError
from framework.system import System, default_system_path, load_system, stored_system

log = logging.getLogger("sesplan")


def _system(path: str | None, args: argparse.Namespace | None = None,
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
    given = _given(storage=getattr(args, "storage", None), station=getattr(args, "station", None),
                   exchange=getattr(args, "exchange", None),
                   forbid_simultaneous=getattr(args, "forbid_simultaneous", None) or None)
    try:
        return dataclasses.replace(system, planning=dataclasses.replace(system.planning,
                                                                        **given))
    except InputError as err:
        raise InputError(f"--{err}") from None


#: Environment variables that MPI launchers set to a process's rank and to the world size.
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS")


def _one_process(what: str) -> bool:
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


def _require_certified(ds: Any) -> None:
    """Raise :class:`NotCertified` (exit status 4) when a result of ``ds`` is not certified
    (:func:`framework.results.certification`); the result was written and printed."""
    from framework.results import summary

    s = summary(ds)
    if not s["certified"]:
        raise NotCertified("; ".join(f"{mode}: {row['not_certified_because']}"
                                     for mode, row in s["modes"].items()
                                     if not row["certified"]))


def _system_and_scenarios(args: argparse.Namespace) -> tuple[System, Any]:
    """The scenario file of ``--scenarios`` and the system to plan it with (:func:`_system`)."""
    from scenarios_gen.scenarios import read_scenarios

    scenarios = read_scenarios(args.scenarios)
    return _system(args.system, args, scenarios), scenarios


def _modes(system: System) -> list[str]:
    """The architectures that the system's planning choices name."""
    return system.planning.architectures


def _print_json(data: Any, sort_keys: bool = True) -> None:
    """The one JSON document of ``--json``, on the stream :func:`_stdout_for_json` keeps."""
    print(json.dumps(data, indent=2, sort_keys=sort_keys), file=_JSON_OUT.get(),
          flush=True)


_JSON_OUT: contextvars.ContextVar[TextIO] = contextvars.ContextVar("json_out",
                                                                   default=sys.stdout)


@contextlib.contextmanager
def _stdout_for_json() -> Iterator[None]:
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


def _check_output(output: str | Path, **inputs: str | Path | None) -> None:
    """Refuse an output path that is one of the inputs (it would be replaced), or that
    cannot be written (a directory, or under a file), before anything is solved."""
    out = Path(output)
    for option, given in inputs.items():
        if given is not None and Path(given).exists() and out.exists() \
                and out.resolve() == Path(given).resolve():
            raise InputError(f"-o {output}: is the input of {option}; it would be replaced "
                             "(choose another output file)")
    if out.is_dir():
        raise InputError(f"-o {output}: is a directory; expected a file name")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"-o {output}: {parent} is a file, not a folder")


#: Options of ``plan`` that only one method reads, and the methods that read them.
METHOD_OPTIONS = {"gamma": ("ccg",), "quantile": ("ccg",), "single_worst_case": ("ccg",),
                  "rel_gap": ("ph", "ccg"), "max_iterations": ("ph", "ccg"), "rho": ("ph",),
                  "bundles_per_rank": ("ph",), "spokes": ("ph",)}


def _check_method_options(args: argparse.Namespace) -> None:
    """An option that the chosen ``--method`` does not read is an error, not ignored."""
    for name, methods in METHOD_OPTIONS.items():
        if getattr(args, name) not in (None, False) and args.method not in methods:
            raise InputError(f"--{name.replace('_', '-')}: applies to --method "
                             f"{' or '.join(methods)}, not --method {args.method}")


def cmd_scenarios(args: argparse.Namespace) -> None:
    """``sesplan scenarios``: history -> clustered representative days -> NetCDF."""
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    system = _system(args.system)
    history = system.resolve(system.history.path) if system.history.path else None
    _check_output(args.output, **{"--system": args.system, "the history": history})
    if not _one_process("scenarios"):
        return
    ds = scenarios_for(system, n_clusters=args.clusters, method=args.method,
                       extreme_days=args.extreme_days, seed=args.seed, all_days=args.all_days)
    write_scenarios(ds, args.output)
    log.info("wrote %d scenarios to %s", ds.sizes["scenario"], args.output)
    if args.json:
        _print_json({
            "output": str(args.output), "n_scenarios": int(ds.sizes["scenario"]),
            "probability": [float(p) for p in ds["probability"].values],
            "method": ds.attrs.get("method"), "seed": int(ds.attrs.get("seed", 0)),
            "metrics": json.loads(ds.attrs.get("metrics", "{}")),
        })


def cmd_plan(args: argparse.Namespace) -> None:
    """``sesplan plan``: optimal capacities and dispatch for the system's architectures, or
    (``--compare``) for every rung of the ladder with the saving decomposed."""
    from framework.report import comparison_table
    from framework.results import summary, write_result
    from framework.robust.storage import ccg_report, ccg_summary
    from framework.solve.ef import plan_ef
    from scenarios_gen.scenarios import read_scenarios

    _check_method_options(args)
    _check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    if args.compare:
        return _plan_compare(args)
    if args.method == "ph":
        return _plan_ph(args)
    if args.method == "ef" and not _one_process("plan --method ef"):
        return None
    scenarios = read_scenarios(args.scenarios)
    system = _system(args.system, args, scenarios)
    if args.method == "ccg":
        ds = _plan_ccg(args, system, scenarios)
        if ds is None:
            return
    else:
        ds = plan_ef(system, scenarios, modes=_modes(system), time_limit_s=args.time_limit)
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        _print_json({**summary(ds), **({"ccg": ccg_summary(ds)} if args.method == "ccg"
                                       else {})})
    else:
        print(comparison_table(ds))
        if args.method == "ccg":
            print(ccg_report(ds))
    _require_certified(ds)


def _plan_compare(args: argparse.Namespace) -> None:
    """``--compare``: the ladder of sharing architectures by the extensive form, the saving
    of the pooled station decomposed into storage sharing and energy exchange, and the
    waterfall figure beside the output (``<stem>_ladder.pdf``/``.png``)."""
    from framework.ladder import ladder_summary, ladder_table, solve_ladder
    from framework.plotting import plot_ladder, save_figure
    from framework.results import write_result
    from scenarios_gen.scenarios import read_scenarios

    if args.method != "ef":
        raise InputError(f"--compare: the ladder is solved by the extensive form only, not "
                         f"--method {args.method}")
    if not _one_process("plan --compare"):
        return
    given = [f"--{k}" for k in ("storage", "station", "exchange") if getattr(args, k)]
    if given:
        raise InputError(f"--compare: solves every architecture of the ladder; drop "
                         f"{', '.join(given)}")
    scenarios = read_scenarios(args.scenarios)
    system = _system(args.system, args, scenarios)
    ds = solve_ladder(system, scenarios, time_limit_s=args.time_limit)
    out = Path(args.output)
    write_result(ds, out)
    figure = save_figure(plot_ladder(ds), out.with_name(f"{out.stem}_ladder"),
                         f"sesplan plan --compare: {out.name}")
    log.info("wrote %s and %s", out, ", ".join(str(p) for p in figure))
    if args.json:
        _print_json(ladder_summary(ds), sort_keys=False)  # the rungs in the ladder's order
    else:
        print(ladder_table(ds))
    _require_certified(ds)


def _plan_ph(args: argparse.Namespace) -> None:
    """``--method ph``: progressive hedging over the MPI ranks (``mpiexec -n N``). Every rank
    reads the inputs; a failure anywhere stops all ranks with one line; rank 0 writes and
    prints."""
    from framework.report import comparison_table
    from framework.results import summary, write_result
    from framework.solve.ph import ph_report, ph_summary, plan_ph
    from framework.solve.ph_mpi import check_same_inputs, load_everywhere, stop_everywhere

    root = _mpi_root(args)
    system, scenarios = load_everywhere(
        lambda: _system_and_scenarios(args))
    check_same_inputs(system, scenarios)
    spokes = None if args.spokes is None else [
        x.strip() for x in args.spokes.split(",") if x.strip() not in ("", "none")]
    try:
        ds = plan_ph(system, scenarios, modes=_modes(system), time_limit_s=args.time_limit,
                     rho=args.rho, bundles_per_rank=args.bundles_per_rank or 0, spokes=spokes,
                     **_given(rel_gap=args.rel_gap, max_iterations=args.max_iterations))
    except (InputError, SolveError) as err:
        stop_everywhere(err)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        _print_json({**summary(ds), "ph": ph_summary(ds)})
    else:
        print(comparison_table(ds))
        print(ph_report(ds))
    _require_certified(ds)


def _given(**options: Any) -> dict[str, Any]:
    """The options that are not ``None`` (command-line values the user gave)."""
    return {k: v for k, v in options.items() if v is not None}


def _plan_ccg(args: argparse.Namespace, system: System, scenarios: Any) -> Any:
    """Robust plans by C&CG (``--method ccg``); ``None`` on MPI ranks other than 0."""
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_robust

    if args.gamma is None:
        raise InputError("--gamma: required with --method ccg (the budget of uncertainty)")
    root = _mpi_root(args)
    ds = plan_robust(system, scenarios, modes=_modes(system), gamma=args.gamma,
                     quantile=0.9 if args.quantile is None else args.quantile,
                     single_worst_case=bool(args.single_worst_case),
                     config=CCGConfig(**_given(time_limit_s=args.time_limit,
                                               rel_gap=args.rel_gap,
                                               max_iterations=args.max_iterations)))
    return ds if root else None


def cmd_evaluate(args: argparse.Namespace) -> None:
    """``sesplan evaluate``: a plan's capacities on another scenario set."""
    from framework.evaluate import evaluate_plan
    from framework.report import comparison_table
    from framework.results import read_result, summary, write_result

    _check_output(args.output, **{"--plan": args.plan, "--scenarios": args.scenarios,
                                  "SYSTEM.toml": args.system})
    if not _one_process("evaluate"):
        return
    system, scenarios = _system_and_scenarios(args)
    ds = evaluate_plan(system, scenarios, read_result(args.plan))
    write_result(ds, args.output)
    if args.json:
        _print_json(summary(ds))
    else:
        print(comparison_table(ds))
    _require_certified(ds)


def cmd_demo(args: argparse.Namespace) -> None:
    """``sesplan demo``: the default system from history to individual batteries vs a shared
    station, the value of sharing decomposed over the ladder of architectures, a robust
    station, the split of the saving, and leasing."""
    from framework.game import allocate, allocation_table
    from framework.ladder import ladder_table, solve_ladder
    from framework.lease import lease_sweep, lease_table
    from framework.plotting import figures_for, save_figure
    from framework.report import comparison_table, robustness_table
    from framework.results import write_result
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_ccg
    from framework.solve.ef import plan_ef
    from scenarios_gen.pipeline import scenarios_for
    from scenarios_gen.scenarios import write_scenarios

    out = Path(args.output)
    start = time.perf_counter()
    if not args.verbose:  # one printed line per step; the solves' log lines under -v
        for name in ("framework", "scenarios_gen"):
            logging.getLogger(name).setLevel(logging.WARNING)
    system = _system(None)
    station = system.planning.shared_architecture
    print(f"sesplan demo: system {system.name!r} with microgrids {', '.join(system.names)}")
    scenarios = scenarios_for(system, n_clusters=args.clusters, seed=args.seed)
    write_scenarios(scenarios, out / "scenarios.nc")
    print(f"1. {scenarios.sizes['scenario']} representative days (k-means) "
          f"-> {out / 'scenarios.nc'}")
    result = plan_ef(system, scenarios)
    write_result(result, out / "plan.nc")
    print(f"2. individual batteries vs a shared station ({station}; extensive form, HiGHS) "
          f"-> {out / 'plan.nc'}\n")
    print(comparison_table(result))
    ladder = solve_ladder(system, scenarios, solved=result)
    write_result(ladder, out / "ladder.nc")
    print(f"\n3. the value of sharing, decomposed: every architecture from no storage to a "
          f"pooled station -> {out / 'ladder.nc'}\n")
    print(ladder_table(ladder))
    robust = plan_ccg(system, scenarios, station, gamma=args.gamma,
                      config=CCGConfig(time_limit_s=120), compare_stochastic=True)
    write_result(robust, out / "robust.nc")
    print(f"\n4. a robust shared station (C&CG): every day may deviate to its cluster's "
          f"90 % load and 10 % renewable quantiles in {args.gamma:g} hours per microgrid "
          f"-> {out / 'robust.nc'}\n")
    print(robustness_table(result, robust))
    allocation = allocate(system, scenarios, ["shapley", "nucleolus", "proportional_cost"])
    write_result(allocation, out / "allocation.nc")
    print(f"\n5. the saving of sharing split among the microgrids -> {out / 'allocation.nc'}\n")
    print(allocation_table(allocation))
    lease = lease_sweep(system, scenarios, grid=4)
    write_result(lease, out / "lease.nc")
    print(f"\n6. a third-party station leasing partitions -> {out / 'lease.nc'}\n")
    print(lease_table(lease))
    written = []
    for ds, names in ((result, ["representative_days", "soc", "capacity_cost"]),
                      (ladder, ["ladder"]), (robust, ["bound_convergence"]),
                      (allocation, ["allocation"])):
        for name, fig in figures_for(ds, names).items():
            written += save_figure(fig, out / "figures" / name, f"sesplan demo: {name}")
    print(f"\n7. figures (PDF and PNG) -> {out / 'figures'}: "
          + ", ".join(p.name for p in written if p.suffix == ".png"))
    print(f"\ndone in {time.perf_counter() - start:.1f} s")


def _mpi_root(args: argparse.Namespace) -> bool:
    """Whether this is MPI rank 0 (the only one that logs, writes and prints); other ranks
    log warnings only, and the per-solve lines of the extensive form need ``--verbose``."""
    from framework.game.values import rank_zero

    root = rank_zero()
    if not root:
        logging.getLogger().setLevel(logging.WARNING)
    if not args.verbose:
        logging.getLogger("framework.solve.ef").setLevel(logging.WARNING)
    return root


def _floats(text: str | None, name: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: expected comma-separated numbers, got {text!r}") from None


def cmd_allocate(args: argparse.Namespace) -> None:
    """``sesplan allocate``: coalition values, then the allocation rules and core checks."""
    from framework.game import allocate, allocation_summary, allocation_table
    from framework.results import write_result

    root = _mpi_root(args)
    _check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    rules = [x.strip() for x in args.rules.split(",") if x.strip()]
    ds = allocate(*_system_and_scenarios(args), rules,
                  cache_dir=args.cache, n_permutations=args.permutations, seed=args.seed,
                  time_limit_s=args.time_limit)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        _print_json(allocation_summary(ds))
    else:
        print(allocation_table(ds))


def cmd_lease(args: argparse.Namespace) -> None:
    """``sesplan lease``: best responses to lease prices and the operator's profit."""
    from framework.lease import lease_summary, lease_sweep, lease_table
    from framework.results import write_result

    root = _mpi_root(args)
    _check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    ds = lease_sweep(*_system_and_scenarios(args),
                     _floats(args.energy_prices, "--energy-prices"),
                     _floats(args.power_prices, "--power-prices"), grid=args.grid,
                     cache_dir=args.cache, time_limit_s=args.time_limit)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        _print_json(lease_summary(ds))
    else:
        print(lease_table(ds))


def cmd_study(args: argparse.Namespace) -> None:
    """``sesplan study``: every unfinished case of a study, then its summary and figures."""
    from framework.study import run_study

    result = run_study(args.study, args.output, force=args.force)
    out = result.output_dir
    figures = sum(1 for p in result.outputs if p.parent.name == "figures")
    print(f"study {result.study.name!r}: {len(result.outcomes)} cases, "
          f"{len(result.solved)} solved, {len(result.names('cached'))} finished before, "
          f"{len(result.failed)} failed")
    print(f"tables: {out / 'summary.md'}, {out / 'summary.csv'}; results: {out / 'cases'}; "
          f"{figures} figure files in {out / 'figures'}")
    if result.failed:
        print("sesplan: failed cases (see summary.md): " + ", ".join(result.failed),
              file=sys.stderr)
        raise SystemExit(1)


def cmd_figures(args: argparse.Namespace) -> None:
    """``sesplan figures``: every figure that result files allow, as PDF and PNG."""
    from framework.plotting import make_figures

    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    for path in make_figures(args.results, args.output, only=only):
        print(path)


def _add_system(p: argparse.ArgumentParser, positional: bool = True) -> None:
    help_ = "system TOML file (default: the four-microgrid system shipped with sesplan)"
    if positional:
        p.add_argument("system", nargs="?", default=None, metavar="SYSTEM.toml", help=help_)
    else:
        p.add_argument("--system", default=None, metavar="SYSTEM.toml", help=help_)


class _Version(argparse.Action):
    """``--version``: the package version and the git commit of the source tree."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"sesplan {__version__} (git {git_commit()})")
        parser.exit()


def _positive(option: str) -> Any:
    """An argparse type: a finite number > 0."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
        if not (value > 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
        return value
    parse.__name__ = option
    return parse


def _add_architecture(p: argparse.ArgumentParser, storage: bool = True) -> None:
    """The sharing-architecture options (default: the system's ``[planning]``)."""
    if storage:
        p.add_argument("--storage", choices=("none", "individual", "shared", "both"),
                       default=None, help="who owns storage: nobody, a battery per microgrid, "
                       "one shared station, or both side by side with the saving of sharing "
                       "(default: the system's planning.storage, 'both' in the shipped one)")
    p.add_argument("--station", choices=("accounts", "pooled"), default=None,
                   help="the shared station: an energy account per microgrid (storage sharing "
                   "only) or one pooled state of charge whose bus nets the microgrids' flows "
                   "(storage sharing and energy exchange); default: planning.station, "
                   "'accounts' in the shipped system")
    p.add_argument("--exchange", choices=("none", "p2p"), default=None,
                   help="direct energy exchange between microgrids at the exchange fee "
                   "(default: planning.exchange, 'none' in the shipped system)")
    p.add_argument("--forbid-simultaneous", action="store_true",
                   help="forbid charging and discharging a storage in the same step exactly "
                   "(binaries; a MILP)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sesplan`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="sesplan",
        description="Plan shared energy storage for several microgrids under uncertainty.",
        epilog="Run 'sesplan COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version and the git commit, then exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="sesplan's details and the solver's log")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    common = argparse.ArgumentParser(add_help=False)  # -v and -q after the command too
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="sesplan's details and the solver's log")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = functools.partial(sub.add_parser, parents=[common])

    p = add("scenarios", help="cluster historical days into weighted scenarios",
                       description="Load, clean and cluster the history of a system into "
                       "weighted representative days, written as NetCDF.")
    _add_system(p, positional=False)
    p.add_argument("--clusters", "-k", type=int, default=12, help="number of clustered days")
    p.add_argument("--method", choices=("kmeans", "kmedoids", "hierarchical"),
                   default="kmeans", help="clustering method (default kmeans)")
    p.add_argument("--extreme-days", type=int, default=0,
                   help="days kept as their own scenarios (highest net load, lowest renewables)")
    p.add_argument("--all-days", action="store_true",
                   help="every historical day its own scenario (no clustering)")
    p.add_argument("--seed", type=int, default=0, help="random seed (stored in the file)")
    p.add_argument("-o", "--output", default="scenarios.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_scenarios)

    p = add("plan", help="size individual and/or shared storage, or compare "
                       "every sharing architecture (--compare)",
                       description="Optimal storage capacities and dispatch over the scenarios.")
    _add_system(p)
    p.add_argument("--scenarios", "-s", required=True, help="scenario file from 'scenarios'")
    p.add_argument("--method", choices=("ef", "ccg", "ph"), default="ef",
                   help="ef: extensive form on HiGHS; ccg: robust plan by column-and-"
                   "constraint generation (needs --gamma); ph: progressive hedging with "
                   "certified bounds, over MPI ranks (mpiexec -n N python -m mpi4py -m "
                   "framework.cli plan ... --method ph)")
    _add_architecture(p)
    p.add_argument("--time-limit", type=_positive("--time-limit"), default=None,
                   help="time limit (s) for each architecture: its extensive-form solve, or "
                   "its whole PH or C&CG run")
    p.add_argument("--gamma", type=float, default=None,
                   help="ccg: steps per microgrid and day that may deviate (budget)")
    p.add_argument("--quantile", type=float, default=None,
                   help="ccg: deviations to the Q / 1-Q quantiles of each cluster (default 0.9)")
    p.add_argument("--single-worst-case", action="store_true", default=None,
                   help="ccg: one worst day over all scenarios instead of the expected one")
    p.add_argument("--rel-gap", type=float, default=None,
                   help="ph, ccg: stop at this certified relative gap (default 0.01 for ph, "
                   "0.001 for ccg)")
    p.add_argument("--max-iterations", type=int, default=None,
                   help="ph, ccg: most iterations (default 200 for ph, 30 for ccg); "
                   "--time-limit bounds the run")
    p.add_argument("--rho", type=float, default=None,
                   help="ph: one rho for every capacity (default: cost-scaled, docs/ph.md)")
    p.add_argument("--bundles-per-rank", type=int, default=None,
                   help="ph: group the scenarios into this many bundles per rank (default 0: "
                   "no bundles)")
    p.add_argument("--spokes", default=None, metavar="NAME,...",
                   help="ph: lagrangian, xhatxbar, xhatshuffle or none (default: "
                   "lagrangian,xhatxbar on a multiple of 3 ranks, else none: bounds on the hub)")
    p.add_argument("--compare", action="store_true",
                   help="solve the ladder of sharing architectures (none, p2p, individual, "
                   "individual+p2p, accounts, accounts+p2p, pooled; extensive form only) and "
                   "split the pooled station's saving against individual batteries into "
                   "storage sharing and energy exchange (both orders and their average); "
                   "prints the ladder table, and writes the waterfall figure beside the "
                   "output as <output stem>_ladder.pdf and .png")
    p.add_argument("-o", "--output", default="result.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true",
                   help="print objective, capacities and KPIs per mode as JSON (with "
                   "--compare: every rung and the decomposition of the saving)")
    p.epilog = ("Exit status: 0 done; 2 a mistake in the input (one line, nothing written); "
                "3 the solver found no usable solution; 4 the result was written but a cost "
                "in it is not certified (a time or iteration limit, or no finite bound): the "
                "tables and the JSON mark it.")
    p.set_defaults(func=cmd_plan)

    p = add("evaluate", help="evaluate a plan's capacities on other days",
                       description="Fix the capacities of a plan and optimise the dispatch "
                       "on another scenario set (out-of-sample).")
    _add_system(p)
    p.add_argument("--plan", required=True, help="result file of 'plan'")
    p.add_argument("--scenarios", "-s", required=True, help="scenario file to evaluate on")
    p.add_argument("-o", "--output", default="evaluation.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_evaluate)

    p = add("allocate", help="split the saving of sharing among the microgrids",
                       description="Coalition values (every coalition sharing one station, "
                       "singletons with their own storage), then allocation rules with "
                       "individual-rationality and core checks. Under 'mpiexec -n N' the "
                       "coalition solves are spread over the ranks.")
    _add_system(p)
    p.add_argument("--scenarios", "-s", required=True, help="scenario file from 'scenarios'")
    _add_architecture(p, storage=False)
    p.add_argument("--rules", default="shapley,nucleolus,least_core,proportional_cost,"
                   "proportional_energy", help="comma-separated rules among shapley, "
                   "nucleolus, least_core, proportional_cost, proportional_energy, "
                   "sampled_shapley (default all but sampled_shapley)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="folder caching coalition values (a rerun solves nothing again)")
    p.add_argument("--permutations", type=int, default=200,
                   help="random orders for sampled_shapley (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled_shapley's orders")
    p.add_argument("--time-limit", type=_positive("--time-limit"), default=None,
                   help="solver time limit per coalition (s)")
    p.add_argument("-o", "--output", default="allocation.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print the allocations as JSON")
    p.set_defaults(func=cmd_allocate)

    p = add("lease", help="lease prices for a third-party station",
                       description="Each microgrid leases a partition (kWh, kW) of a station "
                       "at lease prices; over a price grid, its best response, bill and "
                       "saving, the operator's profit, and the most profitable prices at "
                       "which every microgrid gains.")
    _add_system(p)
    p.add_argument("--scenarios", "-s", required=True, help="scenario file from 'scenarios'")
    _add_architecture(p, storage=False)
    p.add_argument("--energy-prices", default=None, metavar="P1,P2,...",
                   help="lease prices per kWh-year (default: a grid from the operator's "
                   "break-even to a microgrid's own annual cost)")
    p.add_argument("--power-prices", default=None, metavar="P1,P2,...",
                   help="lease prices per kW-year (default: as for energy)")
    p.add_argument("--grid", type=int, default=6,
                   help="prices per axis of the default grid (default 6)")
    p.add_argument("--cache", default=None, metavar="DIR", help="folder caching the solves")
    p.add_argument("--time-limit", type=_positive("--time-limit"), default=None,
                   help="solver time limit per solve (s)")
    p.add_argument("-o", "--output", default="lease.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print the chosen prices as JSON")
    p.set_defaults(func=cmd_lease)

    p = add("demo", help="run the default system end to end",
                       description="Scenarios of the default system, then individual "
                       "batteries vs a shared station with a printed comparison, the ladder "
                       "of sharing architectures with the saving decomposed into storage "
                       "sharing and energy exchange, a robust shared station, the split of "
                       "the saving, leasing, and figures.")
    p.add_argument("--clusters", "-k", type=int, default=8, help="number of clustered days")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--gamma", type=float, default=24.0,
                   help="robust case: hours per microgrid and day that may deviate (default "
                   "24, all; smaller budgets take C&CG much longer, docs/robust.md)")
    p.add_argument("-o", "--output", default="results/demo", help="output folder")
    p.set_defaults(func=cmd_demo)

    p = add("study", help="run a study: cases, tables and figures",
                       description="Run every case of a study.toml that has no result yet "
                       "(results are cached by a hash of each case's configuration), then "
                       "write summary.csv, summary.md and the figures.")
    p.add_argument("study", metavar="STUDY.toml", help="the study file")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default results/<study name>)")
    p.add_argument("--force", action="store_true",
                   help="solve every case again (after a change of the model code)")
    p.set_defaults(func=cmd_study)

    p = add("figures", help="figures of result files (PDF and PNG)",
                       description="Every figure that a result file, a folder of result "
                       "files or a study folder allows, as vector PDF and 300-dpi PNG.")
    p.add_argument("results", metavar="RESULTS", help="a result file or folder")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: figures/ in the results folder)")
    p.add_argument("--only", default=None, metavar="NAME,...",
                   help="only these figures: representative_days, soc, capacity_cost, "
                   "out_of_sample, allocation, bound_convergence, ladder, objective_vs_k, "
                   "price_of_robustness")
    p.set_defaults(func=cmd_figures)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sesplan`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    # the libraries (Pyomo, mpi-sppy) stay at warnings: -v is sesplan's details and the
    # solver's log, not Pyomo's debug lines
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for name in ("sesplan", "framework", "scenarios_gen"):
        logging.getLogger(name).setLevel(level)
    try:
        with _stdout_for_json() if getattr(args, "json", False) else contextlib.nullcontext():
            args.func(args)
    except InputError as err:
        print(f"sesplan: error: {err}", file=sys.stderr)
        return 2
    except SolveError as err:
        print(f"sesplan: solver error: {err}", file=sys.stderr)
        return 3
    except NotCertified as err:
        print(f"sesplan: result written but NOT CERTIFIED: {err}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
