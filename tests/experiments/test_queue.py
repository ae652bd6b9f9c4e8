"""The queue-position experiment: the quick run's outputs, the fill-probability curve
(non-increasing within its intervals), the analytic approximations against closed forms and a
Monte Carlo of their chain, the exponential fit on synthetic data, the design's invariants,
and config errors that name the field."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import experiments.queue as queue
from experiments.__main__ import main
from experiments.config import ConfigError, load_config
from experiments.stats import Z95

TABLES = ("queue_fill_rule", "queue_decay_fit", "queue_pnl_per_fill")
FIGURES = ("queue_fill_rule_curve", "queue_pnl_per_fill_curve")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``--quick`` run (200 episodes, seed 5)."""
    out = tmp_path_factory.mktemp("queue") / "results"
    assert main(["queue", "--quick", "--seed", "5", "--out", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def block():
    """20,000 episodes of the default design (one block, seed 42)."""
    s = queue.Settings()
    return s, queue.simulate_block(queue.Block(s.params(), s.warmup, s.max_delay, 20_000, 42))


# --- the run and its outputs ---------------------------------------------------------------
def test_quick_run_writes_every_table_and_figure_and_they_parse(quick, outputs):
    outputs(quick, "queue", TABLES, FIGURES, seed=5)
    fills = pd.read_csv(quick / "tables" / "queue_fill_rule.csv")
    assert set(fills["horizon"]) == set(queue.Settings().horizons)
    eps = 1e-12                                # Wilson bounds at p = 0 or 1: float noise
    assert ((fills["ci_low"] <= fills["p"] + eps) & (fills["p"] <= fills["ci_high"] + eps)).all()
    assert queue.monotone_violations(fills) == []


def test_results_are_identical_for_one_and_two_workers(tmp_path, cli):
    config = tmp_path / "c.yaml"
    config.write_text("experiments:\n  queue:\n    block_episodes: 150\n")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}"
        assert cli("queue", "--paths", "400", "--seed", "3", "--config", str(config),
                   "--out", str(out), "--workers", workers) == 0
        outs.append(out)
    for name in TABLES:
        assert ((outs[0] / "tables" / f"{name}.csv").read_bytes()
                == (outs[1] / "tables" / f"{name}.csv").read_bytes()), name


# --- the curve -----------------------------------------------------------------------------
def test_fill_rule_is_non_increasing_in_queue_position_within_its_intervals(block):
    """20,000 episodes: no rise between neighbouring positions beyond 1.96 combined s.e., at
    every horizon; the front is filled far more often than position 5; positions 0..4 all
    have trials."""
    settings, out = block
    table = queue.fill_table(out, settings, settings.params(), 200, 0.1)
    assert queue.monotone_violations(table) == []
    for H in settings.horizons:
        g = table[(table["horizon"] == H) & (table["level"] == 0)].set_index("position")
        assert {0, 1, 2, 3, 4} <= set(g.index)
        assert g.loc[0, "ci_low"] > g.loc[5, "ci_high"]
    # A longer horizon fills at least as often, position by position.
    wide = table[table["level"] == 0].pivot(index="position", columns="horizon", values="p")
    assert (wide.diff(axis=1).iloc[:, 1:] >= 0).all().all()


def test_monotone_violations_flags_a_significant_rise():
    table = pd.DataFrame({"horizon": [5, 5, 5], "level": [0, 0, 0], "position": [0, 1, 2],
                          "p": [0.8, 0.5, 0.7], "trials": [1000, 1000, 1000]})
    assert queue.monotone_violations(table) == [(5, 1, 2)]
    table["trials"] = 10                       # the same rise, well within the noise
    assert queue.monotone_violations(table) == []


def test_the_design_draws_the_observation_from_its_own_stream(block):
    """The observation delay does not touch the book's stream: another max_delay gives the
    same books, the same join positions and the same fills (400 episodes)."""
    settings, _ = block
    params = settings.params()
    a = queue.simulate_block(queue.Block(params, settings.warmup, settings.max_delay, 400, 9))
    b = queue.simulate_block(queue.Block(params, settings.warmup, 3, 400, 9))
    np.testing.assert_array_equal(a["join_ahead"], b["join_ahead"])
    np.testing.assert_array_equal(a["fill_step"], b["fill_step"])
    assert (a["delay"] <= settings.max_delay).all() and (b["delay"] <= 3).all()


def test_episodes_obey_the_books_rules(block):
    settings, out = block
    # The best queue is never empty, so a joining order always has an order ahead.
    assert out["join_ahead"].min() >= 1
    filled = out["fill_step"] >= 0
    # One fill at most (one-shot order); the adverse move is a whole number of ticks (mids
    # live on one grid) and zero without a fill.
    assert np.allclose(out["adverse"], np.round(out["adverse"]))
    assert (out["adverse"][~filled] == 0).all()
    # An order resting at the observation was not filled before it.
    resting = out["level"] >= 0
    assert not (resting & filled & (out["fill_step"] < out["delay"])).any()
    assert (out["ahead"][resting] >= 0).all() and np.isnan(out["ahead"][~resting]).all()
    assert (out["best_bid_queue"][out["level"] == 0] > out["ahead"][out["level"] == 0]).all()
    assert out["best_time"] > 0 and out["up_ticks"] > 0


# --- the approximations --------------------------------------------------------------------
@pytest.mark.parametrize("H", [0.5, 2.0, 7.0])
def test_first_passage_without_cancellations_is_the_poisson_tail(H):
    k = np.arange(12)
    fp = queue.fill_rule_first_passage(k, H, mu=0.6, cancel_rate=0.0)
    np.testing.assert_allclose(fp, queue.fill_rule_poisson(k, H, mu=0.6), atol=1e-10)


def test_first_passage_from_the_front_with_killing_has_its_closed_form():
    mu, nu, H = 0.6, 0.1, 4.0
    expected = mu / (mu + nu) * (1 - math.exp(-(mu + nu) * H))
    got = queue.fill_rule_first_passage([0], H, mu=mu, cancel_rate=0.3, kill_rate=nu)
    assert got[0] == pytest.approx(expected, rel=1e-10)


def test_first_passage_is_the_hypoexponential_cdf():
    """k = 2: sum of Exp(mu + 2C), Exp(mu + C), Exp(mu), distinct rates: the closed form
    1 - sum_i prod_{j != i} l_j / (l_j - l_i) exp(-l_i H)."""
    mu, C, H = 0.6, 0.2, 3.0
    rates = [mu + 2 * C, mu + C, mu]
    cdf = 1.0
    for i, li in enumerate(rates):
        coef = math.prod(lj / (lj - li) for j, lj in enumerate(rates) if j != i)
        cdf -= coef * math.exp(-li * H)
    got = queue.fill_rule_first_passage([2], H, mu=mu, cancel_rate=C)
    assert got[0] == pytest.approx(cdf, rel=1e-10)


def test_first_passage_matches_a_monte_carlo_of_its_chain():
    """200,000 draws of the pure-death chain with killing, k = 0..6, H = 5: within 4 s.e."""
    rng = np.random.default_rng(1)
    mu, C, nu, H, n = 0.6, 0.2, 0.1, 5.0, 200_000
    k = np.arange(7)
    exact = queue.fill_rule_first_passage(k, H, mu=mu, cancel_rate=C, kill_rate=nu)
    kill = rng.exponential(1 / nu, n)
    for position in k:
        t = sum(rng.exponential(1 / (mu + C * m), n) for m in range(position + 1))
        p = np.mean((t <= H) & (t < kill))
        se = math.sqrt(exact[position] * (1 - exact[position]) / n)
        assert abs(p - exact[position]) <= 4 * se + 1e-12, (position, p, exact[position])


def test_approximations_reject_bad_arguments():
    with pytest.raises(ValueError, match="positions"):
        queue.fill_rule_first_passage([-1], 1.0, mu=1.0, cancel_rate=0.0)
    with pytest.raises(ValueError, match="mu"):
        queue.fill_rule_first_passage([1], 1.0, mu=0.0, cancel_rate=0.0)


# --- the exponential fit -------------------------------------------------------------------
def test_exponential_fit_recovers_the_decay_of_exponential_data():
    """Binomial draws from p = 0.9 exp(-0.3 k), 5,000 trials per position: beta and p0 within
    4 standard errors, and the goodness-of-fit test does not reject."""
    rng = np.random.default_rng(3)
    k = np.arange(10)
    n = np.full(10, 5000)
    y = rng.binomial(n, 0.9 * np.exp(-0.3 * k))
    fit = queue.fit_exponential_decay(k, n, y)
    assert abs(fit["beta"] - 0.3) <= 4 * fit["beta_se"]
    p0_se = (fit["p0_ci_high"] - fit["p0_ci_low"]) / (2 * Z95)
    assert abs(fit["p0"] - 0.9) <= 4 * p0_se
    assert fit["p_value"] > 1e-3 and fit["dof"] == 8
    assert fit["beta_qci_low"] <= fit["beta_ci_low"]


def test_exponential_fit_rejects_a_curve_that_is_not_exponential():
    k = np.arange(10)
    n = np.full(10, 5000)
    p = 1 / (1 + np.exp(k - 4.0))               # logistic: flat, then a cliff
    fit = queue.fit_exponential_decay(k, n, np.round(n * p))
    assert fit["p_value"] < 1e-6
    assert math.isnan(queue.fit_exponential_decay([0, 1], [10, 10], [5, 4])["beta"])


# --- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "message"), [
    ({"horizons": [2, 2]}, "horizons must not repeat"),
    ({"horizons": [0, 5]}, "horizons must be a non-empty list of integers >= 1"),
    ({"main_horizon": 7}, "main_horizon must be one of horizons"),
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"episodes": 0}, "episodes must be an integer >= 1"),
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


def test_shipped_config_runs_at_least_10000_episodes_with_a_book_of_the_right_length():
    settings = load_config().settings("queue", queue.Settings)
    assert settings.episodes >= 10_000
    params = settings.params()
    assert params.n_steps == settings.n_steps
    assert params.adverse_selection_steps == settings.adverse_steps
