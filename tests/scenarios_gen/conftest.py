"""Small synthetic HISTORY datasets for the scenario tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

STEPS = 4  # 6-hour steps: small days that are easy to check by hand


def make_history(load_kw: np.ndarray, pv_pu: np.ndarray, wind_pu: np.ndarray,
                 pv_kw: tuple[float, ...], wind_kw: tuple[float, ...],
                 step_h: float = 24 / STEPS, start: str = "2016-01-01") -> xr.Dataset:
    """A HISTORY dataset from arrays of shape (day, step, microgrid)."""
    n_days, steps, n_mg = load_kw.shape
    time = pd.date_range(start, periods=n_days * steps, freq=pd.Timedelta(hours=step_h))

    def series(x: np.ndarray) -> tuple[tuple[str, str], np.ndarray]:
        return ("time", "microgrid"), np.asarray(x, dtype=float).reshape(n_days * steps, n_mg)

    return xr.Dataset(
        {"load_kw": series(load_kw), "pv_pu": series(pv_pu), "wind_pu": series(wind_pu),
         "pv_kw": ("microgrid", np.array(pv_kw, dtype=float)),
         "wind_kw": ("microgrid", np.array(wind_kw, dtype=float))},
        coords={"time": time, "microgrid": [f"mg{m}" for m in range(n_mg)]},
        attrs={"source": "synthetic", "step_h": float(step_h), "cleaning": json.dumps({})},
    )


def random_history(n_days: int = 30, n_mg: int = 2, seed: int = 1) -> xr.Dataset:
    """A history of distinct random days (daily shapes plus noise), 4 steps a day."""
    rng = np.random.default_rng(seed)
    sun = np.array([0.0, 0.6, 0.4, 0.0])
    level = rng.uniform(0.2, 1.0, size=(n_days, 1, 1))
    pv = np.clip(level * sun[None, :, None] + rng.normal(0, 0.03, (n_days, STEPS, n_mg)), 0, 1)
    wind = rng.uniform(0, 1, size=(n_days, STEPS, n_mg))
    load = 50 + 30 * rng.uniform(size=(n_days, STEPS, n_mg))
    return make_history(load, pv, wind, pv_kw=(40.0,) * n_mg, wind_kw=(20.0,) + (0.0,) * (n_mg - 1))


def sunny_dull_history() -> xr.Dataset:
    """Six days, one microgrid: days 0, 2, 4 sunny, days 1, 3, 5 dull.

    Sunny days have pv factors 1, 0.9, 0.95 and loads 10, 10.2, 10.1 kW; dull days pv
    factors 1, 1.5, 0.5 and loads 12, 12.3, 11.9 kW (flat over the day). The two clusters
    {0, 2, 4} and {1, 3, 5} are obvious; no wind.
    """
    sunny = np.array([0.0, 0.8, 0.6, 0.0])
    dull = np.array([0.0, 0.2, 0.1, 0.0])
    pv = np.stack([sunny, dull, sunny * 0.9, dull * 1.5, sunny * 0.95, dull * 0.5])
    load = np.repeat(np.array([10.0, 12.0, 10.2, 12.3, 10.1, 11.9])[:, None], STEPS, axis=1)
    return make_history(load[..., None], pv[..., None], np.zeros((6, STEPS, 1)),
                        pv_kw=(100.0,), wind_kw=(0.0,))


@pytest.fixture
def history() -> xr.Dataset:
    return random_history()


@pytest.fixture
def sunny_dull() -> xr.Dataset:
    return sunny_dull_history()


@pytest.fixture(name="make_history", scope="session")
def make_history_fixture():
    """The :func:`make_history` builder, for tests that shape their own days."""
    return make_history
