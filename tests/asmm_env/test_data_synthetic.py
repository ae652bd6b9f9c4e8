"""Trades and quotes of the reduced-form market (asmm_env.data.synthetic): the data show the
model's law, and calibration recovers sigma, A and k (the A/k round trip), with interval
coverage over repeated days."""

import numpy as np
import pytest
from scipy import stats

from asmm_env import MarketParams
from asmm_env.calibration import fit_intensity_per_side, fit_sigma
from asmm_env.data import TradesQuotes, simulated_trades_quotes
from asmm_env.rollout import rollout
from baselines import ConstantSpreadPolicy

PARAMS = MarketParams(T=20.0, dt=0.01)      # AS 2008's sigma = 2, A = 140, k = 1.5


def _fits(day):
    orders = day.market_orders()
    return (fit_intensity_per_side(orders, duration=day.duration(), delta_min=0.0),
            fit_sigma(day.quotes["time"], day.mid))


def test_days_are_validated_tables_with_the_documented_layout():
    days = simulated_trades_quotes(PARAMS.replace(T=1.0), n_days=2, seed=3, start=5.0)
    assert len(days) == 2 and all(isinstance(d, TradesQuotes) for d in days)
    day = days[0]
    assert len(day.quotes) == 101 and day.quotes["time"].iloc[0] == 5.0
    assert np.allclose(day.quotes["ask_price"] - day.quotes["bid_price"], 2 * 0.01)
    t = day.trades["time"].to_numpy()
    assert (np.diff(t) >= 0).all() and not np.isin(t, day.quotes["time"]).any()
    orders = day.market_orders()
    assert len(orders) == len(day.trades) and (orders["reach"] >= 0).all()
    assert set(orders["side"]) == {-1, 1} and not orders["censored"].any()


def test_day_i_has_the_mid_path_of_rollout_path_i():
    days = simulated_trades_quotes(PARAMS.replace(T=1.0), n_days=3, seed=9)
    res = rollout(ConstantSpreadPolicy(1.0, action_map=PARAMS), PARAMS.replace(T=1.0),
                  n_paths=3, seed=9, record_paths=3)
    for i, day in enumerate(days):
        assert np.array_equal(day.mid.to_numpy(), res.trajectories["mid"][:, i])


def test_calibration_recovers_sigma_A_and_k_per_side():
    (fits, sigma), = [_fits(d) for d in simulated_trades_quotes(PARAMS, n_days=1, seed=1)]
    assert sigma.sigma.covers(2.0)
    for side in ("bid", "ask"):
        assert fits[side].A.covers(140.0) and fits[side].k.covers(1.5), fits[side]
        assert fits[side].reach_ks.p_value > 0.01 and fits[side].interarrival_ks.p_value > 0.01


def test_informed_sells_precede_down_moves():
    # toxicity 0.5: sells arrive at 1.5 A before a down move and 0.5 A before an up move, so
    # 3 of 4 sells precede a down move (within 4 s.e.).
    day, = simulated_trades_quotes(PARAMS.replace(toxicity=0.5), n_days=1, seed=2)
    step = np.floor(day.trades["time"].to_numpy() / PARAMS.dt).astype(int)
    move = np.diff(day.mid.to_numpy())[step]
    sells = day.trades["side"].to_numpy() < 0
    share = np.mean(move[sells] < 0)
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / sells.sum())
    assert np.mean(move[~sells] > 0) == pytest.approx(0.75, abs=4 * np.sqrt(0.19 / sells.sum()))


@pytest.mark.slow
def test_round_trip_intervals_cover_in_95_percent_of_days():
    # 200 days of 20 time units: each true value inside its 95% interval in 95% of days
    # (two-sided binomial acceptance at level 0.001).
    n = 200
    lo, hi = stats.binom.ppf(0.0005, n, 0.95), stats.binom.isf(0.0005, n, 0.95)
    hits = dict.fromkeys(("sigma", "A_bid", "k_bid", "A_ask", "k_ask"), 0)
    for day in simulated_trades_quotes(PARAMS, n_days=n, seed=17):
        fits, sigma = _fits(day)
        hits["sigma"] += sigma.sigma.covers(2.0)
        for side in ("bid", "ask"):
            hits[f"A_{side}"] += fits[side].A.covers(140.0)
            hits[f"k_{side}"] += fits[side].k.covers(1.5)
    for name, count in hits.items():
        assert lo <= count <= hi, (name, count / n)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_days=0), "n_days must be an integer >= 1"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(quote_half_spread=0.0), "quote_half_spread must be > 0"),
    (dict(start=-1.0), "start must be >= 0"),
])
def test_bad_arguments_are_rejected_naming_them(kwargs, match):
    args = dict(n_days=1, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        simulated_trades_quotes(PARAMS, **args)
    with pytest.raises(ValueError, match="tick_size must be 0"):
        simulated_trades_quotes(PARAMS.replace(tick_size=0.01), n_days=1, seed=0)
