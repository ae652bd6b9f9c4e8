"""Monte Carlo rollout: reproducibility, chunking, the per-path DataFrame and trajectories."""

import numpy as np
import pandas as pd
import pytest

from asmm_env import MarketParams
from asmm_env.rollout import COLUMNS, RolloutResult, rollout
from baselines import AvellanedaStoikovPolicy, RandomPolicy, SymmetricPolicy

PARAMS = MarketParams(T=0.1)          # 20 steps of the AS 2008 market: fast


def _as_policy(params=PARAMS, gamma=0.1):
    return AvellanedaStoikovPolicy.from_env(params, gamma)


def test_same_seed_paths_and_chunk_size_give_identical_results():
    kwargs = dict(n_paths=50, seed=3, chunk_size=16, record_paths=5)
    first, second = rollout(_as_policy(), PARAMS, **kwargs), rollout(_as_policy(), PARAMS,
                                                                      **kwargs)
    pd.testing.assert_frame_equal(first.paths, second.paths, check_exact=True)
    assert first.trajectories.keys() == second.trajectories.keys()
    for key in first.trajectories:
        assert np.array_equal(first.trajectories[key], second.trajectories[key]), key
    assert np.array_equal(first.inside_spread_mean, second.inside_spread_mean)


def test_results_do_not_depend_on_numpys_global_generator(reseed_global_numpy):
    reseed_global_numpy(1)
    first = rollout(_as_policy(), PARAMS, n_paths=20, seed=3)
    reseed_global_numpy(2)
    second = rollout(_as_policy(), PARAMS, n_paths=20, seed=3)
    pd.testing.assert_frame_equal(first.paths, second.paths, check_exact=True)


def test_different_seeds_give_different_paths():
    first = rollout(_as_policy(), PARAMS, n_paths=20, seed=3).paths
    second = rollout(_as_policy(), PARAMS, n_paths=20, seed=4).paths
    assert not np.array_equal(first.terminal_pnl, second.terminal_pnl)


def test_one_row_per_path_with_the_documented_columns():
    result = rollout(_as_policy(), PARAMS, n_paths=37, seed=0)
    assert isinstance(result, RolloutResult)
    frame = result.paths
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 37
    assert np.array_equal(frame.path, np.arange(37)) and (frame.agent == 0).all()
    assert (frame.fills == frame.bid_fills + frame.ask_fills).all()
    terms = frame.spread_capture + frame.inventory_pnl + frame.fees
    np.testing.assert_allclose(frame.terminal_pnl, terms, rtol=1e-9, atol=1e-9)
    assert (frame.max_identity_residual < 1e-9).all()
    assert (frame.max_abs_inventory >= frame.terminal_inventory.abs()).all()
    assert frame.fills.sum() > 100


def test_two_agents_give_one_row_per_path_and_agent():
    policies = [_as_policy(gamma=0.1), SymmetricPolicy.from_env(PARAMS, 0.1)]
    frame = rollout(policies, PARAMS, n_paths=9, seed=0, chunk_size=4).paths
    assert len(frame) == 18
    assert np.array_equal(frame.path, np.repeat(np.arange(9), 2))
    assert np.array_equal(frame.agent, np.tile([0, 1], 9))


TINY = MarketParams(T=0.02)           # 4 steps: chunking needs more than one block of paths


@pytest.mark.parametrize(("chunk_size", "sizes"), [
    (1, [1000, 1000, 500]), (1000, [1000, 1000, 500]), (1001, [2000, 500]), (5000, [2500])])
def test_chunks_are_whole_blocks_and_cover_every_path_exactly_once(chunk_size, sizes):
    done = []
    frame = rollout(_as_policy(TINY), TINY, n_paths=2500, seed=0, chunk_size=chunk_size,
                    progress=done.append).paths
    assert np.array_equal(frame.path, np.arange(2500))
    assert done == sizes


def test_chunk_size_never_changes_a_byte():
    # A chunk is a whole number of blocks and each block has its own streams.
    runs = [rollout(_as_policy(TINY), TINY, n_paths=2500, seed=9, chunk_size=c).paths
            for c in (1, 1000, 2000, 3000)]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0], other, check_exact=True)


def test_the_first_paths_of_a_larger_run_are_the_paths_of_a_smaller_one():
    # A partial block draws a full block's variates, so path i depends on (seed, i) only.
    small = rollout(_as_policy(), PARAMS, n_paths=3, seed=9).paths
    large = rollout(_as_policy(), PARAMS, n_paths=7, seed=9).paths
    pd.testing.assert_frame_equal(small, large.iloc[:3], check_exact=True)
    across = rollout(_as_policy(TINY), TINY, n_paths=1500, seed=9).paths
    whole = rollout(_as_policy(TINY), TINY, n_paths=2100, seed=9).paths
    pd.testing.assert_frame_equal(across, whole.iloc[:1500], check_exact=True)


def test_recorded_trajectories_have_the_documented_shapes_and_agree_with_the_paths():
    n_steps, K = PARAMS.n_steps, 4
    result = rollout(_as_policy(), PARAMS, n_paths=10, seed=1, chunk_size=6, record_paths=K)
    tr = result.trajectories
    assert set(tr) == {"time", "mid", "inventory", "pnl", "bid_depth", "ask_depth", "fills"}
    assert tr["time"].shape == (n_steps + 1,)
    assert tr["mid"].shape == (n_steps + 1, K)
    assert tr["inventory"].shape == tr["pnl"].shape == (n_steps + 1, K, 1)
    assert tr["bid_depth"].shape == tr["ask_depth"].shape == (n_steps, K, 1)
    assert tr["fills"].shape == (n_steps, K, 1, 2)
    np.testing.assert_allclose(tr["time"], np.arange(n_steps + 1) * PARAMS.dt)
    assert (tr["mid"][0] == PARAMS.s0).all() and (tr["pnl"][0] == 0).all()
    assert (np.diff(tr["mid"], axis=0) != 0).all()          # the mid moved every step
    inventory_change = np.diff(tr["inventory"], axis=0)
    assert np.array_equal(inventory_change, tr["fills"][..., 0] - tr["fills"][..., 1])
    frame = result.paths.iloc[:K]
    assert np.array_equal(tr["pnl"][-1, :, 0], frame.terminal_pnl)
    assert np.array_equal(tr["inventory"][-1, :, 0], frame.terminal_inventory)
    # the AS quotes recorded are the formula's depths
    q, tau = tr["inventory"][:-1, :, 0], PARAMS.T - tr["time"][:-1, None]
    skew = q * 0.1 * PARAMS.sigma**2 * tau
    half = 0.5 * (0.1 * PARAMS.sigma**2 * tau + 2 / 0.1 * np.log(1 + 0.1 / PARAMS.k))
    np.testing.assert_allclose(tr["bid_depth"][..., 0], half + skew, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr["ask_depth"][..., 0], half - skew, rtol=1e-12, atol=1e-12)


def test_record_paths_is_capped_by_the_first_chunk_and_zero_records_nothing():
    capped = rollout(_as_policy(TINY), TINY, n_paths=10, seed=1, record_paths=80)
    assert capped.trajectories["mid"].shape == (TINY.n_steps + 1, 10)
    chunked = rollout(_as_policy(TINY), TINY, n_paths=2500, seed=1, chunk_size=1000,
                      record_paths=1200)
    assert chunked.trajectories["mid"].shape == (TINY.n_steps + 1, 1000)
    assert rollout(_as_policy(), PARAMS, n_paths=3, seed=1).trajectories == {}


def test_inside_spread_mean_is_the_quoted_spread_of_a_symmetric_policy():
    policy = SymmetricPolicy(1.25, action_map=PARAMS)
    result = rollout(policy, PARAMS, n_paths=8, seed=0, chunk_size=3)
    assert result.inside_spread_mean.shape == (PARAMS.n_steps,)
    np.testing.assert_allclose(result.inside_spread_mean, 1.25, rtol=1e-12)


def test_identity_residual_stays_at_rounding_for_random_quotes_and_a_bounded_inventory():
    params = PARAMS.replace(max_inventory=3.0, fee=0.01, toxicity=0.5)
    policy = RandomPolicy.from_env(params, low=-1.0, high=2.0, seed=0)
    frame = rollout(policy, params, n_paths=200, seed=2, chunk_size=64).paths
    assert (frame.max_identity_residual < 1e-9).all()
    assert (frame.max_abs_inventory <= 3.0).all()


def test_params_default_to_the_as_2008_setup():
    frame = rollout(SymmetricPolicy.from_env(MarketParams(), 0.1), n_paths=2, seed=0).paths
    assert len(frame) == 2


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    (dict(n_paths=0), ValueError, "n_paths"),
    (dict(n_paths=2.5), ValueError, "n_paths"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(chunk_size=None), ValueError, "chunk_size"),
    (dict(record_paths=-1), ValueError, "record_paths"),
    (dict(seed=None), ValueError, "seed"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), ValueError, "seed"),
])
def test_bad_rollout_argument_raises_naming_it(kwargs, error, name):
    arguments = dict(n_paths=4, seed=0) | kwargs
    with pytest.raises(error, match=rf"^{name} must"):
        rollout(_as_policy(), PARAMS, **arguments)


def test_policies_without_act_or_empty_are_rejected_naming_policies():
    with pytest.raises(ValueError, match=r"^policies must name at least one policy"):
        rollout([], PARAMS, n_paths=2, seed=0)
    with pytest.raises(TypeError, match=r"^policies\[1\] must have an act"):
        rollout([_as_policy(), object()], PARAMS, n_paths=2, seed=0)


def test_a_policy_returning_non_finite_actions_is_reported_as_a_bad_action():
    class Broken:
        def act(self, obs):
            return np.full((obs.shape[0], 2), np.nan)

    with pytest.raises(ValueError, match=r"^action must be finite"):
        rollout(Broken(), PARAMS, n_paths=2, seed=0)
