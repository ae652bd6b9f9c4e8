"""The AS 2008 reproduction: the exact symmetric profit, the paper's table and the z-scores."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import SymmetricPolicy
from experiments.as2008 import PAPER, PAPER_PATHS, symmetric_expected_profit


@pytest.mark.parametrize("fill_rule", ["linear", "exponential"])
def test_symmetric_profit_matches_its_exact_mean_within_4_se(fill_rule):
    # 4,000 paths, seed 3: the simulated mean must be within 4 s.e. of 2 n p delta.
    params = MarketParams(fill_rule=fill_rule,
                          price_dynamics="binomial" if fill_rule == "linear"
                          else "gaussian")
    half = math.log1p(0.1 / params.k) / 0.1
    pnl = rollout(SymmetricPolicy(2 * half, depth_bound=params.depth_bound), params,
                  n_paths=4_000, seed=3).paths["terminal_pnl"]
    se = pnl.std(ddof=1) / math.sqrt(pnl.size)
    assert abs(pnl.mean() - symmetric_expected_profit(params, half)) < 4 * se


def test_symmetric_exact_profit_uses_each_fill_rule():
    half = 0.645
    rate_dt = 140 * math.exp(-1.5 * half) * 0.005
    linear = symmetric_expected_profit(MarketParams(fill_rule="linear"), half)
    exact = symmetric_expected_profit(MarketParams(), half)
    assert linear == pytest.approx(2 * 200 * rate_dt * half)
    assert exact == pytest.approx(2 * 200 * -math.expm1(-rate_dt) * half)
    assert math.isnan(symmetric_expected_profit(MarketParams(drift=0.1), half))


def test_published_spreads_are_the_as_spread_without_time_term():
    for gamma, rows in PAPER.items():
        for values in rows.values():
            assert values[0] == pytest.approx(2 / gamma * math.log1p(gamma / 1.5), abs=5e-3)


def test_z_scores_combine_our_and_the_papers_standard_errors(quick_results):
    table = pd.read_csv(quick_results / "tables" / "as2008_all_paths.csv")
    assert len(table) == 2 * 3 * 2 * 2        # markets x gammas x spread variants x strategies
    paper_se = table["paper_std_profit"] / math.sqrt(PAPER_PATHS)
    z = (table["profit"] - table["paper_profit"]) / np.sqrt(table["profit_se"]**2 + paper_se**2)
    assert np.allclose(z, table["z_profit"])
    no_term = table[~table["time_term"]]
    assert np.allclose(no_term["spread"], 2 / no_term["gamma"] * np.log1p(no_term["gamma"] / 1.5))


def test_report_flags_the_published_values_as_unverified(quick_results):
    section = (quick_results / "report" / "as2008.md").read_text()
    assert "transcribed from memory" in section
    assert "have not been checked against the paper" in section
