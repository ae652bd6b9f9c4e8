"""The micro-price experiment: the quick run's outputs, Stoikov's estimator against an
independent computation on synthetic Markov chains (exact and sampled), the mirror-symmetric
imbalance buckets, the fair-price policy's mapping to levels, and config errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

import experiments.microprice as microprice
from asmm_env.lob import BookParams
from asmm_env.lob.env import observation_names
from experiments.__main__ import main
from experiments.config import ConfigError, load_config

TABLES = ("microprice_adjustment", "microprice_summary", "microprice_paired")
FIGURES = ("microprice_adjustment_curve", "microprice_comparison")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``--quick`` run (200 episodes per policy, seed 4)."""
    out = tmp_path_factory.mktemp("microprice") / "results"
    assert main(["microprice", "--quick", "--seed", "4", "--out", str(out), "--no-progress",
                 "--workers", "1"]) == 0
    return out


# --- the run and its outputs ---------------------------------------------------------------
def test_quick_run_writes_every_table_and_figure_and_they_parse(quick, outputs):
    outputs(quick, "microprice", TABLES, FIGURES, seed=4)


def test_quick_run_tables_have_one_row_per_policy_and_bucket_and_consistent_numbers(quick):
    summary = pd.read_csv(quick / "tables" / "microprice_summary.csv")
    assert list(summary["fair_price"]) == list(microprice.FAIR_PRICES)
    assert (summary["episodes"] == 200).all()
    # Every fill earns half a tick: spread capture (ticks) = fills / 2.
    assert np.allclose(summary["spread_capture"], summary["fills"] / 2)
    assert (summary["max_identity_residual"] < 1e-8).all()
    assert ((summary["sharpe_ci_low"] < summary["sharpe"])
            & (summary["sharpe"] < summary["sharpe_ci_high"])).all()
    adjustment = pd.read_csv(quick / "tables" / "microprice_adjustment.csv")
    n = microprice.Settings().imbalance_buckets
    assert list(adjustment["bucket"]) == list(range(n))
    # Symmetrised estimation: G* is odd around the balanced bucket, and increasing.
    np.testing.assert_allclose(adjustment["G"], -adjustment["G"][::-1].to_numpy(), atol=1e-9)
    assert (np.diff(adjustment["G"]) > 0).all()
    paired = pd.read_csv(quick / "tables" / "microprice_paired.csv")
    assert [tuple(r) for r in paired[["fair_price", "reference_fair_price"]].to_numpy()] == \
        list(microprice.PAIRS)
    mid, micro = summary.set_index("fair_price").loc[["mid", "micro_price"], "pnl"]
    row = paired[(paired.fair_price == "micro_price") & (paired.reference_fair_price == "mid")]
    assert row["d_pnl"].iloc[0] == pytest.approx(micro - mid)


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
def _obs(params: BookParams, *, q=0.0, tau=None, qb=5, qa=5, weighted=None):
    names = observation_names(params.n_levels)
    o = np.zeros(len(names))
    mid = params.s0
    values = {"mid": mid, "inventory": q, "time_remaining": params.T if tau is None else tau,
              "best_bid": mid - params.tick_size / 2, "best_ask": mid + params.tick_size / 2,
              "bid_queue_0": qb, "ask_queue_0": qa,
              "micro_price": mid + params.tick_size * (qb / (qb + qa) - 0.5)
              if weighted is None else weighted}
    for key, value in values.items():
        o[names.index(key)] = value
    return o[None, :]


def _policy(fair, params, adjustment=None, gamma=0.5):
    return microprice.FairPricePolicy(fair, params, gamma=gamma, sigma=0.0044, k=340.0,
                                      adjustment=adjustment)


def test_policy_quotes_the_best_when_flat_and_steps_back_the_side_the_fair_price_leans_on():
    params = BookParams()
    adjustment = np.linspace(-1.0, 1.0, 11)             # ticks, per bucket
    for fair in microprice.FAIR_PRICES:
        bid, ask = _policy(fair, params, adjustment).levels(_obs(params))
        assert (bid[0], ask[0]) == (0, 0), fair      # balanced book, no inventory
    # A thin bid queue: the weighted mid and the micro-price fall, the bid steps back.
    for fair in ("weighted_mid", "micro_price"):
        bid, ask = _policy(fair, params, adjustment).levels(_obs(params, qb=1, qa=9))
        assert (bid[0], ask[0]) == (1, 0), fair
    bid, ask = _policy("mid", params).levels(_obs(params, qb=1, qa=9))
    assert (bid[0], ask[0]) == (0, 0)
    # Long inventory: the reservation price falls and the bid steps back (early on).
    bid, ask = _policy("mid", params).levels(_obs(params, q=2.0))
    assert (bid[0], ask[0]) == (1, 0)


def test_policy_never_quotes_better_than_its_as_quote():
    """Random observations: the bid's price is at or below r - delta unless the quote is at
    the deepest level (ask mirrored), and one level closer would be better than it."""
    params = BookParams(n_levels=5)
    rng = np.random.default_rng(0)
    policy = _policy("micro_price", params, np.linspace(-1, 1, 11), gamma=5.0)
    obs = np.concatenate([_obs(params, q=q, tau=tau, qb=qb, qa=qa) for q, tau, qb, qa in zip(
        rng.integers(-6, 7, 500), rng.uniform(1, params.T, 500), rng.integers(1, 15, 500),
        rng.integers(1, 15, 500), strict=True)])
    bid, ask = policy.levels(obs)
    bid_depth, ask_depth = policy.as_policy.depths(obs)
    fair = policy.fair_price(obs)
    tick = params.tick_size
    bid_price = params.s0 - tick / 2 - bid * tick
    ask_price = params.s0 + tick / 2 + ask * tick
    eps = 1e-9 * tick
    top = params.n_levels - 1
    assert np.all((bid_price <= fair - bid_depth + eps) | (bid == 0) | (bid == top))
    assert np.all((ask_price >= fair + ask_depth - eps) | (ask == 0) | (ask == top))
    assert np.all((bid == 0) | (bid_price + tick > fair - bid_depth - eps))
    assert np.all((ask == 0) | (ask_price - tick < fair + ask_depth + eps))
    action = policy.act(obs)
    assert action.shape == (500, 2) and np.all(np.abs(action) <= 1)


def test_policy_rejects_bad_arguments():
    params = BookParams()
    with pytest.raises(ValueError, match="fair"):
        _policy("vwap", params)
    with pytest.raises(ValueError, match="adjustment"):
        _policy("micro_price", params)


# --- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "message"), [
    ({"imbalance_buckets": 10}, "imbalance_buckets must be an odd integer >= 3"),
    ({"batches": 1}, "batches must be an integer >= 2"),
    ({"gamma": 0.0}, "gamma must be > 0"),
    ({"bootstrap": 10}, "bootstrap must be an integer >= 100"),
    ({"paths": 0}, "paths must be an integer >= 1"),
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
    assert settings.paths >= 10_000 and settings.imbalance_buckets % 2 == 1
    assert isinstance(settings.params(), BookParams)
    assert math.isclose(settings.params().T, BookParams().T)
