"""The argument parser of ``sesplan`` and its entry point."""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from framework import __version__, git_commit
from framework.cli.commands import cmd_evaluate, cmd_figures, cmd_scenarios, cmd_study
from framework.cli.common import NotCertified, solver_settings_of, stdout_for_json
from framework.cli.demo import cmd_demo
from framework.cli.game import cmd_allocate, cmd_lease
from framework.cli.plan import cmd_plan
from framework.errors import InputError, SolveError, WriteError


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


def _solver_options() -> argparse.ArgumentParser:
    """The solver settings of every command that solves (:mod:`framework.solve.settings`)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("solver settings (every HiGHS solve of the command)")
    g.add_argument("--threads", type=int, default=None, help="HiGHS threads (default HiGHS's)")
    g.add_argument("--mip-rel-gap", type=float, default=None, metavar="GAP",
                   help="relative gap at which a model with binaries stops (HiGHS's "
                   "mip_rel_gap, default 1e-4)")
    g.add_argument("--total-time-limit", type=_positive("--total-time-limit"), default=None,
                   metavar="S", help="one time limit (s) for the whole command: each solve "
                   "gets what is left (unlike --time-limit, which is per architecture or per "
                   "solve); a solve it stops is marked NOT CERTIFIED (exit status 4)")
    g.add_argument("--solver-log", default=None, metavar="FILE",
                   help="append HiGHS's log of every solve to FILE")
    g.add_argument("--highs-option", action="append", default=[], metavar="KEY=VALUE",
                   help="any HiGHS option, e.g. --highs-option presolve=off --highs-option "
                   "primal_feasibility_tolerance=1e-8 (repeatable; names checked against HiGHS)")
    return p


def _add_game_inputs(p: argparse.ArgumentParser) -> None:
    """The inputs of ``allocate`` and ``lease``: the system, the scenario file, and the
    shared station's architecture (storage is shared by definition)."""
    _add_system(p)
    p.add_argument("--scenarios", "-s", required=True, help="scenario file from 'scenarios'")
    _add_architecture(p, storage=False)


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
    solving = functools.partial(sub.add_parser, parents=[common, _solver_options()])

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

    p = solving("plan", help="size individual and/or shared storage, or compare "
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
    p.add_argument("--chronological", action="store_true", default=None,
                   help="ef: plan on every day of the scenario file in order, the state of "
                   "charge carried from day to day (a scenario file of every day, sesplan "
                   "scenarios --all-days); without it each day is a cyclic day")
    p.add_argument("--linked-days", action="store_true", default=None,
                   help="ef: link the representative days through the year's sequence of "
                   "clusters (the scenario file's membership), so storage can carry energy "
                   "from one day to the next (Kotzur et al. 2018; docs/formulation.md)")
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
                "tables and the JSON mark it; 5 the output could not be written (full disk, "
                "permissions); 130 interrupted (Ctrl-C or SIGTERM), nothing written.")
    p.set_defaults(func=cmd_plan)

    p = solving("evaluate", help="evaluate a plan's capacities on other days",
                       description="Fix the capacities of a plan and optimise the dispatch "
                       "on another scenario set (out-of-sample).")
    _add_system(p)
    p.add_argument("--plan", required=True, help="result file of 'plan'")
    p.add_argument("--scenarios", "-s", required=True, help="scenario file to evaluate on")
    p.add_argument("--chronological", action="store_true",
                   help="operate the plan on every day in order, the state of charge carried "
                   "from day to day (a scenario file of every day: sesplan scenarios "
                   "--all-days), beside the same days as cyclic days and the plan's own cost")
    p.add_argument("-o", "--output", default="evaluation.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_evaluate)

    p = solving("allocate", help="split the saving of sharing among the microgrids",
                description="Coalition values (every coalition sharing one station, "
                "singletons with their own storage), then allocation rules with "
                "individual-rationality and core checks. Up to 8 microgrids every coalition "
                "is solved (enumeration); above, the nucleolus, the least core and the core "
                "checks come from constraint generation (a separation finds the most "
                "violated coalition, docs/allocation.md). Under 'mpiexec -n N' the coalition solves "
                "are spread over the ranks.")
    _add_game_inputs(p)
    p.add_argument("--rules", default=None, help="comma-separated rules among shapley, "
                   "nucleolus, least_core, dual (dual prices of the grand coalition's LP), "
                   "proportional_cost, proportional_energy, sampled_shapley (default all but "
                   "sampled_shapley; by generation sampled_shapley to 1 %% of the saving "
                   "instead of shapley)")
    p.add_argument("--method", choices=("auto", "enumeration", "generation"), default="auto",
                   help="enumeration: all 2^n - 1 coalitions; generation: only those a "
                   "separation proves necessary, with every rule's core check certified "
                   "by it (exact shapley refused: use sampled_shapley); auto: enumeration up "
                   "to 8 microgrids (default)")
    p.add_argument("--separation", choices=("cuts", "milp"), default="cuts",
                   help="generation's separation: Lagrangian cuts, a small master over the "
                   "memberships with one LP per coalition it proposes (default), or one MILP "
                   "over the grand coalition's model; both exact")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="folder caching coalition values (a rerun solves nothing again)")
    p.add_argument("--permutations", type=int, default=200,
                   help="random orders for sampled_shapley (with --tolerance: the most; "
                   "default 200)")
    p.add_argument("--tolerance", type=_positive("--tolerance"), default=None,
                   metavar="X", help="sampled_shapley: stop when every confidence interval's "
                   "half-width is within X currency/yr (stratified orders)")
    p.add_argument("--rel-tolerance", type=_positive("--rel-tolerance"), default=None,
                   metavar="R", help="sampled_shapley: as --tolerance, R times the saving of "
                   "sharing")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled_shapley's orders")
    p.add_argument("--time-limit", type=_positive("--time-limit"), default=None,
                   help="solver time limit per coalition (s)")
    p.add_argument("--generation-time-limit", type=_positive("--generation-time-limit"),
                   default=None, metavar="S", help="generation: time limit of each run (least "
                   "core, nucleolus, each core check); a run that reaches it reports the bounds "
                   "it proved, NOT CERTIFIED")
    p.add_argument("-o", "--output", default="allocation.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true", help="print the allocations as JSON")
    p.set_defaults(func=cmd_allocate)

    p = solving("lease", help="lease prices and station of a third-party operator",
                description="Leasing as a leader-follower game (docs/lease.md): the operator "
                "posts lease prices (per kWh-year, per kW-year, a fee per kWh) and sizes an "
                "accounts station that serves every lease (it may lease more than it builds); "
                "each microgrid leases an account or keeps its own battery, whichever is "
                "cheaper. Prints the equilibrium prices, each microgrid's lease and saving, "
                "the station against the sum of leases, the operator's profit and margin, and "
                "the cooperative optimum for comparison.")
    _add_game_inputs(p)
    p.add_argument("--method", choices=("search", "exact", "both", "baseline"),
                   default="search", help="search: the prices by a search whose every point "
                   "solves the microgrids' best responses (over MPI ranks); exact: the single-"
                   "level MILP with its certified gap (small instances); both: exact, with the "
                   "search beside it; baseline: the former sweep of partition prices (no "
                   "operator sizing), for comparison (default search)")
    for axis, unit in (("energy", "kWh-year"), ("power", "kW-year"), ("fee", "kWh")):
        p.add_argument(f"--{axis}-price-bounds" if axis != "fee" else "--fee-bounds",
                       default=None, metavar="LO,HI",
                       help=f"the {'fee' if axis == 'fee' else axis + ' price'} per {unit} the "
                       "operator may post (default: " + ("the wear cost, fixed" if axis == "fee"
                       else "half to one and a half times a microgrid's own annual cost") + ")")
    p.add_argument("--levels", type=int, default=None,
                   help="price levels per axis of the lattice both methods use (default 41)")
    p.add_argument("--coarse", type=int, default=None,
                   help="search: levels of its first, coarse grid (default 9)")
    p.add_argument("--starts", type=int, default=None,
                   help="search: best coarse points refined locally (default 3)")
    p.add_argument("--full", action="store_true", default=None,
                   help="search: every point of the lattice (brute force)")
    p.add_argument("--energy-prices", default=None, metavar="P1,P2,...",
                   help="baseline: lease prices per kWh-year (default: a grid from the "
                   "operator's break-even to a microgrid's own annual cost)")
    p.add_argument("--power-prices", default=None, metavar="P1,P2,...",
                   help="baseline: lease prices per kW-year (default: as for energy)")
    p.add_argument("--grid", type=int, default=None,
                   help="baseline: prices per axis of the default grid (default 6)")
    p.add_argument("--cache", default=None, metavar="DIR", help="folder caching the solves")
    p.add_argument("--time-limit", type=_positive("--time-limit"), default=None,
                   help="solver time limit (s): of the MILP (exact), of each solve (search, "
                   "baseline)")
    p.add_argument("-o", "--output", default="lease.nc", help="output NetCDF file")
    p.add_argument("--json", action="store_true",
                   help="print the equilibrium as JSON (operator_profit_per_yr, margin, "
                   "overbooking_ratio, each microgrid's saving_per_yr, ...)")
    p.set_defaults(func=cmd_lease)

    p = solving("demo", help="run the default system end to end",
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
                   "out_of_sample, allocation, bound_convergence, ladder, exchange, lease_game, chronology, "
                   "objective_vs_k, "
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
    previous = signal.signal(signal.SIGTERM, _terminate)  # Slurm's end of a job: as Ctrl-C
    try:
        with stdout_for_json() if getattr(args, "json", False) else contextlib.nullcontext(), \
                solver_settings_of(args):
            args.func(args)
    except KeyboardInterrupt:
        print("sesplan: interrupted; the result in progress was not written", file=sys.stderr)
        return 130
    except WriteError as err:
        print(f"sesplan: error: {err}", file=sys.stderr)
        return 5
    except InputError as err:
        print(f"sesplan: error: {err}", file=sys.stderr)
        return 2
    except SolveError as err:
        print(f"sesplan: solver error: {err}", file=sys.stderr)
        return 3
    except NotCertified as err:
        print(f"sesplan: result written but NOT CERTIFIED: {err}", file=sys.stderr)
        return 4
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM stops a run as Ctrl-C does: the solve in progress is interrupted, no partial
    file is left, and the exit status is 130."""
    raise KeyboardInterrupt
