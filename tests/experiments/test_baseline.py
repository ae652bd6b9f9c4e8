"""The baseline experiment: common random numbers, the policy registry hook, the table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import experiments.baseline as baseline
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import ConstantSpreadPolicy


def test_every_policy_sees_the_same_price_paths_from_the_same_seed():
    params = MarketParams()
    mids = [rollout(policy, params, n_paths=20, seed=5, record_paths=20).trajectories["mid"]
            for _, policy in baseline.build_policies(("as", "symmetric", "constant"), params,
                                                     0.1)]
    assert all(np.array_equal(mids[0], m) for m in mids[1:])


def test_constant_policy_quotes_the_as_half_spread_without_time_term():
    params = MarketParams()
    (_, policy), = baseline.build_policies(("constant",), params, 0.1)
    assert policy.bid_depth == policy.ask_depth == pytest.approx(math.log(1 + 0.1 / 1.5) / 0.1)


def test_summary_has_one_row_per_policy_with_ci_containing_the_mean(quick_results):
    summary = pd.read_csv(quick_results / "tables" / "baseline_summary.csv")
    assert list(summary["policy"]) == ["AS inventory", "GLFT exact", "symmetric", "constant spread"]
    assert ((summary["pnl_ci_low"] < summary["mean_pnl"])
            & (summary["mean_pnl"] < summary["pnl_ci_high"])).all()
    assert np.allclose(summary["sharpe_terminal"], summary["mean_pnl"] / summary["std_pnl"])
    assert (summary["recorded_paths"] == summary["paths"]).all()   # quick: all paths recorded
    paired = pd.read_csv(quick_results / "tables" / "baseline_paired.csv")
    assert list(paired["reference"].unique()) == ["AS inventory"]


def test_a_policy_added_to_the_registry_gets_its_own_row(tmp_path, monkeypatch, cli):
    spec = baseline.PolicySpec("wide", "wide constant",
                               lambda p, g: ConstantSpreadPolicy.from_env(p, 2.0),
                               lambda p, g: "mid -/+ 2")
    monkeypatch.setitem(baseline.POLICIES, "wide", spec)
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  baseline:\n    policies: [as, wide]\n")
    out = tmp_path / "out"
    assert cli("baseline", "--paths", "40", "--config", str(config), "--out", str(out)) == 0
    summary = pd.read_csv(out / "tables" / "baseline_summary.csv")
    assert list(summary["policy"]) == ["AS inventory", "wide constant"]
    assert summary.loc[1, "quoted_spread"] == pytest.approx(4.0)
    assert "mid -/+ 2" in (out / "REPORT.md").read_text()


def test_sample_path_beyond_the_recorded_paths_is_rejected(tmp_path, cli, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  baseline:\n    sample_path: 50\n    record_paths: 10\n")
    assert cli("baseline", "--paths", "20", "--config", str(config),
               "--out", str(tmp_path / "o")) == 1
    assert "sample_path must be < the recorded paths (10), got 50" in capsys.readouterr().err


def test_fill_draw_check_passes_on_a_common_seed_and_fails_on_independent_seeds():
    params = MarketParams()
    policies = baseline.build_policies(("as", "symmetric"), params, 0.1)
    specs = [spec for spec, _ in policies]

    def run(seeds):
        return {spec.key: rollout(policy, params, n_paths=50, seed=seed, record_paths=50)
                for (spec, policy), seed in zip(policies, seeds, strict=True)}

    common, n_compared = baseline._common_fill_draws(specs, run((4, 4)))
    assert common and n_compared > 10_000
    assert not baseline._common_fill_draws(specs, run((4, 5)))[0]
