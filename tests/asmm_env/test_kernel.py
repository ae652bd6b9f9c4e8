"""The compiled market step (asmm_env._kernel): the same bytes as the numpy step, and a
guard that leaves numpy in charge where the compiled exp differs. Skipped without numba."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asmm_env import Market, MarketParams, _kernel
from asmm_env.fills import IndependentFills, OrderFlow, QueueFills

pytest.importorskip("numba")

FIELDS = ("cash", "inventory", "spread_capture", "inventory_pnl", "adverse_selection", "fees",
          "liquidation", "fills", "volume", "max_abs_inventory")


def _episode(params, engine, seed, n_paths, quotes_seed, fill_model=None, n_agents=1):
    market = Market(params, n_paths, n_agents, engine=engine, fill_model=fill_model)
    market.reset(seed)
    rng = np.random.default_rng(quotes_seed)
    steps = []
    shape = (n_paths, n_agents, 2)
    while not market.done:
        depths = rng.uniform(-0.6, 2.5, shape)
        ties = rng.random(shape) < 0.5          # shared price levels: time priority at work
        depths[ties] = rng.choice([0.2, 0.5], ties.sum())
        depths[rng.random(shape) < 0.05] = 40.0          # now and then out of reach
        volume = market.step(depths)
        steps.append((market.mid.copy(), volume.copy(), market.pnl().copy()))
    ledger = {name: getattr(market.ledger, name) for name in FIELDS}
    return steps, ledger


def _same_bytes(a, b):
    return a.shape == b.shape and np.array_equal(np.ascontiguousarray(a).view(np.uint64),
                                                 np.ascontiguousarray(b).view(np.uint64))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=st.sampled_from(["poisson", "exponential", "linear"]),
       dynamics=st.sampled_from(["gaussian", "binomial"]),
       toxicity=st.sampled_from([0.0, 0.6, 1.0]), impact=st.sampled_from([0.0, 0.2]),
       fee=st.sampled_from([0.0, -0.01, 0.02]), order_size=st.sampled_from([1.0, 2.0]),
       bound=st.sampled_from([None, 4.0]), tick=st.sampled_from([0.0, 0.05]),
       liquidation=st.sampled_from([0.0, 0.3]), n_paths=st.sampled_from([1, 7, 1300]),
       n_agents=st.sampled_from([1, 1, 3]), seed=st.integers(0, 2**31))
def test_the_compiled_step_gives_the_bytes_of_the_numpy_step(rule, dynamics, toxicity, impact,
                                                               fee, order_size, bound, tick,
                                                               liquidation, n_paths, n_agents,
                                                               seed):
    params = MarketParams(T=0.1, fill_rule=rule, price_dynamics=dynamics, toxicity=toxicity,
                          impact=impact, fee=fee, order_size=order_size,
                          max_inventory=None if bound is None else bound * order_size,
                          tick_size=tick, liquidation_cost=liquidation)
    numpy_steps, numpy_ledger = _episode(params, "numpy", seed, n_paths, seed + 1,
                                         n_agents=n_agents)
    fast_steps, fast_ledger = _episode(params, "numba", seed, n_paths, seed + 1,
                                       n_agents=n_agents)
    for (mid_a, vol_a, pnl_a), (mid_b, vol_b, pnl_b) in zip(numpy_steps, fast_steps,
                                                             strict=True):
        assert _same_bytes(mid_a, mid_b) and _same_bytes(vol_a, vol_b)
        assert _same_bytes(pnl_a, pnl_b)
    for name in FIELDS:
        assert _same_bytes(numpy_ledger[name], fast_ledger[name]), name


def test_independent_fills_of_one_agent_run_compiled_with_the_same_bytes():
    params = MarketParams(T=0.1)
    numpy_steps, numpy_ledger = _episode(params, "numpy", 3, 500, 4,
                                         IndependentFills(OrderFlow(params.A, params.k)))
    fast_steps, fast_ledger = _episode(params, "numba", 3, 500, 4,
                                       IndependentFills(OrderFlow(params.A, params.k)))
    for name in FIELDS:
        assert _same_bytes(numpy_ledger[name], fast_ledger[name]), name


def test_auto_uses_the_compiled_step_only_where_it_applies():
    params = MarketParams()
    assert Market(params, 10, 1)._compiled and Market(params, 10, 3)._compiled
    independent = IndependentFills(OrderFlow(params.A, params.k))
    assert not Market(params, 10, 2, fill_model=independent)._compiled
    assert not Market(params, 10, 1, engine="numpy")._compiled
    assert not Market(MarketParams(A=14000.0), 10, 1)._compiled     # long Poisson inversion

    class MyFlow(OrderFlow):           # a user's own flow: the compiled pass would ignore it
        pass

    assert not Market(params, 10, 1, fill_model=QueueFills(MyFlow(params.A, params.k)))._compiled
    with pytest.raises(ValueError, match="^engine must be 'auto' or 'numpy' for this market"):
        Market(params, 10, 2, engine="numba", fill_model=independent)
    with pytest.raises(ValueError, match="^engine must be one of"):
        Market(MarketParams(), 10, 1, engine="cuda")


def test_a_compiled_exp_that_differs_from_numpys_leaves_the_numpy_step_in_charge(monkeypatch):
    monkeypatch.setattr(_kernel, "_state", {})
    monkeypatch.setattr(_kernel, "_exp", lambda x: np.exp(x) * (1.0 + 1e-15))
    assert not _kernel.available()
    assert not Market(MarketParams(), 10, 1)._compiled
    with pytest.raises(ValueError, match="needs numba"):
        Market(MarketParams(), 10, 1, engine="numba")
