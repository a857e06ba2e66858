"""``sesplan plan``: the extensive form, the ladder (``--compare``), PH and C&CG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from framework.cli.common import (
    check_output,
    given,
    log,
    modes,
    mpi_root,
    one_process,
    print_json,
    require_certified,
    system_and_scenarios,
    system_of,
)
from framework.errors import InputError, SolveError
from framework.system import System

#: Options of ``plan`` that only one method reads, and the methods that read them.
METHOD_OPTIONS = {"chronological": ("ef",), "linked_days": ("ef",), "gamma": ("ccg",), "quantile": ("ccg",), "single_worst_case": ("ccg",),
                  "rel_gap": ("ph", "ccg"), "max_iterations": ("ph", "ccg"), "rho": ("ph",),
                  "bundles_per_rank": ("ph",), "spokes": ("ph",)}


def _check_method_options(args: argparse.Namespace) -> None:
    """An option that the chosen ``--method`` does not read is an error, not ignored."""
    for name, methods in METHOD_OPTIONS.items():
        if getattr(args, name) not in (None, False) and args.method not in methods:
            raise InputError(f"--{name.replace('_', '-')}: applies to --method "
                             f"{' or '.join(methods)}, not --method {args.method}")


def cmd_plan(args: argparse.Namespace) -> None:
    """``sesplan plan``: optimal capacities and dispatch for the system's architectures, or
    (``--compare``) for every rung of the ladder with the saving decomposed."""
    from framework.report import comparison_table
    from framework.results import summary, write_result
    from framework.robust.storage import ccg_report, ccg_summary
    from framework.solve.ef import plan_ef
    from scenarios_gen.scenarios import read_scenarios

    _check_method_options(args)
    if args.chronological and args.linked_days:
        raise InputError("--linked-days: links representative days through the year; "
                         "--chronological plans on every day in order: choose one")
    check_output(args.output, **{"--scenarios": args.scenarios, "SYSTEM.toml": args.system})
    if args.compare:
        return _plan_compare(args)
    if args.method == "ph":
        return _plan_ph(args)
    if args.method == "ef" and not one_process("plan --method ef"):
        return None
    scenarios = read_scenarios(args.scenarios)
    system = system_of(args.system, args, scenarios)
    if args.method == "ccg":
        ds = _plan_ccg(args, system, scenarios)
        if ds is None:
            return
    elif args.chronological:
        from framework.chronological import solve_chronological
        from framework.results import combine_modes

        ds = combine_modes([solve_chronological(system, scenarios, m,
                                                time_limit_s=args.time_limit)
                            for m in modes(system)])
    else:
        ds = plan_ef(system, scenarios, modes=modes(system), time_limit_s=args.time_limit,
                     **given(linked=args.linked_days))
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        print_json({**summary(ds), **({"ccg": ccg_summary(ds)} if args.method == "ccg"
                                       else {})})
    else:
        print(comparison_table(ds))
        if args.method == "ccg":
            print(ccg_report(ds))
    require_certified(ds)


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
    if not one_process("plan --compare"):
        return
    given = [f"--{k.replace('_', '-')}" for k in ("storage", "station", "exchange",
                                                   "chronological", "linked_days")
             if getattr(args, k)]
    if given:
        raise InputError(f"--compare: solves every architecture of the ladder; drop "
                         f"{', '.join(given)}")
    scenarios = read_scenarios(args.scenarios)
    system = system_of(args.system, args, scenarios)
    ds = solve_ladder(system, scenarios, time_limit_s=args.time_limit)
    out = Path(args.output)
    write_result(ds, out)
    figure = save_figure(plot_ladder(ds), out.with_name(f"{out.stem}_ladder"),
                         f"sesplan plan --compare: {out.name}")
    log.info("wrote %s and %s", out, ", ".join(str(p) for p in figure))
    if args.json:
        print_json(ladder_summary(ds), sort_keys=False)  # the rungs in the ladder's order
    else:
        print(ladder_table(ds))
    require_certified(ds)


def _plan_ph(args: argparse.Namespace) -> None:
    """``--method ph``: progressive hedging over the MPI ranks (``mpiexec -n N``). Every rank
    reads the inputs; a failure anywhere stops all ranks with one line; rank 0 writes and
    prints."""
    from framework.report import comparison_table
    from framework.results import summary, write_result
    from framework.solve.ph import ph_report, ph_summary, plan_ph
    from framework.solve.ph_mpi import check_same_inputs, load_everywhere, stop_everywhere

    root = mpi_root(args)
    system, scenarios = load_everywhere(
        lambda: system_and_scenarios(args))
    check_same_inputs(system, scenarios)
    spokes = None if args.spokes is None else [
        x.strip() for x in args.spokes.split(",") if x.strip() not in ("", "none")]
    try:
        ds = plan_ph(system, scenarios, modes=modes(system), time_limit_s=args.time_limit,
                     rho=args.rho, bundles_per_rank=args.bundles_per_rank or 0, spokes=spokes,
                     **given(rel_gap=args.rel_gap, max_iterations=args.max_iterations))
    except (InputError, SolveError) as err:
        stop_everywhere(err)
    if not root:
        return
    write_result(ds, args.output)
    log.info("wrote %s", args.output)
    if args.json:
        print_json({**summary(ds), "ph": ph_summary(ds)})
    else:
        print(comparison_table(ds))
        print(ph_report(ds))
    require_certified(ds)


def _plan_ccg(args: argparse.Namespace, system: System, scenarios: Any) -> Any:
    """Robust plans by C&CG (``--method ccg``); ``None`` on MPI ranks other than 0."""
    from framework.robust import CCGConfig
    from framework.robust.storage import plan_robust

    if args.gamma is None:
        raise InputError("--gamma: required with --method ccg (the budget of uncertainty)")
    root = mpi_root(args)
    ds = plan_robust(system, scenarios, modes=modes(system), gamma=args.gamma,
                     quantile=0.9 if args.quantile is None else args.quantile,
                     single_worst_case=bool(args.single_worst_case),
                     config=CCGConfig(**given(time_limit_s=args.time_limit,
                                               rel_gap=args.rel_gap,
                                               max_iterations=args.max_iterations)))
    return ds if root else None
