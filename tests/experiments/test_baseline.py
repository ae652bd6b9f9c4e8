"""The baseline experiment: its observer against recorded trajectories, the paired statistics,
the summary columns, the findings' verdict rules and the liquidation cost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import experiments.baseline as baseline
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from experiments.findings import read_findings
from experiments.stats import SUMMARY_COLUMNS, max_drawdown

PARAMS = MarketParams()


@pytest.fixture(scope="module")
def recorded():
    """AS on 40 paths (seed 5): the observer's output and the full recorded trajectories."""
    policy = baseline.POLICIES["as"][1](PARAMS, 0.1)
    traj = rollout(policy, PARAMS, n_paths=40, seed=5, record_paths=40).trajectories
    return baseline.simulate("as", PARAMS, 0.1, 40, 5), traj


def test_observer_matches_the_recorded_trajectories(recorded):
    r, traj = recorded
    pnl, q = traj["pnl"][:, :, 0], traj["inventory"][:, :, 0]
    assert np.allclose(r["squares"], np.sum(np.diff(pnl, axis=0) ** 2, axis=0))
    assert np.allclose(r["drawdown"], max_drawdown(pnl))
    skew = traj["ask_depth"][:, :, 0] - traj["bid_depth"][:, :, 0]
    long = q[:-1] > 0                                  # the inventory held when quoting
    assert np.allclose(r["long_sum"], np.sum(np.where(long, skew, 0.0), axis=0))
    assert np.array_equal(r["long_count"], long.sum(axis=0))
    assert np.allclose(r["moments"][:, 1], np.sum(q**2, axis=1))
    assert np.allclose(r["skew_count"].sum(axis=1), PARAMS.n_steps)


def test_long_quotes_follow_the_as_formula_ask_minus_bid_is_minus_2_q_gamma_sigma2_tau(recorded):
    _, traj = recorded
    q, tau = traj["inventory"][:-1, :, 0], PARAMS.T - traj["time"][:-1, None]
    skew = traj["ask_depth"][:, :, 0] - traj["bid_depth"][:, :, 0]
    assert np.allclose(skew, -2 * q * 0.1 * PARAMS.sigma**2 * tau)


def test_per_step_sharpe_is_the_pooled_ratio_of_the_increments(recorded):
    r, traj = recorded
    steps = np.diff(traj["pnl"][:, :, 0], axis=0).ravel()
    e = baseline.step_sharpe(r)
    assert e.value == pytest.approx(steps.mean() / steps.std())
    assert e.ci_low < e.value < e.ci_high


def test_std_difference_of_a_shifted_copy_is_exactly_zero_and_of_a_scaled_one_known():
    x = np.random.default_rng(0).normal(0.0, 2.0, 5_000)
    shifted = baseline.std_difference(x + 3.0, x)
    assert shifted.value == pytest.approx(0.0, abs=1e-12)
    assert shifted.ci_high - shifted.ci_low == pytest.approx(0.0, abs=1e-12)
    scaled = baseline.std_difference(2 * x, x)
    assert scaled.value == pytest.approx(x.std(ddof=1))
    assert scaled.ci_low < x.std(ddof=1) < scaled.ci_high


def test_liquidation_cost_lowers_pnl_by_the_cost_times_abs_inventory_on_the_same_paths():
    free = baseline.simulate("symmetric", PARAMS, 0.1, 30, 2)
    charged = baseline.simulate("symmetric", PARAMS.replace(liquidation_cost=0.5), 0.1, 30, 2)
    assert np.allclose(charged["pnl"], free["pnl"] - 0.5 * np.abs(free["q"]))
    assert np.array_equal(charged["q"], free["q"])


@pytest.fixture(scope="module")
def summary(quick_results) -> pd.DataFrame:
    return pd.read_csv(quick_results / "tables" / "baseline_summary.csv")


def test_summary_has_the_standard_columns_and_no_ce_interval_where_unreliable(summary):
    assert list(summary["policy"]) == ["AS inventory", "GLFT exact", "symmetric",
                                       "constant spread"]
    for column in (*SUMMARY_COLUMNS, "sharpe_step", "sharpe_step_ci_low", "std_terminal_q",
                   "mean_abs_terminal_q", "quoted_spread", "liquidation_cost"):
        assert column in summary.columns, column
    unreliable = ~summary["ce_reliable"]
    assert unreliable.any() and summary.loc[unreliable, "ce_reason"].str.len().gt(0).all()
    assert summary.loc[unreliable, ["ce_ci_low", "ce_ci_high"]].isna().all().all()
    assert summary.loc[~unreliable, ["ce_ci_low", "ce_ci_high"]].notna().all().all()
    assert (summary["max_drawdown_mean"] >= 0).all()
    assert (summary["liquidation_cost"] == 0).all()


def test_paired_table_is_as_minus_each_policy_and_break_even_is_the_ratio(quick_results,
                                                                           summary):
    paired = pd.read_csv(quick_results / "tables" / "baseline_paired.csv")
    assert list(paired["policy"]) == list(summary["policy"][1:])
    means = summary.set_index("policy")["mean"]
    assert np.allclose(paired["mean_pnl_diff"],
                       means["AS inventory"] - means[paired["policy"]].to_numpy())
    assert np.allclose(paired["break_even_liquidation_cost"],
                       paired["mean_pnl_diff"] / paired["mean_abs_q_diff"])


def test_findings_test_claims_1_2_4_with_their_rules(quick_results):
    found = {f.id: f for f in read_findings(quick_results / "tables" / "findings_baseline.csv")}
    assert {i: f.claim for i, f in found.items()} == {
        "as_lower_mean_pnl": 1, "as_lower_pnl_std": 1, "as_lower_inventory_std": 1,
        "long_wider_ask": 2, "sharpe_per_episode": 4, "sharpe_per_step": 4,
        "ce_symmetric_tail": None}
    for i in ("as_lower_mean_pnl", "as_lower_pnl_std", "as_lower_inventory_std"):
        assert found[i].rule == "CI below 0" and found[i].verdict.value == "confirmed"
    # Claim 2 as stated is the opposite of the AS formula: the measured skew refutes it.
    assert found["long_wider_ask"].rule == "CI above 0"
    assert found["long_wider_ask"].ci_high < 0 and found["long_wider_ask"].verdict == "refuted"
    # Sharpe per episode is about 9 at the AS 2008 setup: far outside [0.5, 2].
    episode = found["sharpe_per_episode"]
    assert episode.rule == "CI within [0.5, 2]" and episode.ci_low > 2
    assert episode.verdict.value == "refuted"
    step = found["sharpe_per_step"]
    assert step.verdict.value == ("confirmed" if 0.5 <= step.ci_low and step.ci_high <= 2
                                  else "inconclusive" if step.ci_low <= 2 and step.ci_high >= 0.5
                                  else "refuted")
    assert found["ce_symmetric_tail"].rule == "CI above 0.5"
    assert all(f.holds_at_dt4 is None for f in found.values())     # --quick: no checks


@pytest.mark.parametrize(("changes", "message"), [
    ({"policies": ("symmetric", "as")}, "'as' first"),
    ({"policies": ("as", "constant")}, "must include 'symmetric'"),
    ({"liquidation_cost": -1.0}, "liquidation_cost must be >= 0, got -1.0"),
    ({"robustness_paths": 0.0}, "robustness_paths must be in (0, 1], got 0.0"),
])
def test_bad_settings_name_the_field(changes, message):
    with pytest.raises(ValueError) as exc:
        baseline.Settings(**changes)
    assert message in str(exc.value)


def test_glft_is_bounded_by_glft_q_on_a_market_without_a_bound():
    policy = baseline.POLICIES["glft"][1](PARAMS, 0.1)
    assert policy.Q == baseline.GLFT_Q and math.isfinite(policy.depth_range[1])
