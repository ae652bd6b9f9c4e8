"""Order flow and fills (asmm_env.fills): the law of a lone quote's fill count under each rule,
split invariance and dt-consistency (issue 12, failure 3), price-time priority with quotes
replenished at once (round robin, the seeded tie-break), capacities and the deep-first rule,
informed flow, IndependentFills, reproducibility and bad parameters.

Fill models are driven directly: reset with ``RandomStreams(seed, n_paths)``, the mid held
fixed unless a test says otherwise. Hand-built cases script the step's uniforms by replacing
``flow.draw`` (one uniform per path and side; the counts are their Poisson inverses).
Statistical tests state their trial counts and use 4 standard errors of the law under test."""

import math

import numpy as np
import pytest
from scipy import stats

from asmm_env import Market, MarketParams
from asmm_env.fills import (
    RULES,
    IndependentFills,
    OrderFlow,
    QueueFills,
    build_fill_model,
)
from asmm_env.streams import RandomStreams

A, K, DT = 140.0, 1.5, 0.005          # the AS 2008 market (MarketParams defaults)
MID = 100.0


def _rate_dt(depth, A=A, dt=DT, multiplier=1.0):
    """Expected orders reaching ``depth`` in a step: A min(1, e^{-k depth}) dt (x multiplier)."""
    return A * min(1.0, math.exp(-K * depth)) * dt * multiplier


def _law(rule, rate_dt):
    """(mean, variance) of a lone quote's fills per step and side under ``rule``."""
    if rule == "poisson":
        return rate_dt, rate_dt
    p = 1.0 - math.exp(-rate_dt) if rule == "exponential" else min(rate_dt, 1.0)
    return p, p * (1.0 - p)


def _assert_mean(counts, mean, variance, label=""):
    """The sample mean of ``counts`` (independent draws of one law) within 4 s.e. of ``mean``."""
    se = math.sqrt(variance / counts.size)
    assert abs(counts.mean() - mean) <= 4 * se + 1e-12, (label, counts.mean(), mean, se)


def _run(model, depths, n_steps=1, seed=0, capacity=None, dS=None, mid=MID):
    """Reset ``model`` on ``RandomStreams(seed, n)`` and step it ``n_steps`` times with fixed
    ``depths`` (n, a, 2) around a fixed mid; the counts, (n_steps, n, a, 2)."""
    n, a, _ = depths.shape
    model.reset(n, a, RandomStreams(seed, n))
    dS = np.zeros(n) if dS is None else dS
    mids = np.full(n, float(mid))
    return np.array([model.fill(mids, depths, capacity, dS, DT).copy()
                     for _ in range(n_steps)])


def _uniform_for(orders, rate_dt):
    """A uniform whose Poisson(rate_dt) inverse is ``orders``: the middle of its CDF step."""
    low = stats.poisson.cdf(orders - 1, rate_dt) if orders > 0 else 0.0
    return low + 0.5 * stats.poisson.pmf(orders, rate_dt)


def _script(monkeypatch, model, uniforms):
    """Make the model's next steps draw ``uniforms`` (a list of (n, 2) arrays) as their flow."""
    steps = iter(uniforms)
    monkeypatch.setattr(model.flow, "draw", lambda dt=None: np.asarray(next(steps), dtype=float))


def _bids(bid_depths, n_paths=1, ask=50.0):
    """Depths (n_paths, n_agents, 2): the given bid depths, asks far away (never filled)."""
    depths = np.full((n_paths, len(bid_depths), 2), ask)
    depths[:, :, 0] = bid_depths
    return depths


# -- one quote: the AS intensity under each rule ----------------------------------------------

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("depth", [-0.5, 0.0, 0.3, 1.0, 2.5])
def test_a_lone_quotes_fill_count_has_the_law_of_its_rule(rule, depth):
    """100,000 paths x 2 sides, one step. Each count value's frequency within 4 binomial s.e.
    of its probability under the rule (Poisson(lambda dt); min(Poisson, 1); Bernoulli(min(
    lambda dt, 1))), lambda = A min(1, e^{-k delta}): through the mid the rate is capped at A."""
    n_paths = 100_000
    counts = _run(QueueFills(OrderFlow(A, K, rule)), np.full((n_paths, 1, 2), depth),
                  seed=int(10 * depth) + 20).reshape(-1)
    rate = _rate_dt(depth)
    if rule == "poisson":
        values = np.arange(int(counts.max()) + 2)
        pmf = stats.poisson.pmf(values, rate)
    else:
        values = np.array([0, 1])
        p = _law(rule, rate)[0]
        pmf = np.array([1 - p, p])
    assert set(np.unique(counts)) <= set(values.astype(float))
    for value, p in zip(values, pmf, strict=True):
        freq = (counts == value).mean()
        se = math.sqrt(p * (1 - p) / counts.size)
        assert abs(freq - p) <= 4 * se + 1e-12, (value, freq, p, se)
    _assert_mean(counts, *_law(rule, rate))


@pytest.mark.parametrize("rule", RULES)
def test_a_quote_through_the_mid_takes_exactly_the_orders_of_a_quote_at_the_mid(rule):
    # Rate capped at A: a quote 0.5 or 1e4 through the mid is reached by every order.
    at_mid = _run(QueueFills(OrderFlow(A, K, rule)), np.zeros((2000, 1, 2)), 5, seed=1)
    for depth in (-0.5, -1e4):
        through = _run(QueueFills(OrderFlow(A, K, rule)), np.full((2000, 1, 2), depth), 5,
                       seed=1)
        assert np.array_equal(through, at_mid)
    assert at_mid.sum() > 0


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("depth", [1e3, 1e300])
def test_a_quote_far_from_the_mid_never_fills_and_raises_no_overflow_warning(rule, depth):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        counts = _run(QueueFills(OrderFlow(A, K, rule)), np.full((2000, 1, 2), depth), 5)
        crowd = _run(QueueFills(OrderFlow(A, K, rule)), np.full((500, 3, 2), depth), 5)
    assert counts.sum() == 0 and crowd.sum() == 0


def test_a_huge_expected_count_is_drawn_without_overflow_and_with_the_right_mean():
    # A dt = 5,000 orders a step (the Poisson inverse leaves its loop for scipy): 4,000 draws.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        counts = _run(QueueFills(OrderFlow(1e6, K)), np.zeros((2000, 1, 2)), seed=3)
    _assert_mean(counts.reshape(-1), 5000.0, 5000.0)


def test_the_exponential_rule_is_the_poisson_count_capped_at_one_draw_by_draw():
    # "exponential" is min(N, 1) of the Poisson N from the same uniform, not another draw.
    depths = np.random.default_rng(26).uniform(-0.5, 2.0, (5000, 1, 2))
    poisson = _run(QueueFills(OrderFlow(A, K, "poisson")), depths, 5, seed=27)
    capped = _run(QueueFills(OrderFlow(A, K, "exponential")), depths, 5, seed=27)
    assert np.array_equal(capped, np.minimum(poisson, 1.0))
    assert poisson.max() > 1


@pytest.mark.parametrize("rule", RULES)
def test_a_tighter_quote_is_reached_by_at_least_as_many_orders_on_every_draw(rule):
    # One uniform per path, side and step decides the orders at every depth (common random
    # numbers): the count is non-increasing in the depth, draw by draw.
    flow = OrderFlow(A, K, rule)
    u = np.random.default_rng(4).random((5000, 1))
    depths = np.linspace(-1.0, 4.0, 51)[None, :]
    counts = flow.orders(u, flow.rate_dt(np.repeat(depths, 5000, 0), np.zeros(5000), DT,
                                         side=np.zeros(5000, dtype=np.int64)))
    assert (np.diff(counts, axis=1) <= 0).all()
    assert counts[:, 0].sum() > counts[:, -1].sum()


# -- split invariance and dt-consistency (issue 12, failure 3) --------------------------------

@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_makers", [1, 2, 5])
def test_makers_at_one_depth_take_together_exactly_what_one_maker_alone_takes(rule, n_makers):
    """1,000 paths x 100 steps of the market at the default dt, every maker at depth 0.645:
    per path, step and side the makers' fills sum to the lone maker's, byte for byte (the old
    engine gave two makers 13% more flow). The pooled mean per step and side is the lone
    quote's law, within 4 s.e. (200,000 path-steps-sides, independent across steps)."""
    n_paths, depth = 1000, 0.645
    params = MarketParams(T=0.5, fill_rule=rule)
    alone, crowd = Market(params, n_paths, 1), Market(params, n_paths, n_makers)
    alone.reset(11)
    crowd.reset(11)
    pooled = []
    while not alone.done:
        alone.step(np.full((n_paths, 1, 2), depth))
        crowd.step(np.full((n_paths, n_makers, 2), depth))
        assert np.array_equal(crowd.last_fills.sum(axis=1), alone.last_fills[:, 0])
        assert np.array_equal(crowd.mid, alone.mid)
        pooled.append(crowd.last_fills.sum(axis=1))
    _assert_mean(np.array(pooled).reshape(-1), *_law(rule, _rate_dt(depth)))


@pytest.mark.parametrize("dt", [DT, DT / 4])
def test_pooled_makers_fill_at_the_as_intensity_per_unit_time_at_dt_and_dt_over_4(dt):
    """Poisson rule, two makers at depth 0.645 over T = 0.5, 2,000 paths: fills per unit time
    and side equal A e^{-k delta} (= 53.2) within 4 s.e. at dt and at dt / 4 (fills per path and
    side are Poisson(A e^{-k delta} T) with the rule)."""
    n_paths, depth, T = 2000, 0.645, 0.5
    market = Market(MarketParams(T=T, dt=dt), n_paths, 2)
    market.reset(12)
    while not market.done:
        market.step(np.full((n_paths, 2, 2), depth))
    per_path_side = market.ledger.fills.sum(axis=1).reshape(-1)
    rate = A * math.exp(-K * depth)
    _assert_mean(per_path_side / T, rate, rate * T / T**2)


# -- price priority ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_the_best_price_takes_every_order_reaching_it(rule):
    """2,000 paths x 4 makers at distinct random depths (some through the mid), 20 steps, the
    mid moving: the best quote of each side takes what a lone quote at its depth takes, the
    others nothing (quotes are replenished at once, so no order goes past the best price)."""
    n_paths, n_makers = 2000, 4
    rng = np.random.default_rng(5)
    model, lone = QueueFills(OrderFlow(A, K, rule)), QueueFills(OrderFlow(A, K, rule))
    model.reset(n_paths, n_makers, RandomStreams(6, n_paths))
    lone.reset(n_paths, 1, RandomStreams(6, n_paths))
    mid = np.full(n_paths, MID)
    for _ in range(20):
        depths = rng.uniform(-0.3, 2.0, (n_paths, n_makers, 2))
        counts = model.fill(mid, depths, None, np.zeros(n_paths), DT).copy()
        best = depths.argmin(axis=1)                                       # (n, 2)
        expected = lone.fill(mid, depths.min(axis=1)[:, None, :], None, np.zeros(n_paths), DT)
        is_best = np.arange(n_makers)[None, :, None] == best[:, None, :]
        assert np.array_equal(counts, np.where(is_best, expected, 0.0))
        mid = mid + rng.normal(0.0, 0.1, n_paths)


# -- time priority ----------------------------------------------------------------------------

@pytest.mark.parametrize("senior", [0, 1])
def test_at_one_price_the_quote_resting_longer_is_served_first(senior, monkeypatch):
    model = QueueFills(OrderFlow(A, K))
    model.reset(1, 2, RandomStreams(0, 1))
    one_order = _uniform_for(1, _rate_dt(0.3))
    _script(monkeypatch, model, [[[0.0, 0.0]], [[0.0, 0.0]], [[one_order, 0.0]]])
    waiting = _bids([0.3, 0.3])
    waiting[0, 1 - senior, 0] = 5.0                     # the junior quotes elsewhere first
    for depths in (waiting, waiting, _bids([0.3, 0.3])):
        counts = model.fill(np.array([MID]), depths, None, np.zeros(1), DT)
    assert counts[0, senior, 0] == 1 and counts[0, 1 - senior, 0] == 0
    assert model.priority[0, senior, 0] > model.priority[0, 1 - senior, 0]   # now at the back


def test_a_filled_quote_goes_to_the_back_so_a_level_is_served_round_robin(monkeypatch):
    # Three makers join one price together; then one order a step: the winners cycle through
    # the tie-break order, each served once every three steps.
    model = QueueFills(OrderFlow(A, K))
    model.reset(1, 3, RandomStreams(1, 1))
    one_order = _uniform_for(1, _rate_dt(0.3))
    _script(monkeypatch, model, [[[0.0, 0.0]]] + [[[one_order, 0.0]]] * 9)
    model.fill(np.array([MID]), _bids([0.3, 0.3, 0.3]), None, np.zeros(1), DT)
    order = list(np.argsort(model.priority[0, :, 0]))
    winners = [int(model.fill(np.array([MID]), _bids([0.3, 0.3, 0.3]), None, np.zeros(1),
                              DT)[0, :, 0].argmax()) for _ in range(9)]
    assert winners == order * 3


@pytest.mark.parametrize("n_makers", [2, 3, 5])
def test_fills_at_one_price_differ_by_at_most_one_between_makers_step_and_episode(n_makers):
    """A dt = 5 orders a step at the mid, 2,000 paths x 30 steps, prices held: every step the
    makers' fills differ by at most one (round robin), and so do their running totals (the
    queue order carries over); so the shares are equal (within 4 binomial s.e. of 1 / m)."""
    n_paths = 2000
    counts = _run(QueueFills(OrderFlow(1000.0, K)), np.zeros((n_paths, n_makers, 2)), 30,
                  seed=7)
    assert (np.ptp(counts, axis=2) <= 1).all()
    running = counts.cumsum(axis=0)
    assert (np.ptp(running, axis=2) <= 1).all()
    total = counts.sum(axis=(0, 1, 3))
    share, p = total / total.sum(), 1.0 / n_makers
    assert np.all(np.abs(share - p) <= 4 * math.sqrt(p * (1 - p) / total.sum()))
    assert counts.max() > 1                             # several fills of one quote a step


@pytest.mark.parametrize("holds_price", [True, False])
def test_a_quote_whose_price_changes_loses_priority_and_a_held_price_keeps_it(
        holds_price, monkeypatch):
    """Maker 0 rests at 99.7 before maker 1 joins it. The mid moves to 100.1: maker 1 keeps
    the price 99.7 (depth 0.4); maker 0 keeps it too (held) or keeps its depth 0.3 for one
    step (price 99.8) and comes back to 99.7. One order at 99.7 then goes to maker 0 only if
    it held its price."""
    model = QueueFills(OrderFlow(A, K))
    model.reset(1, 2, RandomStreams(2, 1))
    none, one = [[0.0, 0.0]], [[_uniform_for(1, _rate_dt(0.4)), 0.0]]
    _script(monkeypatch, model, [none, none, none, one])
    steps = [(100.0, [0.3, 5.0]), (100.0, [0.3, 0.3]),
             (100.1, [0.4 if holds_price else 0.3, 0.4]), (100.1, [0.4, 0.4])]
    for mid, bid_depths in steps:
        counts = model.fill(np.array([mid]), _bids(bid_depths), None, np.zeros(1), DT)
    assert counts[0, :, 0].tolist() == ([1.0, 0.0] if holds_price else [0.0, 1.0])


@pytest.mark.parametrize("blocked", [False, True])
def test_a_quote_not_posted_for_a_step_fills_nothing_and_loses_its_place(blocked, monkeypatch):
    """Maker 0 rests at 0.3 before maker 1 joins it. For one step maker 0 is at its bound
    (capacity 0: not posted) or not, and no order arrives; then one order arrives at 0.3: it
    goes to maker 1 only if maker 0 was withdrawn (it rejoined behind maker 1)."""
    model = QueueFills(OrderFlow(A, K))
    model.reset(1, 2, RandomStreams(4, 1))
    none, one = [[0.0, 0.0]], [[_uniform_for(1, _rate_dt(0.3)), 0.0]]
    _script(monkeypatch, model, [none, none, none, one])
    withdrawn = np.ones((1, 2, 2))
    withdrawn[0, 0, 0] = 0.0 if blocked else 1.0
    steps = [(_bids([0.3, 5.0]), None), (_bids([0.3, 0.3]), None),
             (_bids([0.3, 0.3]), withdrawn), (_bids([0.3, 0.3]), None)]
    got = [model.fill(np.array([MID]), d, c, np.zeros(1), DT)[0, :, 0].tolist()
           for d, c in steps]
    assert got[3] == ([0.0, 1.0] if blocked else [1.0, 0.0])


def test_a_price_held_through_the_action_round_trip_keeps_its_priority(monkeypatch):
    # The bid is held at 99.7 while the mid moves (no orders arrive): depth = mid - 99.7 goes
    # through the action normalisation and back; the price is the same to rounding, so the
    # place is kept.
    reach = MarketParams().action_map
    model = QueueFills(OrderFlow(A, K))
    model.reset(1, 2, RandomStreams(3, 1))
    mids = (100.0, 100.0137, 99.9581, 100.2203, 100.05)
    _script(monkeypatch, model, [[[0.0, 0.0]]] * len(mids))
    places = []
    for mid in mids:
        action = reach.to_action(mid - 99.7, 50.0)
        depths = np.concatenate([reach.to_depths(action, 1).reshape(1, 1, 2),
                                 _bids([40.0])], axis=1)      # maker 1 far away
        model.fill(np.array([mid]), depths, None, np.zeros(1), DT)
        places.append(model.priority[0, 0, 0])
    assert places == [places[0]] * len(places) and places[0] < 1.0


def test_simultaneous_joiners_are_ordered_by_the_seeded_tiebreak_fairly(monkeypatch):
    """40,000 paths, three makers join one price together and one order arrives: each wins a
    third of the paths within 4 binomial s.e.; the same seed gives the same winners, another
    seed others."""
    n_paths = 40_000
    one = np.tile([[_uniform_for(1, _rate_dt(0.3)), 0.0]], (n_paths, 1))

    def winners(seed):
        model = QueueFills(OrderFlow(A, K))
        model.reset(n_paths, 3, RandomStreams(seed, n_paths))
        _script(monkeypatch, model, [one])
        return model.fill(np.full(n_paths, MID), _bids([0.3, 0.3, 0.3], n_paths), None,
                          np.zeros(n_paths), DT)[:, :, 0].copy()

    first = winners(8)
    assert (first.sum(axis=1) == 1).all()
    wins = first.sum(axis=0)
    se = math.sqrt(n_paths * (1 / 3) * (2 / 3))
    assert np.all(np.abs(wins - n_paths / 3) <= 4 * se), wins
    assert np.array_equal(winners(8), first)
    assert not np.array_equal(winners(9), first)


# -- capacities (inventory bounds) ------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_a_quote_never_fills_beyond_its_capacity(rule):
    """2,000 paths x 4 makers on a 3-level grid, A dt = 5, random capacities 0..3, 20 steps:
    no quote fills more than its capacity, a quote of capacity 0 (not posted) never."""
    n_paths, n_makers = 2000, 4
    rng = np.random.default_rng(9)
    model = QueueFills(OrderFlow(1000.0, K, rule))
    model.reset(n_paths, n_makers, RandomStreams(10, n_paths))
    capped = 0
    for _ in range(20):
        depths = rng.choice([0.0, 0.2, 0.5], (n_paths, n_makers, 2))
        capacity = rng.integers(0, 4, (n_paths, n_makers, 2)).astype(float)
        counts = model.fill(np.full(n_paths, MID), depths, capacity, np.zeros(n_paths), DT)
        assert (counts <= capacity).all()
        capped += (counts == capacity)[capacity > 0].sum()
    assert capped > 0


@pytest.mark.parametrize("cap", [0, 1, 2])
def test_orders_past_a_capped_best_quote_go_to_the_next_quote_they_reach(cap):
    """Best bid at 0.1 with capacity ``cap``, next at 0.3 (unbounded); 20,000 paths, A dt = 3.
    With N(d) the orders reaching depth d (a lone quote's count on the same streams), the best
    takes min(N(0.1), cap), and the next takes the orders j = cap .. N(0.3) - 1: the step's
    orders reaching 0.3 are its first N(0.3) (the deep-first rule of asmm_env.fills)."""
    n_paths = 20_000
    flow = dict(A=600.0, k=K)

    def lone(depth):
        return _run(QueueFills(OrderFlow(**flow)), np.full((n_paths, 1, 2), depth),
                    seed=13)[0, :, 0, 0]

    capacity = np.full((n_paths, 2, 2), np.inf)
    capacity[:, 0, 0] = cap
    counts = _run(QueueFills(OrderFlow(**flow)), _bids([0.1, 0.3], n_paths), seed=13,
                  capacity=capacity)[0, :, :, 0]
    near, far = lone(0.1), lone(0.3)
    assert np.array_equal(counts[:, 0], np.minimum(near, cap))
    assert np.array_equal(counts[:, 1], np.maximum(far - cap, 0.0))
    assert counts[:, 1].sum() > 0


def test_a_lone_quote_at_capacity_takes_its_capacity_and_no_more():
    n_paths = 5000
    free = _run(QueueFills(OrderFlow(1000.0, K)), np.zeros((n_paths, 1, 2)), seed=14)
    capacity = np.tile([[[2.0, 0.0]]], (n_paths, 1, 1))
    capped = _run(QueueFills(OrderFlow(1000.0, K)), np.zeros((n_paths, 1, 2)), seed=14,
                  capacity=capacity)
    assert np.array_equal(capped[..., 0], np.minimum(free[..., 0], 2.0))
    assert (capped[..., 1] == 0).all()


# -- the whole allocation against a plain-Python reference ------------------------------------

def _reference(rule, depths_seq, mids, capacity_seq, dS_seq, seed, A_ref, toxicity):
    """Price-time priority written as explicit queues: per path and side a list of makers in
    time order; a quote whose price changed (or that is not posted) leaves it, joiners enter at
    the back in tie-break order, each order fills the best-priced quote it reaches (order j
    reaches depth d iff j < N(d)) with capacity left, which goes to the back."""
    n, a, _ = depths_seq[0].shape
    streams = RandomStreams(seed, n)
    flow_source = streams.source("flow", "uniform", (2,))
    tie_source = streams.source("tiebreak", "uniform", (a, 2))
    flow = OrderFlow(A_ref, K, rule, toxicity)
    queues = [[[] for _ in range(2)] for _ in range(n)]
    rest = np.full((n, a, 2), np.nan)
    out = []
    for depths, mid, capacity, dS in zip(depths_seq, mids, capacity_seq, dS_seq, strict=True):
        u, tie = flow_source.next().copy(), tie_source.next().copy()
        cap = np.full((n, a, 2), np.inf) if capacity is None else capacity
        posted = cap > 0
        price = mid[:, None, None] + depths * np.array([-1.0, 1.0])
        reach = flow.orders(u[:, None, :], flow.rate_dt(depths, dS, DT))      # N(d) per quote
        counts = np.zeros((n, a, 2))
        for p in range(n):
            for s in range(2):
                queue = queues[p][s]
                same = [i for i in queue if posted[p, i, s]
                        and abs(price[p, i, s] - rest[p, i, s]) <= 1e-9]
                joiners = sorted((i for i in range(a) if posted[p, i, s] and i not in same),
                                 key=lambda i, p=p, s=s: tie[p, i, s])
                queue[:] = same + joiners
                live = [i for i in range(a) if posted[p, i, s]]
                total = int(max((reach[p, i, s] for i in live), default=0.0))
                for j in range(total):
                    ok = [i for i in queue if reach[p, i, s] > j and counts[p, i, s] < cap[p, i, s]]
                    if not ok:
                        continue
                    best = min(depths[p, i, s] for i in ok)
                    who = next(i for i in ok if depths[p, i, s] <= best + 1e-9)
                    counts[p, who, s] += 1
                    queue.remove(who)
                    queue.append(who)
        rest = np.where(posted, price, np.nan)
        out.append(counts)
    return out


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("bounded", [False, True])
def test_the_allocation_matches_a_plain_python_price_time_priority_reference(rule, bounded):
    """150 paths x 4 makers x 40 steps, A dt = 3, informed flow 0.5: depths on a grid (ties
    are common; some through the mid) changing now and then, the mid moving a grid step or
    not, random capacities when bounded. Every count equals the reference's, byte for byte."""
    n, a, n_steps, A_big, toxicity = 150, 4, 40, 600.0, 0.5
    rng = np.random.default_rng(15)
    grid = np.array([-0.1, 0.1, 0.3, 0.6])
    depths = rng.choice(grid, (n, a, 2))
    mid = np.full(n, MID)
    depths_seq, mids, caps, moves = [], [], [], []
    for _ in range(n_steps):
        change = rng.random((n, a, 2)) < 0.3
        depths = np.where(change, rng.choice(grid, (n, a, 2)), depths)
        depths_seq.append(depths)
        mids.append(mid)
        caps.append(rng.choice([0.0, 1.0, 2.0, np.inf], (n, a, 2)) if bounded else None)
        move = rng.choice([-0.1, 0.0, 0.0, 0.1], n)
        moves.append(move)
        mid = mid + move
    model = QueueFills(OrderFlow(A_big, K, rule, toxicity))
    model.reset(n, a, RandomStreams(16, n))
    got = [model.fill(m, d, c, dS, DT).copy()
           for d, m, c, dS in zip(depths_seq, mids, caps, moves, strict=True)]
    expected = _reference(rule, depths_seq, mids, caps, moves, 16, A_big, toxicity)
    for step, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert np.array_equal(g, e), (step, np.argwhere(g != e)[:5])
    assert sum(g.sum() for g in got) > 1000


# -- informed flow ----------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_toxic_flow_keeps_the_mean_rate_but_conditions_on_the_coming_move(rule):
    """100,000 paths, half before an up move, half before a down move, one maker at depth 1.0,
    toxicity 0.6: market sells (our bid) arrive at A (1 - 0.6) before a rise and A (1 + 0.6)
    before a fall, buys mirrored; each group's mean fills within 4 s.e. of the rule's law at
    that rate, and over both moves the Poisson mean is the AS rate (mean rate unchanged)."""
    n_paths, depth, toxicity = 100_000, 1.0, 0.6
    dS = np.where(np.arange(n_paths) % 2 == 0, 0.1, -0.1)
    counts = _run(QueueFills(OrderFlow(A, K, rule, toxicity)), np.full((n_paths, 1, 2), depth),
                  seed=17, dS=dS)[0, :, 0, :]
    up, down = dS > 0, dS < 0
    low, high = _rate_dt(depth, multiplier=1 - toxicity), _rate_dt(depth, multiplier=1 + toxicity)
    _assert_mean(counts[up, 0], *_law(rule, low), "bid before a rise")
    _assert_mean(counts[down, 0], *_law(rule, high), "bid before a fall")
    _assert_mean(counts[up, 1], *_law(rule, high), "ask before a rise")
    _assert_mean(counts[down, 1], *_law(rule, low), "ask before a fall")
    if rule != "exponential":        # linear in the rate: the unconditional mean is unchanged
        mean = 0.5 * (_law(rule, low)[0] + _law(rule, high)[0])
        assert mean == pytest.approx(_law(rule, _rate_dt(depth))[0])
        variance = 0.5 * (_law(rule, low)[1] + _law(rule, high)[1])
        _assert_mean(counts.reshape(-1), mean, variance, "both moves")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("n_makers", [1, 3])
def test_full_toxicity_sends_no_market_sell_before_an_up_move(rule, n_makers):
    n_paths = 20_000
    counts = _run(QueueFills(OrderFlow(A, K, rule, toxicity=1.0)),
                  np.zeros((n_paths, n_makers, 2)), 3, seed=18, dS=np.full(n_paths, 0.1))
    assert counts[..., 0].sum() == 0                 # bids: nobody sells before a rise
    asks = counts[..., 1].sum(axis=2).reshape(-1)    # buys at twice the rate
    _assert_mean(asks, *_law(rule, _rate_dt(0.0, multiplier=2.0)))


def test_a_zero_move_leaves_the_rate_unchanged_under_toxicity():
    plain = _run(QueueFills(OrderFlow(A, K)), np.full((5000, 2, 2), 0.4), 3, seed=19)
    toxic = _run(QueueFills(OrderFlow(A, K, toxicity=0.9)), np.full((5000, 2, 2), 0.4), 3,
                 seed=19)
    assert np.array_equal(plain, toxic)


# -- IndependentFills -------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES)
def test_independent_fills_with_one_agent_is_queue_fills_byte_for_byte(rule):
    """1,000 paths x 30 steps, random depths, capacities, moves and toxicity 0.3."""
    n = 1000
    rng = np.random.default_rng(20)
    models = [cls(OrderFlow(A, K, rule, 0.3)) for cls in (QueueFills, IndependentFills)]
    for model in models:
        model.reset(n, 1, RandomStreams(21, n))
    for _ in range(30):
        depths = rng.uniform(-0.5, 2.0, (n, 1, 2))
        capacity = rng.integers(0, 3, (n, 1, 2)).astype(float)
        dS = rng.normal(0, 0.1, n)
        queue, independent = (m.fill(np.full(n, MID), depths, capacity, dS, DT).copy()
                              for m in models)
        assert np.array_equal(queue, independent)


def test_independent_fills_gives_each_agent_the_lone_quote_law():
    """50,000 paths, three agents at depths 0.2, 0.2 and 1.0, one step, Poisson rule: each
    agent's fills have mean A e^{-k delta} dt within 4 s.e. whatever the others quote (no
    competition); agent 0 sees the lone quote's flow, the others their own draws."""
    n_paths = 50_000
    depths = np.tile(np.array([0.2, 0.2, 1.0])[None, :, None], (n_paths, 1, 2))
    counts = _run(IndependentFills(OrderFlow(A, K)), depths, seed=22)[0]
    for agent, depth in enumerate((0.2, 0.2, 1.0)):
        _assert_mean(counts[:, agent].reshape(-1), *_law("poisson", _rate_dt(depth)), agent)
    lone = _run(QueueFills(OrderFlow(A, K)), depths[:, :1], seed=22)[0]
    assert np.array_equal(counts[:, :1], lone)
    assert not np.array_equal(counts[:, 0], counts[:, 1])


# -- reproducibility --------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [QueueFills, IndependentFills])
def test_same_streams_give_the_same_bytes_whatever_numpys_global_generator(
        cls, reseed_global_numpy):
    rng = np.random.default_rng(23)
    depths = [rng.choice([0.0, 0.2, 0.5], (300, 3, 2)) for _ in range(20)]

    def run(seed):
        model = cls(OrderFlow(600.0, K))
        model.reset(300, 3, RandomStreams(seed, 300))
        return np.array([model.fill(np.full(300, MID), d, None, np.zeros(300), DT).copy()
                         for d in depths])

    reseed_global_numpy(1)
    first = run(24)
    reseed_global_numpy(2)
    assert np.array_equal(run(24), first)
    assert not np.array_equal(run(25), first)


def test_filling_before_reset_raises_naming_reset():
    flow = OrderFlow(A, K)
    with pytest.raises(RuntimeError, match="reset"):
        flow.draw()


# -- construction -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "kwargs"), [
    ("A", {"A": -1.0}), ("A", {"A": 0.0}), ("A", {"A": math.nan}),
    ("k", {"k": 0.0}), ("k", {"k": math.inf}),
    ("rule", {"rule": "cubic"}), ("rule", {"rule": "Poisson"}),
    ("toxicity", {"toxicity": 1.5}), ("toxicity", {"toxicity": -0.1}),
])
def test_bad_flow_parameters_raise_value_error_naming_them(name, kwargs):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        OrderFlow(**{"A": A, "k": K, **kwargs})


def test_a_bad_fill_rule_in_the_market_parameters_is_named():
    with pytest.raises(ValueError, match="^fill_rule must be one of"):
        MarketParams(fill_rule="cubic")


@pytest.mark.parametrize("n_agents", [1, 3])
def test_build_fill_model_gives_queue_fills_on_the_flow_of_the_params(n_agents):
    p = MarketParams(A=50.0, k=2.0, fill_rule="linear", toxicity=0.2)
    model = build_fill_model(p, n_agents)
    assert type(model) is QueueFills
    flow = model.flow
    assert (flow.A, flow.k, flow.rule, flow.toxicity) == (50.0, 2.0, "linear", 0.2)
    assert type(IndependentFills.from_params(p).flow) is OrderFlow
