"""The batched market core: the accounting identities on every step of every path for random
parameters and quotes (hypothesis), inventory bounds, episode mechanics and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asmm_env import Market, MarketParams
from asmm_env.params import FILL_PROBABILITIES, PRICE_DYNAMICS
from asmm_env.spaces import action_to_depths


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
        fill_rule=draw(st.sampled_from(FILL_PROBABILITIES)),
        order_size=order_size,
        max_inventory=max_inventory,
        fee=draw(st.floats(-0.05, 0.05)),
        adverse_selection_steps=draw(st.integers(1, 10)),
        toxicity=draw(st.floats(0.0, 1.0)),
        jump_intensity=draw(st.floats(0.0, 50.0)) if jumps else 0.0,
        jump_std=draw(st.floats(0.0, 2.0)) if jumps else 0.0,
        vol_of_vol=draw(st.floats(0.0, 3.0)) if dynamics == "gaussian" else 0.0,
    )
    return params, draw(st.integers(1, 12)), draw(st.integers(0, 2**32 - 1))


def _random_depths(rng, params, n_paths):
    """Depths (n, 1, 2) around the fill scale 1/k, incl. negative ones (quotes through the
    mid), and now and then an extreme action beyond [-1, 1] clipped to +/- depth_bound."""
    depths = rng.uniform(-2.0, 4.0, (n_paths, 2)) / params.k
    action = depths / params.depth_bound
    extreme = rng.random((n_paths, 2)) < 0.05
    action[extreme] = rng.choice([-1.5, -1.0, 1.0, 1.5], extreme.sum())
    return action_to_depths(action, n_paths, params.depth_bound).reshape(n_paths, 1, 2)


@settings(max_examples=60, deadline=None)
@given(market_setups())
def test_accounting_identities_hold_on_every_step_for_random_params_and_quotes(setup):
    params, n, seed = setup
    market = Market(params, n)
    market.reset(np.random.default_rng(seed))
    policy_rng = np.random.default_rng(seed + 1)
    led = market.ledger
    size, Q = params.order_size, params.max_inventory
    running_max = np.abs(led.inventory[:, 0]).copy()
    while not market.done:
        depths = _random_depths(policy_rng, params, n)
        q_before, cash_before = led.inventory[:, 0].copy(), led.cash[:, 0].copy()
        bid_fills, ask_fills = led.bid_fills[:, 0].copy(), led.ask_fills[:, 0].copy()
        sc, ip, fees = (led.spread_capture[:, 0].copy(), led.inventory_pnl[:, 0].copy(),
                        led.fees[:, 0].copy())
        mid_before = market.mid.copy()
        allowed = market.allowed_sides()

        volume = market.step(depths)[:, 0]
        bought, sold = volume[:, 0], volume[:, 1]
        d_bid, d_ask = depths[:, 0, 0], depths[:, 0, 1]

        # pnl == spread_capture + inventory_pnl + fees, to rounding of the terms' scale
        terms = [led.cash, led.inventory * market.mid[:, None], led.initial_value,
                 led.spread_capture, led.inventory_pnl, led.fees]
        scale = 1.0 + sum(np.abs(term) for term in terms)
        assert (np.abs(led.decomposition_residual(market.mid)) <= 1e-9 * scale).all()
        # fills are 0 or one order; inventory moves by exactly bought - sold
        assert np.isin(volume, [0.0, size]).all()
        assert np.array_equal(led.inventory[:, 0] - q_before, bought - sold)
        # self-financing cash: buy at mid - bid_depth, sell at mid + ask_depth, fee per share
        cash_flow = (-bought * (mid_before - d_bid) + sold * (mid_before + d_ask)
                     - params.fee * (bought + sold))
        np.testing.assert_allclose(led.cash[:, 0] - cash_before, cash_flow,
                                   rtol=1e-9, atol=1e-9 * (1 + np.abs(cash_before).max()))
        # each term accumulates what it says
        np.testing.assert_allclose(led.spread_capture[:, 0] - sc, bought * d_bid + sold * d_ask,
                                   rtol=1e-9, atol=1e-9 * (1 + np.abs(sc).max()))
        np.testing.assert_allclose(led.fees[:, 0] - fees, -params.fee * (bought + sold),
                                   rtol=1e-9, atol=1e-12 * (1 + np.abs(fees).max()))
        np.testing.assert_allclose(led.inventory_pnl[:, 0] - ip,
                                   led.inventory[:, 0] * (market.mid - mid_before),
                                   rtol=1e-9, atol=1e-9 * (1 + np.abs(ip).max()))
        # fill counts and the running max of |inventory|
        assert np.array_equal(led.bid_fills[:, 0] - bid_fills, (bought > 0).astype(float))
        assert np.array_equal(led.ask_fills[:, 0] - ask_fills, (sold > 0).astype(float))
        running_max = np.maximum(running_max, np.abs(led.inventory[:, 0]))
        assert np.array_equal(led.max_abs_inventory[:, 0], running_max)
        # the inventory bound: never exceeded, and blocked sides never fill
        if Q is None:
            assert allowed is None
        else:
            assert (np.abs(led.inventory) <= Q + 1e-12).all()
            assert (volume[~allowed[:, 0]] == 0).all()
            assert np.array_equal(allowed[:, 0, 0], q_before + size <= Q + 1e-12)
            assert np.array_equal(allowed[:, 0, 1], q_before - size >= -Q - 1e-12)
    assert market.step_index == params.n_steps


def test_inventory_bound_is_reached_but_never_exceeded_when_quoting_through_the_mid():
    # Bids through the mid (negative depth) fill almost every step, asks far away never: the
    # inventory climbs to Q and stays there.
    params = MarketParams(max_inventory=5.0, T=0.1)
    market = Market(params, 50)
    market.reset(np.random.default_rng(0))
    depths = np.zeros((50, 1, 2))
    depths[..., 0], depths[..., 1] = -2.0, 50.0
    while not market.done:
        market.step(depths)
        assert (market.ledger.inventory <= 5.0).all()
    assert (market.ledger.inventory == 5.0).all()
    assert (market.ledger.max_abs_inventory == 5.0).all()


def test_time_advances_by_dt_and_the_episode_ends_after_t_over_dt_steps():
    params = MarketParams(T=0.05, dt=0.01)
    market = Market(params, 3)
    market.reset(np.random.default_rng(1))
    assert (market.time, market.time_remaining, market.done) == (0.0, 0.05, False)
    for i in range(1, 6):
        market.step(np.ones((3, 1, 2)))
        assert market.time == pytest.approx(0.01 * i)
        assert market.time_remaining == pytest.approx(0.05 - 0.01 * i)
    assert market.done
    with pytest.raises(RuntimeError, match="reset"):
        market.step(np.ones((3, 1, 2)))


def test_reset_restarts_the_episode_and_same_generator_seed_reproduces_it(reseed_global_numpy):
    market = Market(MarketParams(T=0.1, q0=2.0), 4)

    def run(seed):
        market.reset(np.random.default_rng(seed))
        assert np.array_equal(market.mid, np.full(4, 100.0))
        assert np.array_equal(market.ledger.inventory, np.full((4, 1), 2.0))
        assert np.array_equal(market.pnl(), np.zeros((4, 1)))
        out = []
        while not market.done:
            out.append(market.step(np.full((4, 1, 2), 0.5)).copy())
            out.append(market.mid.copy())
        return out + [market.pnl()]

    first = run(5)
    reseed_global_numpy(999)           # numpy's global RNG must play no part
    second = run(5)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    third = run(6)
    assert not all(np.array_equal(a, b) for a, b in zip(first, third, strict=True))


@pytest.mark.parametrize(("name", "kwargs"), [
    ("n_paths", dict(n_paths=0)), ("n_paths", dict(n_paths=2.0)),
    ("n_agents", dict(n_agents=0)), ("n_agents", dict(n_agents="2")),
])
def test_bad_batch_shape_raises_value_error_naming_it(name, kwargs):
    with pytest.raises(ValueError, match=rf"^{name} must be an integer >= 1"):
        Market(MarketParams(), **kwargs)


def test_permanent_impact_moves_the_mid_against_every_fill_by_impact_per_share():
    # Same seed with and without impact: the mid differs by exactly -impact x (net shares
    # the makers bought so far), and adverse selection per fill is clearly negative (less than
    # -impact in size: a maker's own opposite fill moves the mid back within the window).
    params = MarketParams(T=0.2, q0=0.0)
    impact = 0.05
    plain, informed = Market(params, 200), Market(params.replace(impact=impact), 200)
    plain.reset(np.random.default_rng(7))
    informed.reset(np.random.default_rng(7))
    depths = np.full((200, 1, 2), 0.4)
    net_bought = np.zeros(200)
    for _ in range(params.n_steps):
        plain.step(depths)
        volume = informed.step(depths)
        net_bought += volume[:, 0, 0] - volume[:, 0, 1]
        np.testing.assert_allclose(informed.mid, plain.mid - impact * net_bought, atol=1e-9)
    led = informed.ledger
    fills = led.bid_fills + led.ask_fills
    # With h steps of horizon, a fill's own impact (-impact) is always inside its window.
    per_fill = led.adverse_selection.sum() / fills.sum()
    assert per_fill < -0.5 * impact
    np.testing.assert_allclose(led.decomposition_residual(informed.mid), 0.0, atol=1e-9)


def test_impact_must_be_non_negative():
    with pytest.raises(ValueError, match="^impact must be >= 0"):
        MarketParams(impact=-0.1)
