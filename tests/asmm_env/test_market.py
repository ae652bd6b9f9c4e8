"""The batched market core (asmm_env.market): the accounting identities on every step of every
path for random parameters and quotes (hypothesis), inventory bounds and capacities, fill
counts vs volume, the tick grid, the liquidation cost, episode mechanics, reseeding, impact,
errors, and no process-wide side effects."""

import ctypes
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asmm_env.allocator
from asmm_env import Market, MarketParams
from asmm_env.params import FILL_RULES, PRICE_DYNAMICS
from asmm_env.rollout import rollout
from asmm_env.streams import RandomStreams
from baselines import AvellanedaStoikovPolicy


@st.composite
def market_setups(draw):
    """Random market parameters (every field the identity could depend on), a batch size and
    a seed for the random quoting policy."""
    dynamics = draw(st.sampled_from(PRICE_DYNAMICS))
    n_steps = draw(st.integers(1, 40))
    T = draw(st.floats(0.05, 2.0))
    order_size = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    # Multiples of 0.5 keep inventory arithmetic exact, so inventory checks can be exact.
    max_inventory = draw(st.none() | st.integers(1, 20).map(lambda n: 0.5 * n))
    q_cap = 10 if max_inventory is None else int(2 * max_inventory)
    q0 = 0.5 * draw(st.integers(-q_cap, q_cap))
    jumps = draw(st.booleans())
    params = MarketParams(
        s0=draw(st.floats(1.0, 1000.0)),
        sigma=draw(st.floats(0.01, 1.0) if dynamics == "gbm" else st.floats(0.01, 10.0)),
        A=draw(st.floats(1.0, 500.0)),
        k=draw(st.floats(0.1, 20.0)),
        T=T,
        dt=T / n_steps,
        q0=q0,
        price_dynamics=dynamics,
        drift=draw(st.floats(-1.0, 1.0)),
        fill_rule=draw(st.sampled_from(FILL_RULES)),
        order_size=order_size,
        max_inventory=max_inventory,
        fee=draw(st.floats(-0.05, 0.05)),
        adverse_selection_steps=draw(st.integers(1, 10)),
        toxicity=draw(st.floats(0.0, 1.0)),
        jump_intensity=draw(st.floats(0.0, 50.0)) if jumps else 0.0,
        jump_std=draw(st.floats(0.0, 2.0)) if jumps else 0.0,
        vol_of_vol=draw(st.floats(0.0, 3.0)) if dynamics == "gaussian" else 0.0,
        tick_size=draw(st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.05, 0.5])),
        liquidation_cost=draw(st.sampled_from([0.0, 0.0, 0.01, 0.3])),
    )
    return params, draw(st.integers(1, 12)), draw(st.integers(1, 3)), draw(
        st.integers(0, 2**32 - 1))


def _random_depths(rng, params, n_paths, n_agents=1):
    """Depths (n, a, 2) around the fill scale 1/k, incl. negative ones (quotes through the
    mid), and now and then an extreme action beyond [-1, 1] clipped to the action map."""
    depths = rng.uniform(-2.0, 4.0, (n_paths * n_agents, 2)) / params.k
    reach = params.action_map
    action = reach.to_action(depths[:, 0], depths[:, 1])
    extreme = rng.random(action.shape) < 0.05
    action[extreme] = rng.choice([-1.5, -1.0, 1.0, 1.5], extreme.sum())
    return reach.to_depths(action, n_paths * n_agents).reshape(n_paths, n_agents, 2)


@settings(max_examples=100, deadline=None)
@given(market_setups())
def test_accounting_identities_hold_on_every_step_for_random_params_and_quotes(setup):
    params, n, n_agents, seed = setup
    market = Market(params, n, n_agents)
    market.reset(np.random.default_rng(seed))
    policy_rng = np.random.default_rng(seed + 1)
    led = market.ledger
    size, Q, tick = params.order_size, params.max_inventory, params.tick_size
    running_max = np.abs(led.inventory).copy()
    while not market.done:
        depths = _random_depths(policy_rng, params, n, n_agents)
        rested = market.on_grid(depths)          # where the quotes rest (and fill) this step
        q_before, cash_before = led.inventory.copy(), led.cash.copy()
        fills_before, volume_before = led.fills.copy(), led.volume.copy()
        sc, ip, fees = led.spread_capture.copy(), led.inventory_pnl.copy(), led.fees.copy()
        mid_before = market.mid.copy()
        capacity = market.capacity()

        volume = market.step(depths)
        fills = market.last_fills
        bought, sold = volume[..., 0], volume[..., 1]
        d_bid, d_ask = rested[..., 0], rested[..., 1]

        # pnl == spread_capture + inventory_pnl + fees + liquidation, to rounding
        terms = [led.cash, led.inventory * market.mid[:, None], led.initial_value,
                 led.spread_capture, led.inventory_pnl, led.fees, led.liquidation]
        scale = 1.0 + sum(np.abs(term) for term in terms)
        assert (np.abs(led.decomposition_residual(market.mid)) <= 1e-9 * scale).all()
        # fills are whole numbers of orders of order_size shares; counts and volume accumulate
        assert (fills >= 0).all() and np.array_equal(fills, np.round(fills))
        assert np.array_equal(volume, fills * size)
        assert np.array_equal(led.fills - fills_before, fills)
        assert np.array_equal(led.volume - volume_before, volume)
        assert np.array_equal(led.inventory - q_before, bought - sold)
        # self-financing cash: buy at mid - bid_depth, sell at mid + ask_depth (grid prices),
        # fee per share
        mid = mid_before[:, None]
        cash_flow = (-bought * (mid - d_bid) + sold * (mid + d_ask)
                     - params.fee * (bought + sold))
        atol = 1e-9 * (1 + np.abs(cash_before).max() + np.abs(cash_flow).max())
        np.testing.assert_allclose(led.cash - cash_before, cash_flow, rtol=1e-9, atol=atol)
        # each term accumulates what it says
        np.testing.assert_allclose(led.spread_capture - sc, bought * d_bid + sold * d_ask,
                                   rtol=1e-9, atol=1e-9 * (1 + np.abs(sc).max()))
        np.testing.assert_allclose(led.fees - fees, -params.fee * (bought + sold),
                                   rtol=1e-9, atol=1e-12 * (1 + np.abs(fees).max()))
        np.testing.assert_allclose(led.inventory_pnl - ip,
                                   led.inventory * (market.mid - mid_before)[:, None],
                                   rtol=1e-9, atol=1e-9 * (1 + np.abs(ip).max()))
        running_max = np.maximum(running_max, np.abs(led.inventory))
        assert np.array_equal(led.max_abs_inventory, running_max)
        # the tick grid: quotes rest on it, each rounded away from the mid by less than a tick
        if tick:
            for price, wanted, sign in ((mid - d_bid, mid - depths[..., 0], -1.0),
                                        (mid + d_ask, mid + depths[..., 1], 1.0)):
                ticks = price / tick
                assert np.allclose(ticks, np.round(ticks), rtol=0, atol=1e-6)
                assert (sign * (price - wanted) >= -1e-9 * (1 + np.abs(mid))).all()
                assert (sign * (price - wanted) < tick * (1 + 1e-6)).all()
        else:
            assert np.array_equal(rested, depths)
        # the inventory bound: never exceeded, no quote fills beyond its capacity
        if Q is None:
            assert capacity is None and market.allowed_sides() is None
        else:
            assert (np.abs(led.inventory) <= Q + 1e-12).all()
            assert (fills <= capacity).all()
            assert np.array_equal(capacity[..., 0], np.floor((Q - q_before) / size + 1e-9))
            assert np.array_equal(capacity[..., 1], np.floor((Q + q_before) / size + 1e-9))
        # the liquidation cost is charged once, at the end
        expected = -params.liquidation_cost * np.abs(led.inventory) if market.done else 0.0
        assert np.array_equal(led.liquidation, np.zeros_like(led.liquidation) + expected)
    assert market.step_index == params.n_steps


# -- inventory bounds, counts and volume ------------------------------------------------------

@pytest.mark.parametrize(("order_size", "top"), [(1.0, 5.0), (2.0, 4.0)])
def test_inventory_bound_is_reached_but_never_exceeded_with_several_fills_per_step(
        order_size, top):
    # Bids through the mid with A dt = 10 orders a step, asks far away: several Poisson fills
    # a step, and the inventory climbs to the largest multiple of order_size within Q = 5.
    params = MarketParams(A=2000.0, max_inventory=5.0, T=0.05, order_size=order_size)
    market = Market(params, 50)
    market.reset(0)
    depths = np.zeros((50, 1, 2))
    depths[..., 0], depths[..., 1] = -2.0, 50.0
    most = 0.0
    while not market.done:
        market.step(depths)
        most = max(most, market.last_fills.max())
        assert (market.ledger.inventory <= 5.0).all()
    assert most > 1
    assert (market.ledger.inventory == top).all()
    assert (market.ledger.max_abs_inventory == top).all()
    assert (market.capacity()[..., 0] == 0).all() and not market.allowed_sides()[..., 0].any()


def test_capacity_is_the_number_of_orders_left_before_each_bound():
    params = MarketParams(max_inventory=5.0, order_size=2.0, q0=1.0)
    market = Market(params, 1, 2)
    market.reset(0)
    # q = 1: room to buy 4 shares (2 orders), to sell 6 shares (3 orders)
    assert market.capacity().tolist() == [[[2.0, 3.0], [2.0, 3.0]]]
    assert Market(MarketParams(), 1).capacity() is None


def test_fills_count_orders_and_volume_counts_shares_when_order_size_is_not_one():
    """200 paths x 40 steps at A dt = 5 with orders of 2.5 shares, quotes at the mid."""
    params = MarketParams(A=1000.0, order_size=2.5, T=0.2, q0=1.0)
    market = Market(params, 200)
    market.reset(1)
    total = np.zeros((200, 1, 2))
    most = 0.0
    while not market.done:
        volume = market.step(np.zeros((200, 1, 2)))
        assert np.array_equal(volume, market.last_fills * 2.5)
        assert np.array_equal(market.last_volume, volume)
        total += market.last_fills
        most = max(most, market.last_fills.max())
    led = market.ledger
    assert most > 1
    assert np.array_equal(led.fills, total)
    assert np.array_equal(led.volume, total * 2.5)
    assert np.array_equal(led.bid_fills, total[..., 0]) and np.array_equal(
        led.ask_volume, total[..., 1] * 2.5)
    assert np.array_equal(led.inventory, 1.0 + led.bid_volume - led.ask_volume)


# -- the tick grid ----------------------------------------------------------------------------

def test_on_grid_rounds_quotes_away_from_the_mid_onto_multiples_of_the_tick():
    market = Market(MarketParams(tick_size=0.05), 3, 2)
    market.reset(0)
    market.mid = np.array([100.0, 100.012, 99.99])
    depths = np.array([[[0.1, 0.1], [0.03, 0.0]],
                       [[0.1, 0.1], [-0.2, 0.2]],
                       [[0.0, 0.011], [0.5, 0.5]]])
    rested = market.on_grid(depths)
    bids = market.mid[:, None] - rested[..., 0]
    asks = market.mid[:, None] + rested[..., 1]
    np.testing.assert_allclose(bids, [[99.9, 99.95], [99.9, 100.2], [99.95, 99.45]], atol=1e-9)
    np.testing.assert_allclose(asks, [[100.1, 100.0], [100.15, 100.25], [100.05, 100.5]],
                               atol=1e-9)
    continuous = Market(MarketParams(), 3, 2)
    assert continuous.on_grid(depths) is depths


def test_every_fill_on_a_tick_grid_is_at_a_grid_price():
    # No fees and no initial inventory: cash is a sum of grid prices times whole orders, so it
    # stays a multiple of the tick at every step. 300 paths, 100 steps, depths off the grid.
    tick = 0.05
    market = Market(MarketParams(T=0.5, tick_size=tick), 300, 2)
    market.reset(2)
    rng = np.random.default_rng(3)
    while not market.done:
        market.step(rng.uniform(0.0, 1.0, (300, 2, 2)))
        ticks = market.ledger.cash / tick
        assert np.allclose(ticks, np.round(ticks), rtol=0, atol=1e-6)
    assert market.ledger.fills.sum() > 1000


def test_makers_rounded_to_one_grid_price_take_together_what_the_better_maker_alone_takes():
    """Tick 0.25, makers at depths 0.21 and 0.24 (often one grid price, sometimes the first is
    a tick better), 500 paths x 100 steps: their fills sum to a lone maker's at 0.21, per
    path, step and side."""
    params = MarketParams(T=0.5, tick_size=0.25)
    pair, alone = Market(params, 500, 2), Market(params, 500, 1)
    pair.reset(4)
    alone.reset(4)
    depths = np.tile(np.array([0.21, 0.24])[None, :, None], (500, 1, 2))
    shared = 0
    while not pair.done:
        rested = pair.on_grid(depths)
        shared += np.isclose(rested[:, 0], rested[:, 1]).sum()
        pair.step(depths)
        alone.step(depths[:, :1])
        assert np.array_equal(pair.last_fills.sum(axis=1), alone.last_fills[:, 0])
    assert shared > 0 and pair.ledger.fills[:, 1].sum() > 0


def test_on_a_tick_grid_a_quote_keeps_its_place_while_its_grid_price_holds():
    """Tick 0.25, small sigma (0.5) and no orders (A tiny), two makers at depth 0.3 for 200
    steps on 50 paths: a maker's place in its level changes exactly when the mid's move
    changes its grid price (the depth then reaches a new grid price)."""
    params = MarketParams(A=1e-9, sigma=0.5, tick_size=0.25)
    market = Market(params, 50, 2)
    market.reset(9)
    depths = np.full((50, 2, 2), 0.3)
    last_price = last_place = None
    kept = moved = 0
    while not market.done:
        price = market.mid[:, None, None] + market.on_grid(depths) * np.array([-1.0, 1.0])
        market.step(depths)
        place = market.fill_model.priority.copy()
        if last_price is not None:
            same = np.isclose(price, last_price, rtol=0, atol=1e-9)
            assert np.array_equal(place[same], last_place[same])
            assert (place[~same] != last_place[~same]).all()
            kept, moved = kept + same.sum(), moved + (~same).sum()
        last_price, last_place = price, place
    assert kept > 0 and moved > 0
    assert market.ledger.fills.sum() == 0


def test_a_vanishing_tick_gives_the_continuous_model():
    """AS gamma = 0.1 over T = 0.5, 4,000 paths: tick 1e-9 against tick 0, same seed. The fills
    are the same on (all but a few) paths and the mean PnL agrees within 4 s.e."""
    params = MarketParams(T=0.5)
    policy = AvellanedaStoikovPolicy.from_env(params, 0.1)
    continuous = rollout(policy, params, n_paths=4000, seed=3).paths
    grid = rollout(policy, params.replace(tick_size=1e-9), n_paths=4000, seed=3).paths
    assert (continuous.fills == grid.fills).mean() >= 0.999
    pnl_a, pnl_b = continuous.terminal_pnl.to_numpy(), grid.terminal_pnl.to_numpy()
    se = math.sqrt((pnl_a.var(ddof=1) + pnl_b.var(ddof=1)) / 4000)
    assert abs(pnl_a.mean() - pnl_b.mean()) <= 4 * se
    same = (continuous.fills == grid.fills).to_numpy()
    np.testing.assert_allclose(pnl_a[same], pnl_b[same], rtol=0, atol=1e-6)


# -- the liquidation cost ---------------------------------------------------------------------

def test_the_liquidation_cost_lowers_terminal_pnl_by_cost_times_terminal_inventory_exactly():
    """Same seed and quotes (skewed, so q_T varies) with and without a cost of 0.3 per share:
    PnL is the same until the last step, then lower by exactly 0.3 |q_T|; the identity holds
    with the liquidation term."""
    cost, n = 0.3, 400
    plain = Market(MarketParams(T=0.2), n)
    costly = Market(MarketParams(T=0.2, liquidation_cost=cost), n)
    plain.reset(5)
    costly.reset(5)
    depths = np.tile([[[0.3, 0.9]]], (n, 1, 1))
    while not plain.done:
        plain.step(depths)
        costly.step(depths)
        if not plain.done:
            assert np.array_equal(costly.pnl(), plain.pnl())
            assert (costly.ledger.liquidation == 0).all()
    q_T = costly.ledger.inventory
    assert np.array_equal(costly.pnl(), plain.pnl() - cost * np.abs(q_T))
    assert np.array_equal(costly.ledger.liquidation, -cost * np.abs(q_T))
    assert (q_T != 0).mean() > 0.5
    np.testing.assert_allclose(costly.ledger.decomposition_residual(costly.mid), 0.0,
                               atol=1e-9)
    assert np.array_equal(costly.ledger.inventory, plain.ledger.inventory)


# -- episode mechanics and seeding ------------------------------------------------------------

def test_time_advances_by_dt_and_the_episode_ends_after_t_over_dt_steps():
    params = MarketParams(T=0.05, dt=0.01)
    market = Market(params, 3)
    market.reset(1)
    assert (market.time, market.time_remaining, market.done) == (0.0, 0.05, False)
    for i in range(1, 6):
        market.step(np.ones((3, 1, 2)))
        assert market.time == pytest.approx(0.01 * i)
        assert market.time_remaining == pytest.approx(0.05 - 0.01 * i)
    assert market.done
    with pytest.raises(RuntimeError, match="reset"):
        market.step(np.ones((3, 1, 2)))


@pytest.mark.parametrize("seed", [5, np.random.SeedSequence(5)])
def test_reset_restarts_the_episode_and_the_same_seed_reproduces_it(seed, reseed_global_numpy):
    market = Market(MarketParams(T=0.1, q0=2.0, max_inventory=4.0), 4, 2)

    def run(seed):
        market.reset(seed)
        assert np.array_equal(market.mid, np.full(4, 100.0))
        assert np.array_equal(market.ledger.inventory, np.full((4, 2), 2.0))
        assert np.array_equal(market.pnl(), np.zeros((4, 2)))
        assert not market.ledger.fills.any() and market.step_index == 0
        out = []
        while not market.done:
            out.append(market.step(np.full((4, 2, 2), 0.2)).copy())
            out.append(market.mid.copy())
        return out + [market.pnl()]

    first = run(seed)
    reseed_global_numpy(999)           # numpy's global RNG must play no part
    second = run(seed)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    third = run(6)
    assert not all(np.array_equal(a, b) for a, b in zip(first, third, strict=True))


def test_a_generator_or_streams_seed_the_episode_reproducibly_and_none_draws_fresh_entropy():
    market = Market(MarketParams(T=0.05), 6)

    def mids(seed):
        market.reset(seed)
        while not market.done:
            market.step(np.full((6, 1, 2), 0.5))
        return market.mid.copy()

    assert np.array_equal(mids(np.random.default_rng(3)), mids(np.random.default_rng(3)))
    assert np.array_equal(mids(RandomStreams(3, 6)), mids(3))
    assert not np.array_equal(mids(None), mids(None))


def test_a_market_of_many_paths_changes_no_process_wide_setting(monkeypatch):
    # The old Market tuned glibc's allocator for 10,000 or more path-agents (issue 12, failure
    # 6): building, resetting and stepping 20,000 paths must neither call the opt-in tuning
    # nor open the C library.
    calls = []
    monkeypatch.setattr(asmm_env.allocator, "_done", False)
    monkeypatch.setattr(asmm_env.allocator, "retain_freed_memory",
                        lambda *args, **kwargs: calls.append("retain_freed_memory"))
    real_cdll = ctypes.CDLL
    monkeypatch.setattr(ctypes, "CDLL", lambda name, *a, **kw: (
        calls.append(name), real_cdll(name, *a, **kw))[1])
    market = Market(MarketParams(T=0.01), 20_000)
    market.reset(0)
    market.step(np.full((20_000, 1, 2), 0.5))
    assert calls == [] and asmm_env.allocator._done is False


# -- impact -----------------------------------------------------------------------------------

def test_permanent_impact_moves_the_mid_against_every_fill_by_impact_per_share():
    # Same seed with and without impact: the mid differs by exactly -impact x (net shares
    # the makers bought so far), and adverse selection per fill is clearly negative (less than
    # -impact in size: a maker's own opposite fill moves the mid back within the window).
    params = MarketParams(T=0.2, q0=0.0)
    impact = 0.05
    plain, informed = Market(params, 200), Market(params.replace(impact=impact), 200)
    plain.reset(7)
    informed.reset(7)
    depths = np.full((200, 1, 2), 0.4)
    net_bought = np.zeros(200)
    for _ in range(params.n_steps):
        plain.step(depths)
        volume = informed.step(depths)
        net_bought += volume[:, 0, 0] - volume[:, 0, 1]
        np.testing.assert_allclose(informed.mid, plain.mid - impact * net_bought, atol=1e-9)
    led = informed.ledger
    per_fill = led.adverse_selection.sum() / led.fills.sum()
    assert per_fill < -0.5 * impact
    np.testing.assert_allclose(led.decomposition_residual(informed.mid), 0.0, atol=1e-9)


def test_impact_moves_the_mid_by_the_net_shares_of_every_agent():
    # Two agents with orders of 2 shares: the mid moves by -impact x the net shares of both.
    params = MarketParams(T=0.1, order_size=2.0)
    plain, informed = Market(params, 100, 2), Market(params.replace(impact=0.01), 100, 2)
    plain.reset(8)
    informed.reset(8)
    depths = np.tile(np.array([[0.1, 0.6], [0.5, 0.2]])[None], (100, 1, 1))
    net = np.zeros(100)
    while not plain.done:
        plain.step(depths)
        volume = informed.step(depths)
        net += (volume[..., 0] - volume[..., 1]).sum(axis=1)
        np.testing.assert_allclose(informed.mid, plain.mid - 0.01 * net, atol=1e-9)
    assert np.abs(net).max() > 0


# -- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kwargs"), [
    ("n_paths", dict(n_paths=0)), ("n_paths", dict(n_paths=2.0)),
    ("n_agents", dict(n_agents=0)), ("n_agents", dict(n_agents="2")),
])
def test_bad_batch_shape_raises_value_error_naming_it(name, kwargs):
    with pytest.raises(ValueError, match=rf"^{name} must be an integer >= 1"):
        Market(MarketParams(), **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("params", dict(params={"sigma": 2.0})),
    ("price_model", dict(price_model="binomial")),
    ("fill_model", dict(fill_model="queue")),
])
def test_bad_components_raise_type_error_naming_them(name, kwargs):
    arguments = {"params": MarketParams(), **kwargs}
    with pytest.raises(TypeError, match=rf"^{name} must be"):
        Market(**arguments)


def test_streams_for_another_number_of_paths_raise_naming_them():
    with pytest.raises(ValueError, match="streams must be for n_paths = 4"):
        Market(MarketParams(), 4).reset(RandomStreams(0, 3))


@pytest.mark.parametrize("shape", [(4, 3, 2), (4, 1, 3), (3, 1, 2)])
def test_depths_of_another_shape_than_the_market_raise_value_error_naming_depths(shape):
    market = Market(MarketParams(T=0.1), 4, 1)
    market.reset(0)
    with pytest.raises(ValueError, match="depths"):
        market.step(np.full(shape, 0.1))


def test_impact_must_be_non_negative():
    with pytest.raises(ValueError, match="^impact must be >= 0"):
        MarketParams(impact=-0.1)


@pytest.mark.parametrize("name", ["tick_size", "liquidation_cost"])
def test_negative_tick_size_or_liquidation_cost_raise_naming_them(name):
    with pytest.raises(ValueError, match=rf"^{name} must be >= 0"):
        MarketParams(**{name: -0.01})
