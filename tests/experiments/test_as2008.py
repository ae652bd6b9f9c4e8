"""The AS 2008 comparison: the exact symmetric profit, the published values, the z-scores, the
agreement count and the hypotheses for the gamma = 0.5 row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from baselines import AvellanedaStoikovPolicy, SymmetricPolicy
from experiments import as2008
from experiments.as2008 import (
    HYPOTHESES,
    PAPER,
    PAPER_PATHS,
    STATS,
    Settings,
    symmetric_expected_profit,
)
from experiments.findings import read_findings
from experiments.stats import Z95


@pytest.mark.parametrize("fill_rule", ["linear", "exponential", "poisson"])
def test_symmetric_profit_matches_its_exact_mean_within_4_se(fill_rule):
    # 4,000 paths, seed 3: the simulated mean must be within 4 s.e. of 2 n E[N] delta.
    params = MarketParams(fill_rule=fill_rule,
                          price_dynamics="binomial" if fill_rule == "linear" else "gaussian")
    half = math.log1p(0.1 / params.k) / 0.1
    pnl = rollout(SymmetricPolicy(2 * half, action_map=params), params, n_paths=4_000,
                  seed=3).paths["terminal_pnl"]
    se = pnl.std(ddof=1) / math.sqrt(pnl.size)
    assert abs(pnl.mean() - symmetric_expected_profit(params, half)) < 4 * se


def test_symmetric_exact_profit_uses_each_fill_rule():
    half = 0.645
    rate_dt = 140 * math.exp(-1.5 * half) * 0.005
    assert symmetric_expected_profit(MarketParams(fill_rule="linear"), half) == \
        pytest.approx(2 * 200 * rate_dt * half)
    assert symmetric_expected_profit(MarketParams(fill_rule="exponential"), half) == \
        pytest.approx(2 * 200 * -math.expm1(-rate_dt) * half)
    assert symmetric_expected_profit(MarketParams(), half) == pytest.approx(400 * rate_dt * half)
    assert math.isnan(symmetric_expected_profit(MarketParams(drift=0.1), half))


def test_published_values_are_the_papers_and_its_spreads_lack_the_time_term():
    assert PAPER[0.1]["inventory"] == (1.29, 62.94, 5.89, 0.10, 2.80)
    assert PAPER[0.5]["inventory"] == (1.15, 33.92, 4.72, -0.02, 1.88)
    assert PAPER[0.01]["symmetric"] == (1.33, 67.36, 13.40, -0.31, 8.65)
    for gamma, rows in PAPER.items():
        for values in rows.values():
            assert values[0] == pytest.approx(2 / gamma * math.log1p(gamma / 1.5), abs=5e-3)


def test_hypothesis_variants_do_what_they_say():
    params = MarketParams(price_dynamics="binomial", fill_rule="linear")
    policy = AvellanedaStoikovPolicy.from_env(params, 0.5, include_time_term=False)
    obs = np.array([[100.0, 4.0, 0.9], [100.0, -3.0, 0.5]])
    assert min(np.min(d) for d in policy.depths(obs)) < 0         # AS quotes through the mid
    assert min(np.min(d) for d in as2008._Floored(policy).depths(obs)) == 0.0
    depth, base = np.array([[-0.5, 0.5]]), params.A * params.dt
    rate = as2008.VariantFlow(params, False, True).rate_dt(depth, np.zeros(1), params.dt)
    assert rate[0] == pytest.approx(base * np.exp([0.75, -0.75]))           # not capped at A
    capped = as2008.VariantFlow(params, False, False).rate_dt(depth, np.zeros(1), params.dt)
    assert capped[0] == pytest.approx(base * np.exp([0.0, -0.75]))
    # After an up-move of 0.2 the bid is 0.2 further from the new mid, the ask 0.2 closer.
    after = as2008.VariantFlow(params, True, False).rate_dt(np.array([[0.5, 0.5]]),
                                                            np.array([0.2]), params.dt)
    assert after[0] == pytest.approx(base * np.exp([-1.5 * 0.7, -1.5 * 0.3]))


def test_each_variant_changes_the_simulation_it_names():
    # 200 paths, seed 4, gamma 0.5 inventory strategy in the paper's discretisation: quotes
    # go through the mid, so each variant of the fill rule or the quotes changes the profit.
    markets = {"paper": MarketParams(price_dynamics="binomial", fill_rule="linear"),
               "ours": MarketParams()}
    cells = [as2008.replace(as2008.Cell("paper", 0.5, "inventory"), **change)
             for change in HYPOTHESES.values()]
    profit = [as2008.simulate(c, markets[c.market], 200, 4)["profit"] for c in cells]
    assert len(set(profit)) == len(profit)


@pytest.fixture(scope="module")
def comparison(quick_results) -> pd.DataFrame:
    return pd.read_csv(quick_results / "tables" / "as2008_comparison.csv")


def test_z_scores_combine_our_and_the_papers_standard_errors(comparison):
    assert len(comparison) == len(as2008.VARIANTS) * 3 * 2    # variants x gammas x strategies
    paper_se = np.array([PAPER[g][s][2] / math.sqrt(PAPER_PATHS) for g, s in
                         zip(comparison["gamma"], comparison["strategy"], strict=True)])
    z = (comparison["profit"] - comparison["paper_profit"]) / np.hypot(comparison["profit_se"],
                                                                       paper_se)
    assert np.allclose(z, comparison["z_profit"])
    no_term = comparison[~comparison["time_term"]]
    assert np.allclose(no_term["spread"],
                       2 / no_term["gamma"] * np.log1p(no_term["gamma"] / 1.5))
    symmetric = no_term[(no_term["strategy"] == "symmetric") & ~no_term["fills_after_move"]]
    assert symmetric["exact_profit"].notna().all()


def test_agreement_count_is_the_statistics_within_1_96_se_and_the_finding_uses_it(
        quick_results, comparison):
    agreement = pd.read_csv(quick_results / "tables" / "as2008_agreement.csv")
    zs = [f"z_{s}" for s in STATS]
    keys = ["market", "time_term", "fills_after_move"]
    assert len(agreement) == len(as2008.VARIANTS)
    for _, row in agreement.iterrows():
        part = comparison[(comparison[keys] == row[keys].to_numpy()).all(axis=1)]
        assert row["within_1_96"] == int((part[zs].abs() < Z95).sum().sum())
    found = {f.id: f for f in read_findings(quick_results / "tables" / "findings_as2008.csv")}
    paper = agreement[(agreement["market"] == "as2008_paper") & ~agreement["time_term"]]
    for id, after in (("agreement", False), ("agreement_after_move", True)):
        f = found[id]
        assert f.value == paper.loc[paper["fills_after_move"] == after, "within_1_96"].iloc[0]
        # 24 statistics: sampling error alone leaves >= 20 within 1.96 s.e. 97.5% of the time.
        assert f.rule == "CI above 19"
        assert f.verdict.value == ("confirmed" if f.value >= 20 else "refuted")


def test_gamma05_findings_follow_their_rules(quick_results, comparison):
    found = {f.id: f for f in read_findings(quick_results / "tables" / "findings_as2008.csv")}
    z = found["gamma05_profit"]
    row = comparison[(comparison["market"] == "as2008_paper") & ~comparison["time_term"]
                     & (comparison["gamma"] == 0.5) & (comparison["strategy"] == "inventory")]
    assert z.value == pytest.approx(row["z_profit"].iloc[0])
    assert z.rule == "CI within [-1.96, 1.96]"
    assert z.verdict.value == ("confirmed" if abs(z.value) <= 1.96 else "refuted")
    hypotheses = pd.read_csv(quick_results / "tables" / "as2008_gamma05_hypotheses.csv")
    assert list(hypotheses["hypothesis"]) == list(HYPOTHESES)
    assert np.allclose(hypotheses["z_worst"], np.maximum(hypotheses["z_profit"].abs(),
                                                         hypotheses["z_std_profit"].abs()))
    explained = found["gamma05_explained"]
    assert explained.value == pytest.approx(hypotheses["z_worst"].min())
    assert explained.verdict.value == ("confirmed" if explained.value < 1.96 else "refuted")


def test_the_section_says_compared_and_carries_no_transcription_caveat(quick_results):
    section = (quick_results / "report" / "as2008.md").read_text()
    assert "compared" in as2008.TITLE and "reproduced" not in as2008.TITLE
    assert "from memory" not in section and "transcribed" not in section


@pytest.mark.parametrize(("changes", "message"), [
    ({"gammas": (0.1, 0.2)}, "gammas must be distinct values of the paper's"),
    ({"gammas": ()}, "gammas must be distinct values"),
    ({"markets": ("as2008",)}, "markets must name two markets"),
    ({"paths": 0}, "paths must be an integer >= 1, got 0"),
])
def test_bad_settings_name_the_field(changes, message):
    with pytest.raises(ValueError) as exc:
        Settings(**changes)
    assert message in str(exc.value)


def test_checks_run_on_the_prefetched_cells_when_not_quick(tmp_path, cli):
    # gamma 0.5 only, 40 paths a cell (checks on 8): every finding gets its dt/4 and seed
    # checks, from cells simulated with the configured ones on the task pool.
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  as2008:\n    gammas: [0.5]\n    paths: 40\n")
    out = tmp_path / "out"
    assert cli("as2008", "--config", str(config), "--out", str(out)) == 0
    found = read_findings(out / "tables" / "findings_as2008.csv")
    assert [f.id for f in found] == ["agreement", "agreement_after_move", "gamma05_profit",
                                     "gamma05_explained"]
    assert all(f.holds_at_dt4 is not None and f.holds_across_seeds is not None for f in found)
    assert "CI above 5" == found[0].rule                     # 8 statistics: at least 6
