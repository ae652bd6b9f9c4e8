"""The micro-price experiment: the quick run's outputs and findings, the seed contract (the
policies on the run's seed, the training set on its own), Stoikov's estimator against an
independent computation on synthetic Markov chains, the mirror-symmetric buckets, the
fair-price policy's levels, the paired statistics and their verdict rules, and config
errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import experiments.microprice as microprice
from asmm_env.lob import BookParams
from asmm_env.lob.env import observation_names
from experiments.config import ConfigError, load_config
from experiments.findings import Above, Below, Between, Verdict
from experiments.stats import SUMMARY_COLUMNS

TABLES = ("microprice_setup", "microprice_adjustment", "microprice_summary",
          "microprice_paired")
FIGURES = ("microprice_adjustment_curve", "microprice_comparison")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``--quick`` run (200 episodes per policy, seed 4)."""
    from tests.experiments.conftest import run_cli

    out = tmp_path_factory.mktemp("microprice") / "results"
    assert run_cli("microprice", "--quick", "--seed", "4", "--out", str(out)) == 0
    return out


# --- the run, its outputs and the seed contract --------------------------------------------
def test_quick_run_writes_every_table_figure_and_finding(quick, outputs):
    outputs(quick, "microprice", TABLES, FIGURES, seed=4)
    findings = pd.read_csv(quick / "tables" / "findings_microprice.csv")
    assert list(findings["id"]) == ["micro_price_reduces_adverse_cost",
                                    "micro_price_does_not_eliminate",
                                    "micro_price_beats_weighted_mid", "micro_price_pnl_gain"]
    assert list(findings["claim"].fillna(0).astype(int)) == [11, 7, 0, 0]


def test_quick_run_tables_have_the_required_columns_and_consistent_numbers(quick):
    summary = pd.read_csv(quick / "tables" / "microprice_summary.csv")
    assert list(summary["fair_price"]) == list(microprice.FAIR_PRICES)
    assert set(SUMMARY_COLUMNS) <= set(summary.columns)
    assert {"cost_per_fill", "cost_per_fill_ci_low", "cost_per_fill_ci_high", "fills",
            "spread_capture", "adverse_selection", "at_best"} <= set(summary.columns)
    assert (summary["paths"] == 200).all()
    # Every fill earns half a tick: spread capture (ticks) = fills / 2.
    assert np.allclose(summary["spread_capture"], summary["fills"] / 2)
    assert (summary["max_identity_residual"] < 1e-6).all()
    adjustment = pd.read_csv(quick / "tables" / "microprice_adjustment.csv")
    n = microprice.Settings().imbalance_buckets
    assert list(adjustment["bucket"]) == list(range(n))
    # Symmetrised estimation: G* is odd around the balanced bucket, and increasing.
    np.testing.assert_allclose(adjustment["G"], -adjustment["G"][::-1].to_numpy(), atol=1e-9)
    assert (np.diff(adjustment["G"]) > 0).all()
    paired = pd.read_csv(quick / "tables" / "microprice_paired.csv")
    assert len(paired) == len(microprice.PAIRS)
    assert {"d_cost_per_fill", "d_cost_per_fill_ci_low", "d_cost_per_fill_ci_high",
            "cost_share", "d_terminal_pnl", "pnl_correlation"} <= set(paired.columns)
    mid, micro = summary.set_index("fair_price").loc[["mid", "micro_price"], "mean"]
    assert paired["d_terminal_pnl"].iloc[0] == pytest.approx(micro - mid)


@pytest.fixture(scope="module")
def calibration():
    """A small training set (200 paths x 20 time units) and calibration (200 x 20)."""
    settings = microprice.Settings(train_time=20.0, warmup=10.0, batches=5)
    return settings, microprice.calibrate(settings, settings.params().replace(T=20.0), 11,
                                          scale=0.1)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_episodes_and_the_policies_share_the_book(calibration):
    """The run's seed fixes every policy's episodes (same bytes); the three policies start
    from the same books (the first step's fills agree while their quotes do)."""
    settings, cal = calibration
    params = settings.params().replace(T=5.0)
    runs = [microprice.simulate_policy(fair, settings, params, cal, 300, 6)
            for fair in ("mid", "mid", "micro_price")]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    assert not runs[0]["terminal_pnl"].equals(runs[2]["terminal_pnl"])
    other = microprice.simulate_policy("mid", settings, params, cal, 300, 7)
    assert not runs[0]["terminal_pnl"].equals(other["terminal_pnl"])


def test_calibration_is_plausible_for_the_default_book(calibration):
    _, cal = calibration
    assert 0.002 < cal.sigma < 0.01                      # about a tick per 4-5 time units
    assert cal.lambdas[0] > 5 * cal.lambdas[1] > 0
    assert cal.k == pytest.approx(math.log(cal.lambdas[0] / cal.lambdas[1]) / 0.01)
    assert cal.train_paths == 200 and (cal.G_se > 0).all()


# --- Stoikov's estimator -------------------------------------------------------------------
def _symmetric_chain(n: int, seed: int) -> np.ndarray:
    """A random joint kernel W[x, y, d] = P(X' = y, dM = d - 1 | X = x), d in {-1, 0, +1}
    ticks, mirror-symmetric: W[x, y, d] = W[n-1-x, n-1-y, -d]; mid moves favour the side the
    state leans to."""
    rng = np.random.default_rng(seed)
    W = rng.random((n, n, 3))
    tilt = np.linspace(-1, 1, n)
    W[:, :, 2] *= np.exp(2 * tilt)[:, None]            # up moves likelier in high states
    W[:, :, 0] *= np.exp(-2 * tilt)[:, None]
    W[:, :, 1] *= 3.0                                  # mostly no move
    W = W + W[::-1, ::-1, ::-1]
    return W / W.sum(axis=(1, 2), keepdims=True)


def _true_adjustment(W: np.ndarray) -> np.ndarray:
    """lim_t E[M_t - M_0 | X_0 = x] = sum_t P^t m, from the fundamental matrix of the state
    chain (independent of the paper's B-iteration)."""
    P = W.sum(axis=2)
    m = W[:, :, 2].sum(axis=1) - W[:, :, 0].sum(axis=1)
    vals, vecs = np.linalg.eig(P.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    pi /= pi.sum()
    assert abs(pi @ m) < 1e-12                          # symmetric: no drift
    Z = np.linalg.inv(np.eye(len(m)) - P + np.outer(np.ones(len(m)), pi))
    return Z @ m


def test_estimator_on_exact_transition_probabilities_equals_the_fundamental_matrix_solution():
    W = _symmetric_chain(7, seed=0)
    CQ = W[:, :, 1]
    CT = W[:, :, 0] + W[:, :, 2]
    CR = np.stack([W[:, :, 0].sum(axis=1), W[:, :, 2].sum(axis=1)], axis=1)
    model = microprice.micro_price_from_counts(CQ, CT, CR, np.array([-1.0, 1.0]))
    np.testing.assert_allclose(model.G, _true_adjustment(W), atol=1e-9)
    np.testing.assert_allclose(model.B.sum(axis=1), 1.0)
    assert model.iterations > 1


def test_estimator_recovers_the_adjustment_of_a_sampled_markov_chain():
    """400 paths x 500 steps of a 5-state symmetric chain: the estimate (from symmetrised
    transition counts) is within 4 batch-means standard errors (+ 0.01 ticks) of the truth."""
    n, W = 5, _symmetric_chain(5, seed=1)
    rng = np.random.default_rng(2)
    flat = W.reshape(n, -1).cumsum(axis=1)
    paths, steps = 400, 500
    state = rng.integers(0, n, paths)
    buckets = np.empty((paths, steps + 1), dtype=np.int64)
    mids = np.zeros((paths, steps + 1))
    buckets[:, 0] = state
    for t in range(steps):
        draw = (rng.random(paths)[:, None] > flat[state]).sum(axis=1)
        state, d = draw // 3, draw % 3 - 1
        buckets[:, t + 1] = state
        mids[:, t + 1] = mids[:, t] + d
    model, se = microprice.estimate_micro_price(buckets, mids, n, batches=10)
    truth = _true_adjustment(W)
    assert np.all(np.abs(model.G - truth) <= 4 * se + 0.01), (model.G, truth, se)
    assert np.all(se > 0)


def test_transition_counts_symmetrise_and_split_by_mid_change():
    CQ, CT, CR, K = microprice.transition_counts(
        np.array([0, 1, 2]), np.array([1, 1, 0]), np.array([0.0, 1.0, -2.0]), 3)
    np.testing.assert_array_equal(K, [-2.0, -1.0, 1.0, 2.0])
    assert CQ.sum() == 2 and CT.sum() == 4 and CR.sum() == 4
    assert CQ[0, 1] == 1 and CQ[2, 1] == 1              # (0 -> 1, 0) and its mirror
    assert CR[1, K.tolist().index(1.0)] == 1 and CR[1, K.tolist().index(-1.0)] == 1
    np.testing.assert_array_equal(CQ, CQ[::-1, ::-1])


def test_series_that_cannot_converge_raises():
    """Without symmetrisation a chain that always drifts up has no finite micro-price."""
    CQ = np.array([[0.5]])
    CT = np.array([[0.5]])
    CR = np.array([[0.5]])
    with pytest.raises(RuntimeError, match="symmetrised"):
        microprice.micro_price_from_counts(CQ, CT, CR, np.array([1.0]), max_iter=1000)


@pytest.mark.parametrize("n", [3, 5, 11])
def test_imbalance_buckets_are_mirror_symmetric_with_the_balanced_book_in_the_middle(n):
    qb, qa = np.meshgrid(np.arange(0, 25), np.arange(0, 25))
    ok = (qb + qa) > 0
    qb, qa = qb[ok], qa[ok]
    b = microprice.imbalance_bucket(qb, qa, n)
    np.testing.assert_array_equal(microprice.imbalance_bucket(qa, qb, n), n - 1 - b)
    assert (b[qb == qa] == (n - 1) // 2).all()
    assert b.min() == 0 and b.max() == n - 1
    imbalance = qb / (qb + qa)
    assert (np.diff(b[np.argsort(imbalance, kind="stable")]) >= 0).all()   # monotone
    with pytest.raises(ValueError, match="qb"):
        microprice.imbalance_bucket([0], [0], n)


# --- the policy ----------------------------------------------------------------------------
def _obs(params: BookParams, *, q=0.0, tau=None, qb=5, qa=5):
    names = observation_names(params.n_levels)
    o = np.zeros(len(names))
    mid = params.s0
    values = {"mid": mid, "inventory": q, "time_remaining": params.T if tau is None else tau,
              "best_bid": mid - params.tick_size / 2, "best_ask": mid + params.tick_size / 2,
              "bid_queue_0": qb, "ask_queue_0": qa,
              "micro_price": mid + params.tick_size * (qb / (qb + qa) - 0.5)}
    for key, value in values.items():
        o[names.index(key)] = value
    return o[None, :]


def _policy(fair, params, adjustment=None, gamma=2.5):
    return microprice.FairPricePolicy(fair, params, gamma=gamma, sigma=0.0044, k=290.0,
                                      adjustment=adjustment)


def test_policy_quotes_the_best_when_flat_and_steps_back_the_side_the_fair_price_leans_on():
    params = BookParams(T=60.0)
    adjustment = np.linspace(-1.0, 1.0, 11)             # ticks, per bucket
    for fair in microprice.FAIR_PRICES:
        assert _policy(fair, params, adjustment).offsets(_obs(params)).tolist() == [[0, 0]]
    # A thin bid queue: the weighted mid and the micro-price fall, the bid steps back.
    for fair in ("weighted_mid", "micro_price"):
        got = _policy(fair, params, adjustment).offsets(_obs(params, qb=1, qa=9))
        assert got.tolist() == [[1, 0]], fair
    assert _policy("mid", params).offsets(_obs(params, qb=1, qa=9)).tolist() == [[0, 0]]
    # Long inventory: the reservation price falls and the bid steps back (early on).
    assert _policy("mid", params).offsets(_obs(params, q=2.0)).tolist() == [[1, 0]]


def test_policy_never_quotes_better_than_its_as_quote():
    """Random observations: the bid's price is at or below r - delta unless the quote is at
    the best or the deepest level (ask mirrored), and one level closer would be better."""
    params = BookParams(n_levels=5, T=60.0)
    rng = np.random.default_rng(0)
    policy = _policy("micro_price", params, np.linspace(-1, 1, 11), gamma=25.0)
    obs = np.concatenate([_obs(params, q=q, tau=tau, qb=qb, qa=qa) for q, tau, qb, qa in zip(
        rng.integers(-6, 7, 500), rng.uniform(1, params.T, 500), rng.integers(1, 15, 500),
        rng.integers(1, 15, 500), strict=True)])
    bid, ask = policy.offsets(obs).T
    bid_depth, ask_depth = policy.depths(obs)
    fair = policy.fair_price(obs)
    tick, top, eps = params.tick_size, params.n_levels - 1, 1e-9 * params.tick_size
    bid_price = params.s0 - tick / 2 - bid * tick
    ask_price = params.s0 + tick / 2 + ask * tick
    assert np.all((bid_price <= fair - bid_depth + eps) | (bid == 0) | (bid == top))
    assert np.all((ask_price >= fair + ask_depth - eps) | (ask == 0) | (ask == top))
    assert np.all((bid == 0) | (bid_price + tick > fair - bid_depth - eps))
    assert np.all((ask == 0) | (ask_price - tick < fair + ask_depth + eps))
    assert len(set(bid.tolist())) > 2


def test_policy_rejects_bad_arguments():
    params = BookParams()
    with pytest.raises(ValueError, match="fair"):
        _policy("vwap", params)
    with pytest.raises(ValueError, match="adjustment"):
        _policy("micro_price", params)
    with pytest.raises(ValueError, match="sigma"):
        microprice.FairPricePolicy("mid", params, gamma=1.0, sigma=0.0, k=1.0)


# --- the paired statistics and their rules -------------------------------------------------
def _frame(cost_per_fill, fills, pnl, seed):
    rng = np.random.default_rng(seed)
    f = rng.poisson(fills, 4000).astype(float)
    adverse = -(cost_per_fill * f + rng.normal(0, 0.3, f.size) * np.sqrt(f))
    return pd.DataFrame({"fills": f, "adverse_selection": adverse,
                         "terminal_pnl": pnl + rng.normal(0, 1, f.size)})


def test_cost_difference_and_share_are_exact_ratios_with_intervals_that_decide_the_rules():
    mid, micro = _frame(0.4, 15, 1.0, 0), _frame(0.1, 6, 2.0, 1)
    ratio = lambda r: -r["adverse_selection"].sum() / r["fills"].sum()   # noqa: E731
    diff = microprice.cost_difference(micro, mid)
    assert diff.value == pytest.approx(ratio(micro) - ratio(mid))
    assert diff.ci_high < 0 and Below(0.0).decide(diff) is Verdict.CONFIRMED
    assert Below(0.0).decide(microprice.cost_difference(mid, micro)) is Verdict.REFUTED
    share = microprice.cost_ratio(micro, mid)
    assert share.value == pytest.approx(ratio(micro) / ratio(mid))
    assert Between(0.0, 1.0).decide(share) is Verdict.CONFIRMED
    favourable = _frame(-0.2, 6, 2.0, 2)                 # fills followed by favourable moves
    assert Between(0.0, 1.0).decide(microprice.cost_ratio(favourable, mid)) \
        is Verdict.REFUTED
    assert math.isnan(microprice.cost_ratio(mid, favourable).value)
    gain = microprice.paired_difference(micro, mid, "terminal_pnl")
    assert Above(0.0).decide(gain) is Verdict.CONFIRMED


# --- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "message"), [
    ({"imbalance_buckets": 10}, "imbalance_buckets must be an odd integer >= 3"),
    ({"batches": 1}, "batches must be an integer >= 2"),
    ({"gamma": 0.0}, "gamma must be > 0"),
    ({"paths": 0}, "paths must be an integer >= 1"),
    ({"train_time": 2.5}, "train_time must be a whole multiple of book.dt"),
    ({"robustness_paths": 2}, "robustness_paths must be a fraction"),
    ({"include_time_term": "yes"}, "include_time_term must be true or false"),
    ({"book": {"n_levels": 0}}, "book.n_levels must be"),
    ({"book": {"volatility": 1.0}}, "book: unknown book parameter"),
])
def test_bad_settings_are_rejected_with_the_field_named(tmp_path, fields, message):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"experiments": {"microprice": fields}}))
    with pytest.raises(ConfigError, match=message) as err:
        load_config(config).settings("microprice", microprice.Settings)
    assert "experiments.microprice" in str(err.value)


def test_shipped_config_has_the_microprice_section():
    settings = load_config().settings("microprice", microprice.Settings)
    assert settings.paths >= 5_000 and settings.imbalance_buckets % 2 == 1
    assert isinstance(settings.params(), BookParams)
    # gamma T as with gamma = 0.5 over the book's default five minutes
    assert settings.gamma * settings.params().T == pytest.approx(0.5 * BookParams().T)
