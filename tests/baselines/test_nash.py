"""The Nash family and its solver: the offset quotes, the certainty equivalent, the best
response (grid and climb), and the iteration's fixed points and cycles (on a stubbed best
response, then end to end on a short market)."""

import numpy as np
import pytest

import baselines.nash as nash
from asmm_env import MarketParams
from baselines import AvellanedaStoikovPolicy, OffsetPolicy, symmetric_nash
from baselines.nash import BestResponse, best_response, certainty_equivalent

SHORT = MarketParams(T=0.1, tick_size=0.05)           # 20 steps


def test_offset_policy_shifts_both_as_depths():
    obs = np.array([[100.0, 2.0, 0.7], [100.0, -1.0, 0.1]])
    shifted = OffsetPolicy.from_env(SHORT, 0.1, -0.3).depths(obs)
    plain = AvellanedaStoikovPolicy.from_env(SHORT, 0.1).depths(obs)
    np.testing.assert_allclose(np.subtract(shifted, plain), -0.3)
    with pytest.raises(ValueError, match="offset"):
        OffsetPolicy.from_env(SHORT, 0.1, float("nan"))


def test_certainty_equivalent_is_the_cara_formula_without_overflow():
    x = np.array([1.0, 2.0, 4.0])
    assert certainty_equivalent(x, 0.5) == pytest.approx(-np.log(np.mean(np.exp(-0.5 * x))) / 0.5)
    assert np.isfinite(certainty_equivalent(np.array([-5000.0, 0.0]), 1.0))


def _stub(monkeypatch, reply):
    """Replace the Monte Carlo best response by ``reply(rival) -> best``."""
    calls = []

    def fake(rival, grid, **kwargs):
        calls.append(rival)
        best = reply(rival)
        return BestResponse(rival, np.array([best]), np.array([0.0]), np.array([0.0]), best)

    monkeypatch.setattr(nash, "best_response", fake)
    return calls


def test_iteration_walks_to_the_fixed_point(monkeypatch):
    calls = _stub(monkeypatch, lambda r: max(round(r - 0.1, 10), -0.5))
    eq = symmetric_nash(SHORT, 3, 0.1, np.round(np.arange(-0.8, 0.21, 0.1), 10), n_paths=1,
                        seed=0)
    assert eq.converged and eq.offset == pytest.approx(-0.5)
    assert eq.path == pytest.approx((0.0, -0.1, -0.2, -0.3, -0.4, -0.5))
    assert calls[-1] == pytest.approx(-0.5) and len(eq.responses) == 6


def test_iteration_reports_a_cycle_as_not_converged(monkeypatch):
    _stub(monkeypatch, lambda r: -0.2 if r > -0.1 else 0.0)
    eq = symmetric_nash(SHORT, 2, 0.1, [-0.2, 0.0], n_paths=1, seed=0)
    assert not eq.converged and eq.path == (0.0, -0.2, 0.0)


def test_iteration_stops_after_max_iterations(monkeypatch):
    _stub(monkeypatch, lambda r: round(r - 0.1, 10))
    eq = symmetric_nash(SHORT, 2, 0.1, np.round(np.arange(-2.0, 0.01, 0.1), 10), n_paths=1,
                        seed=0, max_iterations=3)
    assert not eq.converged and len(eq.responses) == 3


def test_a_lone_maker_needs_one_best_response(monkeypatch):
    _stub(monkeypatch, lambda r: -0.1)
    eq = symmetric_nash(SHORT, 1, 0.1, [-0.2, -0.1, 0.0], n_paths=1, seed=0)
    assert eq.converged and eq.offset == -0.1 and eq.path == (0.0, -0.1)


def test_the_climb_finds_the_grids_best_response_on_common_random_numbers():
    """200 paths, 20 steps, 2 makers: the climb evaluates fewer offsets and picks the same."""
    grid = [-0.6, -0.4, -0.2, 0.0, 0.2]
    kw = dict(params=SHORT, n_agents=2, gamma=0.1, n_paths=200, seed=5)
    full = best_response(0.0, grid, search="grid", **kw)
    climb = best_response(0.0, grid, search="climb", **kw)
    assert climb.best == full.best
    assert len(climb.candidates) < len(full.candidates)
    same = np.isin(full.candidates, climb.candidates)
    np.testing.assert_array_equal(full.ce[same], climb.ce)          # same paths, same CE


def test_the_solution_is_a_fixed_point_of_the_best_response():
    """200 paths, 20 steps, 2 makers: BR(theta*) == theta* on the solver's own sample."""
    grid = [-0.6, -0.4, -0.2, 0.0]
    eq = symmetric_nash(SHORT, 2, 0.1, grid, n_paths=200, seed=7)
    assert eq.converged and eq.offset < 0.0               # competition tightens the quotes
    again = best_response(eq.offset, grid, params=SHORT, n_agents=2, gamma=0.1, n_paths=200,
                          seed=7, search="grid")
    assert again.best == eq.offset
    assert isinstance(eq.policy(SHORT), OffsetPolicy) and eq.policy(SHORT).offset == eq.offset


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="search"):
        best_response(0.0, [0.0], params=SHORT, n_agents=2, gamma=0.1, n_paths=10, seed=0,
                      search="golden")
    with pytest.raises(ValueError, match="grid"):
        symmetric_nash(SHORT, 2, 0.1, [], n_paths=10, seed=0)
    with pytest.raises(ValueError, match="n_agents"):
        best_response(0.0, [0.0], params=SHORT, n_agents=0, gamma=0.1, n_paths=10, seed=0)
