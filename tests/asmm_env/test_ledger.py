"""Ledger: hand-checked bookings, and the adverse-selection accumulator against a brute-force
recomputation from recorded fills and mids."""

import numpy as np
import pytest

from asmm_env import Ledger, Market, MarketParams


def test_one_buy_fill_is_booked_at_mid_minus_depth_and_marked_to_the_new_mid():
    led = Ledger(1, 1, horizon=1, fee=0.1)
    mid0, mid1 = np.array([100.0]), np.array([101.0])
    led.reset(0.0, mid0)
    led.record_fills(mid0, np.array([[[0.5, 0.7]]]), np.array([[[1.0, 0.0]]]))
    led.record_move(mid0, mid1)
    assert led.cash[0, 0] == pytest.approx(-99.5 - 0.1)
    assert led.inventory[0, 0] == 1.0
    assert led.spread_capture[0, 0] == pytest.approx(0.5)
    assert led.inventory_pnl[0, 0] == pytest.approx(1.0)
    assert led.fees[0, 0] == pytest.approx(-0.1)
    assert led.adverse_selection[0, 0] == pytest.approx(1.0)   # bought, then the mid rose
    assert led.pnl(mid1)[0, 0] == pytest.approx(1.4)
    assert (led.bid_fills[0, 0], led.ask_fills[0, 0], led.max_abs_inventory[0, 0]) == (1, 0, 1)


def test_one_sell_fill_is_booked_at_mid_plus_depth_with_a_rebate():
    led = Ledger(1, 1, horizon=1, fee=-0.2)
    mid0, mid1 = np.array([50.0]), np.array([49.0])
    led.reset(0.0, mid0)
    led.record_fills(mid0, np.array([[[0.5, 0.25]]]), np.array([[[0.0, 2.0]]]))
    led.record_move(mid0, mid1)
    assert led.cash[0, 0] == pytest.approx(2 * 50.25 + 0.4)
    assert led.inventory[0, 0] == -2.0
    assert led.spread_capture[0, 0] == pytest.approx(0.5)
    assert led.inventory_pnl[0, 0] == pytest.approx(2.0)
    assert led.fees[0, 0] == pytest.approx(0.4)
    assert led.adverse_selection[0, 0] == pytest.approx(2.0)   # sold, then the mid fell: good
    assert led.decomposition_residual(mid1)[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_reset_clears_accumulators_and_marks_the_initial_inventory():
    led = Ledger(3, 2, horizon=2)
    mid = np.array([10.0, 20.0, 30.0])
    led.reset(0.0, mid)
    led.record_fills(mid, np.ones((3, 2, 2)), np.ones((3, 2, 2)))
    led.record_move(mid, mid + 1)
    led.reset(5.0, mid, cash0=7.0)
    assert (led.inventory == 5.0).all() and (led.cash == 7.0).all()
    assert (led.max_abs_inventory == 5.0).all()
    for name in ("spread_capture", "inventory_pnl", "adverse_selection", "fees", "bid_fills",
                 "ask_fills"):
        assert (getattr(led, name) == 0).all(), name
    assert np.array_equal(led.pnl(mid), np.zeros((3, 2)))
    assert np.array_equal(led.pnl(mid + 1), np.full((3, 2), 5.0))


def _record_small_market(horizon, n_steps, seed, q0=0.0):
    """A market (24 paths) with depths varying per step and path, incl. negative ones;
    returns fills (n_steps, n, 2), mids (n_steps + 1, n) and the ledger after the episode."""
    params = MarketParams(T=n_steps * 0.01, dt=0.01, sigma=2.0, A=100.0, k=1.5, q0=q0,
                          adverse_selection_steps=horizon)
    n = 24
    market = Market(params, n)
    market.reset(np.random.default_rng(seed))
    policy_rng = np.random.default_rng(seed + 1)
    mids, fills = [market.mid.copy()], []
    while not market.done:
        depths = policy_rng.uniform(-0.3, 1.0, (n, 1, 2))
        fills.append(market.step(depths)[:, 0].copy())
        mids.append(market.mid.copy())
    return np.array(fills), np.array(mids), market.ledger


def _brute_force_adverse_selection(fills, mids, h):
    n_steps = fills.shape[0]
    net = fills[..., 0] - fills[..., 1]                  # side * shares
    total = np.zeros(fills.shape[1])
    for t in range(n_steps):
        later = min(t + h, n_steps)                       # truncated at the terminal mid
        total += net[t] * (mids[later] - mids[t])
    return total


@pytest.mark.parametrize(("horizon", "n_steps"), [(1, 30), (5, 30), (7, 7), (40, 30)])
def test_adverse_selection_equals_brute_force_from_recorded_fills_and_mids(horizon, n_steps):
    fills, mids, led = _record_small_market(horizon, n_steps, seed=horizon)
    assert fills.sum() > 50     # the test exercises many fills
    expected = _brute_force_adverse_selection(fills, mids, horizon)
    np.testing.assert_allclose(led.adverse_selection[:, 0], expected, rtol=1e-12, atol=1e-12)


def test_adverse_selection_over_a_one_step_episode_is_the_inventory_pnl():
    # From q0 = 0, the inventory marked over a single step is exactly that step's fills.
    fills, mids, led = _record_small_market(1, 1, seed=3)
    np.testing.assert_allclose(led.adverse_selection, led.inventory_pnl, rtol=1e-12)


def test_fill_counts_count_fills_not_steps_with_a_fill_and_max_abs_inventory_matches():
    fills, _, led = _record_small_market(3, 30, seed=4, q0=2.0)
    assert (fills > 1).any()         # several fills of one quote in a step are counted
    assert np.array_equal(led.bid_fills[:, 0], fills[..., 0].sum(axis=0))
    assert np.array_equal(led.ask_fills[:, 0], fills[..., 1].sum(axis=0))
    assert np.array_equal(led.bid_volume[:, 0], fills[..., 0].sum(axis=0))
    inventory = 2.0 + np.cumsum(fills[..., 0] - fills[..., 1], axis=0)
    assert np.array_equal(led.inventory[:, 0], inventory[-1])
    running_max = np.maximum(np.abs(inventory).max(axis=0), 2.0)
    assert np.array_equal(led.max_abs_inventory[:, 0], running_max)


def test_ledger_is_batched_over_agents():
    led = Ledger(2, 3, horizon=1)
    mid = np.array([100.0, 200.0])
    led.reset(np.array([[0.0, 1.0, -1.0]]), mid)
    volume = np.zeros((2, 3, 2))
    volume[1, 2, 0] = 1.0
    led.record_fills(mid, np.full((2, 3, 2), 0.5), volume)
    led.record_move(mid, mid + 1.0)
    assert np.array_equal(led.inventory, [[0.0, 1.0, -1.0], [0.0, 1.0, 0.0]])
    assert np.array_equal(led.pnl(mid + 1.0), [[0.0, 1.0, -1.0], [0.0, 1.0, 0.5]])


def test_partial_fills_book_the_shares_given_and_count_each_fill_once():
    # Two fills on the bid of 30 and 70 shares at 99.9 and 99.8 while the mid is 100.0 and
    # 100.1, and one ask fill of 40 shares at 100.3 (mid 100.1): share-weighted depths and
    # mids, counts 2 and 1, volumes 100 and 40.
    led = Ledger(1, 1, horizon=1, fee=0.01, order_size=100.0)
    led.reset(0.0, np.array([100.0]))
    bought = 30 * 99.9 + 70 * 99.8
    bid_mid = (30 * 100.0 + 70 * 100.1) / 100
    depths = np.array([[[bid_mid - bought / 100, 100.3 - 100.1]]])
    fill_mid = np.array([[[bid_mid, 100.1]]])
    led.record_fills(np.array([100.0]), depths, np.array([[[2.0, 1.0]]]), fill_mid=fill_mid,
                     volume=np.array([[[100.0, 40.0]]]))
    led.record_move(np.array([100.0]), np.array([100.2]))
    assert led.fills[0, 0].tolist() == [2.0, 1.0]
    assert led.volume[0, 0].tolist() == [100.0, 40.0]
    assert led.inventory[0, 0] == pytest.approx(60.0)
    assert led.cash[0, 0] == pytest.approx(-bought + 40 * 100.3 - 0.01 * 140)
    assert led.fees[0, 0] == pytest.approx(-1.4)
    mid = np.array([100.2])
    assert led.pnl(mid)[0, 0] == pytest.approx(led.cash[0, 0] + 60 * 100.2)
    assert abs(led.decomposition_residual(mid)[0, 0]) < 1e-9
