"""Representation error of sesplan's day clustering against tsam 4, side by side.

On the default system's history (366 days of 2016, four microgrids, hourly), each method
clusters the days into K = 4, 8, 12, 24 representative days. Every method is scored by
the same number: sesplan's ``rmse_scaled`` (:func:`scenarios_gen.metrics.representation_metrics`),
the RMSE of the reconstructed year (each day replaced by its representative) over the
min-max scaled active feature series. tsam gets the same active series as columns and is
scored from its own reconstruction (each day replaced by its typical period after tsam's
default rescaling); the inactive series (constant in the default system) are filled with
their history mean.

Run::

    python studies/benchmarks/clustering_vs_tsam.py [-o result.json] [--quick]

It prints the error table (K x method), the best of each side per K, the clustering times
and the history load time, and writes them as JSON
(``results/benchmarks/clustering_vs_tsam.json``) or to ``-o``. ``--quick`` skips tsam's exact k-medoids MILP
and k-maxoids (minutes per K).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import tsam
import xarray as xr

from framework.system import QUANTITIES, default_system
from scenarios_gen.cluster import METHODS, cluster_days, day_cube, day_starts, fit_scaling
from scenarios_gen.metrics import representation_metrics
from scenarios_gen.scenarios import generate_scenarios
from scenarios_gen.sources import load_history

KS = (4, 8, 12, 24)
TSAM_METHODS = {  # label: (method, representation; None is tsam's default for the method)
    "tsam-kmeans": ("kmeans", None),
    "tsam-hierarchical": ("hierarchical", None),
    "tsam-hierarchical-mean": ("hierarchical", "mean"),
    "tsam-averaging": ("averaging", None),
    "tsam-contiguous": ("contiguous", None),
    "tsam-kmaxoids": ("kmaxoids", None),
    "tsam-kmedoids": ("kmedoids", None),
}
SLOW = ("tsam-kmaxoids", "tsam-kmedoids")


def _columns(history: xr.Dataset) -> list[tuple[int, int, str]]:
    """(quantity index, microgrid index, column name) of the active feature series."""
    active = fit_scaling(history).active
    names = history["microgrid"].values
    return [(k, m, f"{q}|{names[m]}") for k, q in enumerate(QUANTITIES)
            for m in range(len(names)) if active[k, m]]


def _tsam_frame(history: xr.Dataset) -> pd.DataFrame:
    data = {name: history[QUANTITIES[k]].values[:, m] for k, m, name in _columns(history)}
    return pd.DataFrame(data, index=pd.DatetimeIndex(history["time"].values))


def _tsam_scenarios(history: xr.Dataset, result: tsam.AggregationResult) -> xr.Dataset:
    """tsam's reconstruction as a scenario dataset (profiles, membership) for the metrics."""
    cube = day_cube(history)
    n_days, steps = cube.shape[0], cube.shape[2]
    rec = np.broadcast_to(cube.mean(axis=(0, 2), keepdims=True), cube.shape).copy()
    for k, m, name in _columns(history):
        rec[:, k, :, m] = result.reconstructed[name].to_numpy().reshape(n_days, steps)
    dims = ("scenario", "step", "microgrid")
    data = {q: (dims, rec[:, k]) for k, q in enumerate(QUANTITIES)}
    data["membership"] = ("day", np.arange(n_days))
    return xr.Dataset(data, coords={"day": day_starts(history),
                                    "microgrid": history["microgrid"].values})


def _run_tsam(history: xr.Dataset, frame: pd.DataFrame, label: str, n_clusters: int,
              seed: int) -> tuple[float, float]:
    """(scaled RMSE, seconds) of one tsam aggregation."""
    method, representation = TSAM_METHODS[label]
    if method == "kmeans":
        method = tsam.KMeans(random_state=seed)
    config = tsam.ClusterConfig(method=method, representation=representation)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = tsam.aggregate(frame, n_clusters=n_clusters, period_duration=24,
                                cluster=config)
    seconds = time.perf_counter() - start
    metrics = representation_metrics(history, _tsam_scenarios(history, result))
    return metrics["rmse_scaled"], seconds


def _run_ours(history: xr.Dataset, method: str, n_clusters: int,
              seed: int) -> tuple[float, float, float]:
    """(scaled RMSE, clustering seconds, generate_scenarios seconds)."""
    features = fit_scaling(history).features(day_cube(history))
    start = time.perf_counter()
    cluster_days(features, n_clusters, method, seed)
    cluster_s = time.perf_counter() - start
    start = time.perf_counter()
    ds = generate_scenarios(history, n_clusters, method, seed=seed)
    generate_s = time.perf_counter() - start
    return json.loads(ds.attrs["metrics"])["rmse_scaled"], cluster_s, generate_s


def run(ks: tuple[int, ...] = KS, seed: int = 0, quick: bool = False) -> dict:
    """Run the comparison; return the numbers (errors, times, best per K)."""
    start = time.perf_counter()
    history = load_history(default_system())
    load_s = time.perf_counter() - start
    frame = _tsam_frame(history)
    labels = [*METHODS, *(t for t in TSAM_METHODS if not (quick and t in SLOW))]
    error: dict[str, dict[int, float]] = {label: {} for label in labels}
    seconds: dict[str, dict[int, float]] = {label: {} for label in labels}
    generate_s: dict[str, dict[int, float]] = {m: {} for m in METHODS}
    for k in ks:
        for method in METHODS:
            error[method][k], seconds[method][k], generate_s[method][k] = _run_ours(
                history, method, k, seed)
        for label in labels[len(METHODS):]:
            error[label][k], seconds[label][k] = _run_tsam(history, frame, label, k, seed)
            print(f"  K={k:2d} {label:24s} {error[label][k]:.5f}  {seconds[label][k]:7.2f} s",
                  flush=True)
    best = {k: {side: min(((error[m][k], m) for m in labels if m.startswith("tsam") == tsam_),
                          default=(None, None))
                for side, tsam_ in (("ours", False), ("tsam", True))} for k in ks}
    return {"system": "default", "n_days": int(history.sizes["time"] // 24),
            "n_features": int(fit_scaling(history).active.sum() * 24),
            "history_load_s": load_s, "seed": seed, "ks": list(ks), "metric": "rmse_scaled",
            "error": error, "cluster_s": seconds, "generate_s": generate_s,
            "best": {k: {side: {"method": m, "error": e} for side, (e, m) in v.items()}
                     for k, v in best.items()},
            "ours_no_worse": all(v["ours"][0] <= v["tsam"][0] for v in best.values())}


def _table(rows: dict[str, dict[int, float]], ks: list[int], fmt: str) -> str:
    lines = [f"{'method':24s}" + "".join(f"{'K=' + str(k):>11s}" for k in ks)]
    lines += [f"{label:24s}" + "".join(f"{format(values[k], fmt):>11s}" for k in ks)
              for label, values in rows.items()]
    return "\n".join(lines)


def report(result: dict) -> str:
    """The printed summary of :func:`run`."""
    ks = result["ks"]
    best = [f"K={k:2d}: ours {v['ours']['method']} {v['ours']['error']:.5f}, "
            f"tsam {v['tsam']['method']} {v['tsam']['error']:.5f}, "
            f"ratio {v['ours']['error'] / v['tsam']['error']:.3f}"
            for k, v in result["best"].items()]
    return "\n".join([
        (f"{result['n_days']} days, {result['n_features']} features; "
         f"history load {result['history_load_s']:.2f} s"),
        "", "scaled-feature RMSE of the reconstructed year (lower is better)",
        _table(result["error"], ks, ".5f"),
        "", "clustering time (s), all days",
        _table(result["cluster_s"], ks, ".4f"),
        "", "generate_scenarios time (s), all days, with spreads and metrics",
        _table(result["generate_s"], ks, ".4f"),
        "", "best per K", *best,
        f"ours no worse than tsam at every K: {result['ours_no_worse']}",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path,
                        default=Path("results/benchmarks/clustering_vs_tsam.json"),
                        help="JSON result")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="skip tsam's exact k-medoids and k-maxoids (slow)")
    args = parser.parse_args(argv)
    result = run(seed=args.seed, quick=args.quick)
    print(report(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
