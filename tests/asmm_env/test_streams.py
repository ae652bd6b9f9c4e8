"""Named random streams: what a seed fixes (asmm_env.streams), the prefetch that never changes
a byte, the per-step generators of event-driven sources and the Poisson inverse."""

import numpy as np
import pytest
from scipy import stats

from asmm_env import Market, MarketParams
from asmm_env import streams as streams_module
from asmm_env.lob import BookParams, LimitOrderBook
from asmm_env.rollout import rollout
from asmm_env.streams import BLOCK_PATHS, RandomStreams, poisson_inverse
from baselines import AvellanedaStoikovPolicy, ConstantSpreadPolicy, SymmetricPolicy

SHORT = MarketParams(T=0.1)


def _draws(streams, n_steps, kind="normal", shape=()):
    source = streams.source("price", kind, shape)
    return np.array([source.next().copy() for _ in range(n_steps)])


def test_prefetch_depth_never_changes_the_draws(monkeypatch):
    deep = _draws(RandomStreams(5, 2500, block_paths=1000), 7, "uniform", (2,))
    monkeypatch.setattr(streams_module, "_PREFETCH_VALUES", 1)   # one step at a time
    shallow = _draws(RandomStreams(5, 2500, block_paths=1000), 7, "uniform", (2,))
    assert np.array_equal(deep, shallow)


@pytest.mark.parametrize("kind", ["uniform", "normal", "exponential"])
def test_a_path_draws_the_same_variates_whatever_the_number_of_paths(kind):
    whole = _draws(RandomStreams(3, 2600, block_paths=1000), 5, kind)
    part = _draws(RandomStreams(3, 1200, block_paths=1000), 5, kind)
    assert np.array_equal(whole[:, :1200], part)


def test_a_later_chunk_draws_the_paths_of_its_blocks():
    whole = _draws(RandomStreams(3, 3000, block_paths=1000), 4)
    chunk = _draws(RandomStreams(3, 2000, block_paths=1000, first_block=1), 4)
    assert np.array_equal(whole[:, 1000:], chunk)


def test_streams_of_different_sources_blocks_and_seeds_differ():
    st = RandomStreams(0, 10)
    a = st.block_generator("price", 0).random(10)
    assert not np.array_equal(a, st.block_generator("flow", 0).random(10))
    assert not np.array_equal(a, st.block_generator("flow", 0, index=1).random(10))
    assert not np.array_equal(a, RandomStreams(1, 10).block_generator("price", 0).random(10))
    assert np.array_equal(a, RandomStreams(0, 10).block_generator("price", 0).random(10))


def test_a_step_generator_does_not_depend_on_what_earlier_steps_drew():
    st = RandomStreams(2, 10)
    st.step_generator("book", 0, 0).random(1000)          # step 0 draws a lot...
    late = st.step_generator("book", 0, 1).random(5)
    fresh = RandomStreams(2, 10).step_generator("book", 0, 1).random(5)   # ...or nothing
    assert np.array_equal(late, fresh)
    assert not np.array_equal(late, RandomStreams(2, 10).step_generator("book", 0, 2).random(5))


@pytest.mark.parametrize(("seed", "name"), [(-1, "seed"), (1.5, "seed"), ("x", "seed"),
                                             ([1, -2], "seed")])
def test_bad_seeds_raise_naming_the_seed(seed, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        RandomStreams(seed, 4)


@pytest.mark.parametrize(("kwargs", "name"), [(dict(n_paths=0), "n_paths"),
                                               (dict(block_paths=0), "block_paths"),
                                               (dict(first_block=-1), "first_block")])
def test_bad_stream_layouts_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        RandomStreams(0, **({"n_paths": 4} | kwargs))


@pytest.mark.parametrize("lam", [0.0, 0.05, 0.7, 3.0, 29.0, 45.0])
def test_poisson_inverse_has_the_poisson_law(lam):
    # 200,000 variates: a chi-square test against the pmf on cells with expected count >= 20.
    u = np.random.default_rng(int(lam * 100)).random(200_000)
    n = poisson_inverse(u, np.full(u.size, lam))
    if lam == 0:
        assert (n == 0).all()
        return
    values, counts = np.unique(n, return_counts=True)
    expected = stats.poisson.pmf(values, lam) * u.size
    big = expected >= 20
    chi2 = ((counts[big] - expected[big]) ** 2 / expected[big]).sum()
    assert stats.chi2.sf(chi2, big.sum() - 1) > 1e-4


def test_poisson_inverse_is_non_decreasing_in_the_mean_for_each_uniform():
    u = np.random.default_rng(0).random(10_000)
    lams = np.array([0.01, 0.3, 1.0, 2.5, 31.0, 60.0])
    counts = np.stack([poisson_inverse(u, np.full(u.size, lam)) for lam in lams])
    assert (np.diff(counts, axis=0) >= 0).all()


# --- what a seed fixes in the markets --------------------------------------------------------

def _mids(market, depths_fn):
    mids = [market.mid.copy()]
    while not market.done:
        market.step(depths_fn(market))
        mids.append(market.mid.copy())
    return np.array(mids)


def test_the_mid_path_does_not_depend_on_the_policies_or_the_number_of_agents():
    # The old engine drew mid and flow from one generator, so two policy sets saw
    # independent mid paths after a few steps.
    p = SHORT
    fixed = _mids(_reset(Market(p, 50, 2), 7), lambda m: np.full((50, 2, 2), 0.3))
    skewed = _mids(_reset(Market(p, 50, 2), 7),
                   lambda m: 0.8 + 0.1 * m.ledger.inventory[..., None] * [1.0, -1.0])
    alone = _mids(_reset(Market(p, 50, 1), 7), lambda m: np.full((50, 1, 2), 2.0))
    crowd = _mids(_reset(Market(p, 50, 5), 7), lambda m: np.full((50, 5, 2), -0.2))
    assert np.array_equal(fixed, skewed)
    assert np.array_equal(fixed, alone) and np.array_equal(fixed, crowd)


def _reset(market, seed):
    market.reset(seed)
    return market


def test_rollout_gives_different_policy_sets_the_same_market():
    p = SHORT
    as_pair = [AvellanedaStoikovPolicy.from_env(p, g) for g in (0.01, 0.5)]
    sym_trio = [SymmetricPolicy.from_env(p, 0.1)] * 3
    a = rollout(as_pair, p, n_paths=40, seed=4, record_paths=40).trajectories["mid"]
    b = rollout(sym_trio, p, n_paths=40, seed=4, record_paths=40).trajectories["mid"]
    assert np.array_equal(a, b)


def test_the_orders_reaching_a_price_do_not_depend_on_how_many_makers_quote_there():
    # Every path: one maker alone at 0.645 is filled exactly as often as five makers there
    # together (the old engine gave two makers 13% more flow than one).
    p = SHORT
    maker = ConstantSpreadPolicy(0.645, 0.645, depth_bound=p.depth_bound)
    alone = rollout(maker, p, n_paths=300, seed=8).paths
    for n in (2, 5):
        crowd = rollout([maker] * n, p, n_paths=300, seed=8).paths
        together = crowd.groupby("path")[["bid_fills", "ask_fills"]].sum()
        assert np.array_equal(together.bid_fills, alone.bid_fills)
        assert np.array_equal(together.ask_fills, alone.ask_fills)


def test_the_order_book_events_do_not_depend_on_the_number_of_agents():
    p = BookParams(T=20.0)
    mids = []
    for agents in (1, 3):
        book = LimitOrderBook(p, 30, agents)
        book.reset(seed=6)
        none = np.full((30, agents, 2), -1)
        path = [book.mid]
        while not book.done:
            book.step(none)
            path.append(book.mid)
        mids.append(np.array(path))
    assert np.array_equal(mids[0], mids[1])


def test_a_vector_env_of_a_block_or_more_sees_the_paths_of_rollout():
    import gymnasium as gym

    import asmm_env  # noqa: F401

    p = MarketParams(T=0.02)
    envs = gym.make_vec("asmm_env/AvellanedaStoikov-v0", num_envs=BLOCK_PATHS,
                        vectorization_mode="vector_entry_point", params=p)
    policy = AvellanedaStoikovPolicy.from_env(p, 0.1)
    obs, _ = envs.reset(seed=12)
    for _ in range(p.n_steps):
        obs, _, _, _, infos = envs.step(policy.act(obs))
    paths = rollout(policy, p, n_paths=BLOCK_PATHS, seed=12).paths
    assert np.array_equal(infos["pnl"], paths.terminal_pnl.to_numpy())


def test_keyed_generators_are_independent_across_keys_at_each_position():
    # 500 keys x 2000 positions: the mean over keys at each position has the standard
    # deviation of i.i.d. uniforms, sqrt(1/12/500) = 0.0129 (within 10%).
    from asmm_env.streams import RandomStreams

    streams = RandomStreams(17, 50, block_paths=1000)
    draws = np.array([streams.keyed_generator("reach", 0, t).random(2000) for t in range(500)])
    assert abs(draws.mean(axis=0).std() / np.sqrt(1 / 12 / 500) - 1) < 0.1
    again = streams.keyed_generator("reach", 0, 3).random(5)
    assert np.array_equal(again, draws[3, :5])
    with pytest.raises(ValueError, match="key must be an integer >= 0"):
        streams.keyed_generator("reach", 0, -1)
