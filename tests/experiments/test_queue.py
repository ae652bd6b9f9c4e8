"""The queue-position experiment: the quick run's outputs and findings, the seed contract, the
design's invariants on the common runner, the approximations against closed forms and a
Monte Carlo of their chain, the fits and the verdict rules on synthetic data, and config
errors that name the field."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import experiments.queue as queue
from asmm_env.lob import BookParams
from experiments.config import ConfigError, load_config
from experiments.findings import Above, Estimate, Near, Verdict
from experiments.framework import Variation

TABLES = ("queue_setup", "queue_fill_probability", "queue_decay_fit", "queue_pnl_per_fill")
FIGURES = ("queue_fill_probability_curve", "queue_pnl_per_fill_curve")
FINDINGS = ("fill_probability_decays", "decay_rate_constant_h2", "decay_rate_constant_h5",
            "decay_rate_constant_h10", "no_order_behind_costs_more")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """A ``--quick`` run (200 episodes, seed 5)."""
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("queue") / "results"
    assert run_cli("queue", "--quick", "--seed", "5", "--out", str(out)) == 0
    return out


@pytest.fixture(scope="module")
def episodes():
    """3,000 episodes of the default design, seed 42."""
    settings = queue.Settings()
    return settings, queue.simulate(settings, Variation("configured", 42), 3000)


# --- the run, its outputs and the seed contract --------------------------------------------
def test_quick_run_writes_every_table_figure_and_finding(quick, outputs):
    outputs(quick, "queue", TABLES, FIGURES, seed=5)
    findings = pd.read_csv(quick / "tables" / "findings_queue.csv")
    assert tuple(findings["id"]) == FINDINGS
    assert list(findings["claim"].fillna(0).astype(int)) == [10, 10, 10, 10, 0]
    fills = pd.read_csv(quick / "tables" / "queue_fill_probability.csv")
    assert {"horizon", "level", "position", "pooled", "trials", "fills", "p", "ci_low",
            "ci_high", "exp_fit", "first_passage", "first_passage_moves",
            "poisson"} <= set(fills.columns)
    assert set(fills["horizon"]) == set(queue.Settings().horizons)
    fits = pd.read_csv(quick / "tables" / "queue_decay_fit.csv")
    assert {"beta", "beta_ci_low", "beta_ci_high", "p_value", "decay_ratio",
            "decay_ratio_ci_low", "decay_ratio_ci_high"} <= set(fits.columns)
    pnl = pd.read_csv(quick / "tables" / "queue_pnl_per_fill.csv")
    assert set(pnl["grouping"]) == set(queue.GROUPINGS)
    assert np.allclose(pnl["pnl"], 0.5 - pnl["cost"])


@pytest.mark.slow
def test_the_same_seed_gives_the_same_bytes(quick, tmp_path, cli):
    assert cli("queue", "--quick", "--seed", "5", "--out", str(tmp_path)) == 0
    for name in (*TABLES, "findings_queue"):
        assert ((quick / "tables" / f"{name}.csv").read_bytes()
                == (tmp_path / "tables" / f"{name}.csv").read_bytes()), name


@pytest.mark.slow
def test_the_design_draw_never_touches_the_books_random_numbers():
    """Another max_delay draws other observation times (and shortens the episodes by 3 time
    units) but runs the same books: the same join positions, and the same fills and costs
    wherever the shorter episode covers them (400 episodes, seed 9)."""
    a = queue.simulate(queue.Settings(), Variation("configured", 9), 400).frame
    b = queue.simulate(queue.Settings(max_delay=3.0), Variation("configured", 9), 400).frame
    np.testing.assert_array_equal(a["join_ahead"], b["join_ahead"])
    covered = (a["fill_step"] < 3 + 10 + 10 - 10).to_numpy()    # fill and its cost in b
    assert covered.mean() > 0.5
    for column in ("fill_step", "cost"):
        np.testing.assert_array_equal(a[column][covered], b[column][covered])
    assert a["delay"].max() <= 6 and b["delay"].max() <= 3
    assert not np.array_equal(a["delay"], b["delay"])


def test_variation_market_scales_the_books_step_and_adverse_horizon():
    params = queue.Settings().params()
    quarter = Variation("dt/4", 1, 0.25).market(params)
    assert isinstance(quarter, BookParams)
    assert quarter.dt == params.dt / 4 and quarter.n_steps == 4 * params.n_steps
    assert quarter.adverse_selection_steps == 4 * params.adverse_selection_steps


# --- the design's invariants ---------------------------------------------------------------
def test_episodes_obey_the_designs_rules(episodes):
    settings, ep = episodes
    fr = ep.frame
    assert fr["join_ahead"].min() >= 1           # the best queue is never empty
    assert fr["fills"].max() == 1                # a one-shot order: never re-placed
    filled = fr["fill_step"] >= 0
    assert (filled == (fr["fills"] == 1)).all()
    assert np.allclose(fr["cost"], np.round(fr["cost"]))      # mids live on one grid
    assert (fr["cost"][~filled] == 0).all()
    resting = fr["level"] >= 0
    assert not (resting & filled & (fr["fill_step"] < fr["delay"])).any()
    at_best = fr["level"] == 0
    assert (fr["ahead"][at_best] >= 0).all() and (fr["behind"][at_best] >= 0).all()
    assert fr["ahead"][~at_best].isna().all()
    assert (fr["ahead"][fr["delay"] == 0] == fr["join_ahead"][fr["delay"] == 0]).all()
    assert 0 < ep.nu < 1


def test_the_fill_probability_falls_with_the_position_and_rises_with_the_horizon(episodes):
    settings, ep = episodes
    table = queue.fill_table(ep, settings)
    for H in settings.horizons:
        g = queue._exact(table, H).set_index("position")
        assert g.loc[0, "ci_low"] > g.loc[4, "ci_high"]
    wide = table[table["level"] == 0].pivot(index="position", columns="horizon", values="p")
    assert (wide.diff(axis=1).iloc[:, 1:] >= 0).all().all()
    fits = queue.fit_table(table, settings)
    assert (fits["beta_ci_low"] > 0).all()


# --- the approximations --------------------------------------------------------------------
@pytest.mark.parametrize("H", [0.5, 2.0, 7.0])
def test_first_passage_without_cancellations_is_the_poisson_tail(H):
    k = np.arange(12)
    fp = queue.first_passage_fill_probability(k, H, mu=0.6, cancel_rate=0.0)
    np.testing.assert_allclose(fp, queue.poisson_fill_probability(k, H, mu=0.6), atol=1e-10)


def test_first_passage_is_the_hypoexponential_cdf_and_has_the_killed_closed_form():
    mu, C, H = 0.6, 0.2, 3.0
    rates = [mu + 2 * C, mu + C, mu]
    cdf = 1.0
    for i, li in enumerate(rates):
        coef = math.prod(lj / (lj - li) for j, lj in enumerate(rates) if j != i)
        cdf -= coef * math.exp(-li * H)
    assert queue.first_passage_fill_probability([2], H, mu=mu, cancel_rate=C)[0] == \
        pytest.approx(cdf, rel=1e-10)
    nu = 0.1
    got = queue.first_passage_fill_probability([0], 4.0, mu=mu, cancel_rate=C, kill_rate=nu)
    assert got[0] == pytest.approx(mu / (mu + nu) * (1 - math.exp(-(mu + nu) * 4.0)))


def test_first_passage_matches_a_monte_carlo_of_its_chain():
    """200,000 draws of the pure-death chain with killing, k = 0..6, H = 5: within 4 s.e."""
    rng = np.random.default_rng(1)
    mu, C, nu, H, n = 0.6, 0.2, 0.1, 5.0, 200_000
    k = np.arange(7)
    exact = queue.first_passage_fill_probability(k, H, mu=mu, cancel_rate=C, kill_rate=nu)
    kill = rng.exponential(1 / nu, n)
    for position in k:
        t = sum(rng.exponential(1 / (mu + C * m), n) for m in range(position + 1))
        p = np.mean((t <= H) & (t < kill))
        assert abs(p - exact[position]) <= 4 * math.sqrt(exact[position]
                                                         * (1 - exact[position]) / n) + 1e-12


def test_approximations_reject_bad_arguments():
    with pytest.raises(ValueError, match="positions"):
        queue.first_passage_fill_probability([-1], 1.0, mu=1.0, cancel_rate=0.0)
    with pytest.raises(ValueError, match="mu"):
        queue.first_passage_fill_probability([1], 1.0, mu=0.0, cancel_rate=0.0)


# --- the fits and the verdict rules --------------------------------------------------------
def _binomial(p, n=5000, seed=3):
    k = np.arange(len(p))
    return k, np.full(k.size, n), np.random.default_rng(seed).binomial(n, p)


def test_an_exponential_is_recovered_and_its_decay_rate_ratio_confirms_the_claim():
    """p = 0.9 exp(-0.3 k), 5,000 trials per position: beta within 4 s.e., the Pearson test
    does not reject, and the decay-rate ratio's CI lies within 1 +/- 0.25 (confirmed)."""
    k, n, y = _binomial(0.9 * np.exp(-0.3 * np.arange(10)))
    fit = queue.fit_log_polynomial(k, n, y)
    assert abs(fit["coef"][1] - 0.3) <= 4 * math.sqrt(fit["cov"][1, 1])
    assert fit["p_value"] > 1e-3 and fit["dof"] == 8
    ratio = queue.decay_rate_ratio(queue.fit_log_polynomial(k, n, y, 2), 0, 6)
    assert ratio.ci_low < 1 < ratio.ci_high
    assert Near(1.0, 0.25).decide(ratio) is Verdict.CONFIRMED


def test_an_accelerating_decay_is_rejected_and_refutes_the_claim():
    """A Poisson tail (the first passage without cancellations): the exponential is rejected
    and the decay-rate ratio is well above 1.25 (refuted)."""
    k, n, y = _binomial(queue.poisson_fill_probability(np.arange(8), 5.0, mu=0.8))
    assert queue.fit_log_polynomial(k, n, y)["p_value"] < 1e-6
    ratio = queue.decay_rate_ratio(queue.fit_log_polynomial(k, n, y, 2), 0, 6)
    assert ratio.ci_low > 1.25
    assert Near(1.0, 0.25).decide(ratio) is Verdict.REFUTED
    assert queue.fit_log_polynomial([0, 1], [10, 10], [5, 4]) is None
    assert math.isnan(queue.decay_rate_ratio(None, 0, 6).value)


def _episodes(cost, behind):
    n = len(cost)
    frame = pd.DataFrame({"delay": np.zeros(n, int), "level": np.zeros(n, int),
                          "fill_step": np.zeros(n, int), "behind": np.asarray(behind, float),
                          "cost": np.asarray(cost, float)})
    return queue.Episodes(frame, queue.Settings().params(), 0.1)


def test_the_behind_contrast_decides_its_rule_both_ways():
    rng = np.random.default_rng(0)
    behind = np.tile([0, 1, 3], 400)
    worse = queue.behind_contrast(_episodes(np.where(behind == 0, 0.5, 0.0)
                                            + rng.normal(0, 0.1, behind.size), behind),
                                  queue.Settings())
    assert worse.value == pytest.approx(0.5, abs=0.05)
    assert Above(0.0).decide(worse) is Verdict.CONFIRMED
    better = queue.behind_contrast(_episodes(np.where(behind == 0, -0.5, 0.0)
                                             + rng.normal(0, 0.1, behind.size), behind),
                                   queue.Settings())
    assert Above(0.0).decide(better) is Verdict.REFUTED
    assert math.isnan(queue.behind_contrast(_episodes([0.1], [0]), queue.Settings()).value)
    assert isinstance(worse, Estimate)


# --- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "message"), [
    ({"horizons": [2, 2]}, "horizons must be a non-empty list of distinct"),
    ({"horizons": [0, 5]}, r"horizons\[0\] must be > 0"),
    ({"main_horizon": 7}, "main_horizon must be one of horizons"),
    ({"warmup": -1}, "warmup must be >= 0"),
    ({"warmup": 2.5}, "warmup must be whole multiples of book.dt"),
    ({"episodes": 0}, "episodes must be an integer >= 1"),
    ({"decay_positions": [3, 1]}, "decay_positions must be two integers"),
    ({"robustness_paths": 0}, "robustness_paths must be a fraction"),
    ({"book": {"T": 100.0}}, "book.T is set by the experiment"),
    ({"book": {"cancel_rate": -1.0}}, "book.cancel_rate must be >= 0"),
    ({"book": {"sigma": 1.0}}, "book: unknown book parameter"),
])
def test_bad_settings_are_rejected_with_the_field_named(tmp_path, fields, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"experiments": {"queue": fields}}))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(config).settings("queue", queue.Settings)
    assert "experiments.queue" in str(err.value)


def test_shipped_config_runs_enough_episodes_with_a_book_of_the_right_length():
    settings = load_config().settings("queue", queue.Settings)
    assert settings.episodes >= 10_000
    params = settings.params()
    assert params.T == settings.warmup + settings.max_delay + max(settings.horizons) \
        + settings.adverse_horizon
    assert params.adverse_selection_steps * params.dt == settings.adverse_horizon
