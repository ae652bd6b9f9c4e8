"""ReachFills (the competition fill model): lone-quote fill probabilities against the AS
intensity, price-time priority on hand-built books, the seeded tie-break, the walk of large
orders, and volume conservation against a plain-Python reference walk.

Hand-built books script the step's market orders by replacing ``_draw_orders`` (rows are
``2 * path + side``, side 0 = bids). Frequency tests state their trial counts and use a
4 standard-error tolerance with the binomial s.e."""

import itertools
import math

import numpy as np
import pytest

from asmm_env import MarketParams
from asmm_env.fills import IntensityFills, MarketOrders, ReachFills, build_fill_model
from asmm_env.spaces import action_to_depths, depths_to_action

A, K, DT = 140.0, 1.5, 0.005
MID = 100.0


def _intensity_probability(depth, probability, rate_multiplier=1.0, A=A):
    rate_dt = A * math.exp(-K * depth) * DT * rate_multiplier
    return 1.0 - math.exp(-rate_dt) if probability == "exponential" else min(rate_dt, 1.0)


def _assert_frequency(filled, p, n):
    freq = filled.sum() / n
    se = math.sqrt(p * (1 - p) / n)
    assert abs(freq - p) <= 4 * se + 1e-12, (freq, p, se)


def _script(model, monkeypatch, orders):
    """Make the model's next steps see exactly ``orders``: one list per step of
    (path, side, reach) tuples, in arrival order."""
    steps = iter(orders)

    def draw(book, dS, dt, rng):
        step = next(steps)
        rows = np.array([2 * path + side for path, side, _ in step], dtype=np.int64)
        reach = np.array([reach for _, _, reach in step], dtype=float)
        order = np.argsort(rows, kind="stable")
        return rows[order], reach[order]

    monkeypatch.setattr(model, "_draw_orders", draw)


def _book(bid_depths, n_paths=1):
    """Depths (n_paths, n_agents, 2): the given bid depths, asks far away."""
    depths = np.full((n_paths, len(bid_depths), 2), 50.0)
    depths[:, :, 0] = bid_depths
    return depths


def _step(model, depths, rng=None, mid=MID, allowed=None):
    n = depths.shape[0]
    rng = rng if rng is not None else np.random.default_rng(0)
    return model.fill(np.full(n, float(mid)), depths, allowed, np.zeros(n), DT, rng)


# -- one quote: the AS intensity -----------------------------------------------------------

@pytest.mark.parametrize("probability", ["exponential", "linear"])
@pytest.mark.parametrize("depth", [-0.5, 0.0, 0.3, 1.0, 2.5])
def test_lone_quote_is_filled_with_the_as_intensity_probability(probability, depth):
    n_paths = 100_000                                   # 200,000 quotes (both sides)
    model = ReachFills(A, K, probability)
    model.reset(n_paths, 1)
    volume = _step(model, np.full((n_paths, 1, 2), depth), np.random.default_rng(1))
    _assert_frequency(volume > 0, _intensity_probability(depth, probability), 2 * n_paths)
    assert set(np.unique(volume)) <= {0.0, 1.0}


def test_lone_quote_fill_frequency_matches_intensity_fills_for_mixed_depths():
    n_paths = 100_000                                   # 200,000 quotes per model
    depths = np.random.default_rng(2).normal(0.8, 0.6, (n_paths, 1, 2))
    counts = []
    for model in (ReachFills(A, K), IntensityFills(A, K)):
        model.reset(n_paths, 1)
        counts.append((_step(model, depths, np.random.default_rng(3)) > 0).sum())
    p = np.array([_intensity_probability(d, "exponential") for d in depths.ravel()])
    se_difference = math.sqrt(2 * (p * (1 - p)).sum())
    assert abs(counts[0] - counts[1]) <= 4 * se_difference


@pytest.mark.parametrize("depth", [0.2, 1.0, 2.0])
def test_linear_probability_holds_when_more_than_one_order_per_step_is_expected(depth):
    A_big = 400.0                                       # A dt = 2
    n_paths = 100_000
    model = ReachFills(A_big, K, "linear")
    model.reset(n_paths, 1)
    volume = _step(model, np.full((n_paths, 1, 2), depth), np.random.default_rng(4))
    expected = _intensity_probability(depth, "linear", A=A_big)
    _assert_frequency(volume > 0, expected, 2 * n_paths)


def test_full_toxicity_sends_no_market_sell_before_an_up_move():
    n_paths = 20_000
    for probability in ("exponential", "linear"):
        model = ReachFills(A, K, probability, toxicity=1.0)
        model.reset(n_paths, 1)
        dS = np.full(n_paths, 0.1)
        volume = model.fill(np.full(n_paths, MID), np.full((n_paths, 1, 2), 0.0), None, dS, DT,
                            np.random.default_rng(5))
        assert volume[:, 0, 0].sum() == 0                 # bids: nobody sells before a rise
        _assert_frequency(volume[:, 0, 1] > 0, _intensity_probability(0.0, probability, 2.0),
                          n_paths)


# -- priority -------------------------------------------------------------------------------

@pytest.mark.parametrize("bid_depths", list(itertools.permutations([0.5, 0.2, 0.3])))
def test_best_price_wins_wherever_the_agent_sits(bid_depths, monkeypatch):
    model = ReachFills(A, K)
    model.reset(1, 3)
    _script(model, monkeypatch, [[(0, 0, 1.0)]])
    volume = _step(model, _book(bid_depths))
    assert volume[0, :, 0].tolist() == [1.0 if d == 0.2 else 0.0 for d in bid_depths]
    assert volume[0, :, 1].sum() == 0


@pytest.mark.parametrize("senior", [0, 1])
def test_at_an_equal_price_the_quote_resting_longer_wins(senior, monkeypatch):
    n_paths = 500
    model = ReachFills(A, K)
    model.reset(n_paths, 2)
    junior = 1 - senior
    waiting = _book([0.3, 0.3], n_paths)
    waiting[:, junior, 0] = 5.0                          # the junior quotes elsewhere first
    equal = _book([0.3, 0.3], n_paths)
    _script(model, monkeypatch, [[], [], [(p, 0, 1.0) for p in range(n_paths)]])
    _step(model, waiting)
    _step(model, waiting)
    volume = _step(model, equal)
    assert model.age[0, senior, 0] == 2 and model.age[0, junior, 0] == 0
    assert (volume[:, senior, 0] == 1).all() and (volume[:, junior, 0] == 0).all()


def test_a_quote_whose_price_moves_with_the_mid_loses_time_priority(monkeypatch):
    model = ReachFills(A, K)
    model.reset(1, 2)
    _script(model, monkeypatch, [[], []])
    _step(model, _book([0.3, 5.0]), mid=100.0)
    _step(model, _book([0.3, 5.0]), mid=100.1)           # same depth, new price
    assert model.age[0, 0, 0] == 0


def test_a_price_held_through_the_action_round_trip_keeps_time_priority(monkeypatch):
    bound = MarketParams().depth_bound
    model = ReachFills(A, K)
    model.reset(1, 1)
    mids = [100.0, 100.0137, 99.9581, 100.2203, 100.05]
    _script(model, monkeypatch, [[]] * len(mids))
    for mid in mids:                                     # bid held at 99.7 as the mid moves
        action = depths_to_action(mid - 99.7, 50.0, bound)
        depths = action_to_depths(action, 1, bound).reshape(1, 1, 2)
        _step(model, depths, mid=mid)
    assert model.age[0, 0, 0] == len(mids) - 1


def test_random_tie_break_is_fair_over_many_draws_and_seeded(monkeypatch):
    n_paths = 40_000                                     # one order per path, 3 new quotes tied
    model = ReachFills(A, K)
    model.reset(n_paths, 3)
    orders = [(p, 0, 1.0) for p in range(n_paths)]
    _script(model, monkeypatch, [orders, orders, orders])
    volume = _step(model, _book([0.3, 0.3, 0.3], n_paths), np.random.default_rng(6)).copy()
    wins = volume[:, :, 0].sum(axis=0)
    assert wins.sum() == n_paths
    se = math.sqrt(n_paths * (1 / 3) * (2 / 3))
    assert np.all(np.abs(wins - n_paths / 3) <= 4 * se), wins
    model.reset(n_paths, 3)
    again = _step(model, _book([0.3, 0.3, 0.3], n_paths), np.random.default_rng(6))
    assert np.array_equal(again, volume)
    model.reset(n_paths, 3)
    other = _step(model, _book([0.3, 0.3, 0.3], n_paths), np.random.default_rng(7))
    assert not np.array_equal(other, volume)


def test_a_filled_quote_goes_to_the_back_of_its_price_level(monkeypatch):
    model = ReachFills(A, K)
    model.reset(1, 2)
    early, late = _book([0.3, 5.0]), _book([0.3, 0.3])
    _script(model, monkeypatch, [[], [(0, 0, 1.0)], [(0, 0, 1.0)]])
    _step(model, early)
    first = _step(model, late).copy()                    # agent 0 rested longer: it fills
    second = _step(model, late)                          # re-posted: agent 1 is now senior
    assert first[0, :, 0].tolist() == [1.0, 0.0]
    assert second[0, :, 0].tolist() == [0.0, 1.0]


def test_unposted_quote_fills_nothing_and_loses_time_priority(monkeypatch):
    model = ReachFills(A, K)
    model.reset(1, 2)
    book = _book([0.2, 0.3])
    blocked = np.ones((1, 2, 2), dtype=bool)
    blocked[0, 0, 0] = False
    _script(model, monkeypatch, [[], [(0, 0, 1.0)], []])
    _step(model, book)
    volume = _step(model, book, allowed=blocked)
    assert volume[0, :, 0].tolist() == [0.0, 1.0]        # the better quote is not posted
    _step(model, book)
    assert model.age[0, 0, 0] == 0 and model.age[0, 1, 0] == 0   # agent 1 was filled


# -- the walk -------------------------------------------------------------------------------

def test_a_size_three_order_walks_three_quotes_in_price_time_order(monkeypatch):
    model = ReachFills(A, K, market_order_size=3.0)
    model.reset(1, 5)
    before = _book([0.5, 9.0, 0.1, 0.3, 0.8])            # agent 3 rests at 0.3 first
    book = _book([0.5, 0.3, 0.1, 0.3, 0.8])              # agent 1 joins the 0.3 level
    _script(model, monkeypatch, [[], [(0, 0, 1.0)]])
    _step(model, before)
    volume = _step(model, book)
    assert volume[0, :, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert model.last_orders.executed.tolist() == [3.0]


def test_a_size_two_order_takes_the_best_price_then_the_senior_quote(monkeypatch):
    model = ReachFills(A, K, market_order_size=2.0)
    model.reset(1, 4)
    _script(model, monkeypatch, [[], [(0, 0, 1.0)]])
    _step(model, _book([0.5, 9.0, 0.1, 0.3]))
    volume = _step(model, _book([0.5, 0.3, 0.1, 0.3]))
    assert volume[0, :, 0].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_quotes_out_of_reach_get_nothing(monkeypatch):
    model = ReachFills(A, K, market_order_size=3.0)
    model.reset(1, 3)
    _script(model, monkeypatch, [[(0, 0, 0.25)]])
    volume = _step(model, _book([0.3, 0.1, 0.7]))
    assert volume[0, :, 0].tolist() == [0.0, 1.0, 0.0]
    assert model.last_orders.executed.tolist() == [1.0]  # 2 of its 3 shares found nothing


def test_what_one_order_takes_is_gone_for_the_next_in_the_same_step(monkeypatch):
    model = ReachFills(A, K)
    model.reset(3, 2)
    book = _book([0.1, 0.3], 3)
    # path 0: both orders reach both quotes; path 1: the second order is too short for the
    # quote left; path 2: the short order comes first and takes the best quote.
    _script(model, monkeypatch, [[(0, 0, 1.0), (0, 0, 1.0), (1, 0, 1.0), (1, 0, 0.2),
                                  (2, 0, 0.2), (2, 0, 1.0)]])
    volume = _step(model, book)
    assert volume[:, :, 0].tolist() == [[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    assert model.last_orders.executed.tolist() == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0]


def test_two_orders_on_a_lone_quote_fill_it_once(monkeypatch):
    model = ReachFills(A, K)
    model.reset(1, 1)
    _script(model, monkeypatch, [[(0, 0, 1.0), (0, 0, 1.0)]])
    volume = _step(model, _book([0.1]))
    assert volume[0, 0, 0] == 1.0
    assert model.last_orders.executed.tolist() == [1.0, 0.0]


def test_orders_smaller_than_a_quote_fill_it_in_part(monkeypatch):
    model = ReachFills(A, K, order_size=1.0, market_order_size=0.5)
    model.reset(1, 2)
    _script(model, monkeypatch, [[(0, 0, 1.0)], [(0, 0, 1.0)] * 3])
    assert _step(model, _book([0.1, 0.3]))[0, :, 0].tolist() == [0.5, 0.0]
    assert _step(model, _book([0.1, 0.3]))[0, :, 0].tolist() == [1.0, 0.5]


def _reference_walk(depths, allowed, orders, order_size):
    """Plain-Python price priority (depths distinct): each order in arrival order takes
    ``min(size, what is left within its reach)`` from the best quotes."""
    n_paths, n_agents, _ = depths.shape
    volume = np.zeros_like(depths)
    executed = np.zeros(len(orders.reach))
    for i, (path, side, reach) in enumerate(
            zip(orders.path, orders.side, orders.reach, strict=True)):
        need = orders.size
        for agent in np.argsort(depths[path, :, side]):
            if not allowed[path, agent, side] or depths[path, agent, side] > reach:
                continue
            take = min(need, order_size - volume[path, agent, side])
            volume[path, agent, side] += take
            executed[i] += take
            need -= take
        assert need >= -1e-12
    return volume, executed


@pytest.mark.parametrize("probability", ["exponential", "linear"])
def test_volume_matches_a_reference_walk_and_conserves_market_order_volume(probability):
    """600 paths x 4 agents x 30 steps with continuous random depths (some through the mid),
    random posting masks, orders of 2.5 quotes, A dt = 1.5."""
    rng = np.random.default_rng(8)
    n_paths, n_agents, size = 600, 4, 2.5
    model = ReachFills(300.0, K, probability, order_size=1.0, market_order_size=size)
    model.reset(n_paths, n_agents)
    mid = np.full(n_paths, MID)
    for _ in range(30):
        depths = rng.uniform(-0.3, 2.0, (n_paths, n_agents, 2))
        allowed = rng.random((n_paths, n_agents, 2)) < 0.8
        volume = model.fill(mid, depths, allowed, np.zeros(n_paths), DT, rng)
        orders = model.last_orders
        assert isinstance(orders, MarketOrders) and orders.size == size
        expected, executed = _reference_walk(depths, allowed, orders, 1.0)
        np.testing.assert_allclose(volume, expected, atol=1e-12)
        np.testing.assert_allclose(orders.executed, executed, atol=1e-12)
        per_side = np.zeros((n_paths, 2))
        np.add.at(per_side, (orders.path, orders.side), orders.executed)
        np.testing.assert_allclose(volume.sum(axis=1), per_side, atol=1e-12)
        assert volume[~allowed].sum() == 0
        mid = mid + rng.normal(0, 0.1, n_paths)


def test_equal_prices_share_fills_by_level_and_seniority():
    """Depths on a 3-level grid, so levels tie often: per level the shares filled match the
    level-wise reference, and within a level a filled quote is never junior to an unfilled
    one. 400 paths x 6 agents x 40 steps, mid fixed so quotes can age."""
    rng = np.random.default_rng(9)
    n_paths, n_agents = 400, 6
    model = ReachFills(300.0, K, market_order_size=2.0)
    model.reset(n_paths, n_agents)
    mid = np.full(n_paths, MID)
    depths = rng.choice([0.1, 0.4, 0.9], (n_paths, n_agents, 2))
    for _ in range(40):
        move = rng.random((n_paths, n_agents, 2)) < 0.3
        depths = np.where(move, rng.choice([0.1, 0.4, 0.9], depths.shape), depths)
        volume = model.fill(mid, depths, None, np.zeros(n_paths), DT, rng)
        age = model.age
        orders = model.last_orders
        for path, side in zip(*np.nonzero(volume.sum(axis=1)), strict=True):
            mine = (orders.path == path) & (orders.side == side)
            left = {d: float((depths[path, :, side] == d).sum()) for d in (0.1, 0.4, 0.9)}
            for reach in orders.reach[mine]:                 # level-wise reference walk
                need = 2.0
                for level in (0.1, 0.4, 0.9):
                    if level <= reach:
                        take = min(need, left[level])
                        left[level] -= take
                        need -= take
            for level in (0.1, 0.4, 0.9):
                at = depths[path, :, side] == level
                assert volume[path, at, side].sum() == pytest.approx(at.sum() - left[level])
                filled = at & (volume[path, :, side] > 0)
                unfilled = at & (volume[path, :, side] == 0)
                if filled.any() and unfilled.any():
                    assert age[path, filled, side].min() >= age[path, unfilled, side].max()


def test_fills_depend_only_on_the_generator_passed(reseed_global_numpy):
    results = []
    for global_seed in (1, 2):
        reseed_global_numpy(global_seed)
        model = ReachFills(A, K, market_order_size=2.0)
        model.reset(200, 3)
        depths = np.random.default_rng(10).uniform(0, 1, (200, 3, 2)).round(1)
        results.append(_step(model, depths, np.random.default_rng(11)).copy())
    assert np.array_equal(*results)


# -- construction ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kwargs"), [
    ("market_order_size", {"market_order_size": 0.0}),
    ("market_order_size", {"market_order_size": -1.0}),
    ("A", {"A": -1.0}),
    ("k", {"k": 0.0}),
    ("probability", {"probability": "cubic"}),
    ("toxicity", {"toxicity": 1.5}),
    ("order_size", {"order_size": 0.0}),
])
def test_bad_parameters_raise_value_error_naming_them(name, kwargs):
    arguments = {"A": A, "k": K, **kwargs}
    with pytest.raises(ValueError, match=name):
        ReachFills(**arguments)


def test_depths_of_another_shape_than_reset_raise_value_error():
    model = ReachFills(A, K)
    model.reset(2, 3)
    with pytest.raises(ValueError, match="depths"):
        _step(model, np.zeros((2, 4, 2)))


def test_from_params_and_build_fill_model_take_the_market_parameters():
    p = MarketParams(A=50.0, k=2.0, fill_rule="linear", toxicity=0.2, order_size=3.0)
    model = ReachFills.from_params(p, market_order_size=4.0)
    assert (model.A, model.k, model.probability, model.toxicity, model.order_size,
            model.market_order_size) == (50.0, 2.0, "linear", 0.2, 3.0, 4.0)
    assert ReachFills.from_params(p).market_order_size == 3.0
    assert type(build_fill_model(p, n_agents=1)) is IntensityFills
    assert type(build_fill_model(p, n_agents=1, market_order_size=1.0)) is ReachFills
    assert build_fill_model(p, n_agents=3).market_order_size == 3.0
