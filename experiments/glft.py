"""GLFT (2013): the exact bounded-inventory quotes against their closed-form asymptotic
approximation and the Avellaneda–Stoikov (2008) closed form, and the certainty equivalent
(CE) three ways: Monte Carlo, the exact value of the simulated discrete-time market, and the
continuous-time value function.

What is simulated. One market (``market`` of the config with the horizon ``T``, the step
``dt`` and ``max_inventory = Q``, the same bound for every policy) and three policies at one
risk aversion ``gamma``: GLFT exact (``baselines.GLFTPolicy``), GLFT asymptotic and AS. The
default (gamma 0.5, T 0.2, Q 10 on the AS 2008 market) is a setup where the three quote sets
differ clearly, so the comparison has power. Every policy runs on the run's seed: common
random numbers (same mid increments, same order flow).

Method.

* **Monte Carlo CE** ``-ln mean(exp(-gamma PnL)) / gamma`` with the tail diagnostics of
  :func:`experiments.stats.certainty_equivalent`: an interval only where the CE is reliable.
  Differences between policies are paired (same paths): the delta method on
  ``-(ln mean w_a - ln mean w_b) / gamma``, ``w = exp(-gamma PnL)``, given only when both CEs
  are reliable.
* **Exact CE of the discrete market** (:func:`chain_certainty_equivalent`): backward induction
  over the (t_i, q) grid of the env's step rule, no Monte Carlo. The Monte Carlo CE must match
  it within its CI at every dt.
* **Continuous-time value** ``ln(v_q0(0)) / k`` (``glft_certainty_equivalent``). The chain's gap
  to it is the env's discretisation error, O(dt): computed at dt, dt/2 and dt/4 for Poisson
  fills (the default ``fill_rule``, quotes replenished at once) and for one fill a step
  (``"exponential"``), whose lost fills make the gap much larger (finding
  ``poisson_gap_ratio``).

Reference: Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507,
Theorem 1 and Section 4; Avellaneda & Stoikov (2008), Quant. Finance 8(3) 217-224.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from asmm_env.analytic import glft_certainty_equivalent
from asmm_env.params import MarketParams
from asmm_env.rollout import policy_depths, rollout
from asmm_env.spaces import observations
from asmm_env.validation import check_in_range, check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy, GLFTAsymptoticPolicy, GLFTPolicy
from experiments import style
from experiments.findings import Above, Below, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import Z95, certainty_equivalent, format_ci, pnl_summary

TITLE = "GLFT (2013): exact and asymptotic quotes vs AS, and the certainty equivalent three ways"

POLICIES = {"glft": "GLFT exact", "glft_asymptotic": "GLFT asymptotic", "as": "AS closed form"}
DT_FRACTIONS = (1.0, 0.5, 0.25)      # the discretisation table: dt, dt/2, dt/4
RULES = {"poisson": "Poisson fills", "exponential": "one fill a step"}


@dataclass(frozen=True)
class Settings:
    """``experiments.glft`` in the config.

    market : name of a market in ``markets`` (GLFT's model: see :func:`check_chain_market`).
    T, dt : horizon and time step, time units (> 0, ``T / dt`` whole), replacing the market's.
    Q : inventory bound, shares (integer >= 1): ``max_inventory`` of every run.
    gamma : risk aversion of every policy and of the CE, 1 / money (> 0).
    paths : Monte Carlo paths per policy (>= 1).
    ce_tolerance : a Monte Carlo CE "agrees" with an exact value when its CI lies within this
        distance of it, price units (> 0).
    max_gap_ratio : the largest gap (Poisson fills) / gap (one fill a step) that counts as
        "Poisson fills cut the discretisation gap", in (0, 1).
    robustness_paths : fraction (0, 1] of the paths for the dt/4 and seed checks.
    profile_times : times of the quote profiles, fractions of T in [0, 1).
    """

    market: str = "as2008"
    T: float = 0.2
    dt: float = 0.002
    Q: int = 10
    gamma: float = 0.5
    paths: int = 40_000
    ce_tolerance: float = 0.1
    max_gap_ratio: float = 0.1
    robustness_paths: float = 1.0
    profile_times: tuple[float, ...] = (0.0, 0.9)

    def __post_init__(self) -> None:
        for name in ("T", "dt", "gamma", "ce_tolerance"):
            check_positive(name, getattr(self, name))
        for name in ("Q", "paths"):
            check_positive_int(name, getattr(self, name))
        check_in_range("max_gap_ratio", self.max_gap_ratio, 1e-12, 1.0 - 1e-12)
        check_in_range("robustness_paths", self.robustness_paths, 1e-12, 1.0)
        if not self.profile_times or not all(0.0 <= f < 1.0 for f in self.profile_times):
            raise ValueError(f"profile_times must be a non-empty list of fractions of T in "
                             f"[0, 1), got {self.profile_times!r}")


def glft_market(params: MarketParams, settings: Settings) -> MarketParams:
    """The configured market with ``T``, ``dt`` and ``max_inventory = Q`` (checked)."""
    market = params.replace(T=settings.T, dt=settings.dt, max_inventory=float(settings.Q))
    check_chain_market(market)
    return market


def build_policies(params: MarketParams, gamma: float) -> dict:
    """The three policies, by key of :data:`POLICIES`; GLFT with Q = max_inventory."""
    return {"glft": GLFTPolicy.from_env(params, gamma=gamma),
            "glft_asymptotic": GLFTAsymptoticPolicy.from_env(params, gamma=gamma),
            "as": AvellanedaStoikovPolicy.from_env(params, gamma)}


# --- exact values --------------------------------------------------------------------------
_GLFT_MODEL = {"price_dynamics": "gaussian", "drift": 0.0, "toxicity": 0.0, "impact": 0.0,
               "jump_intensity": 0.0, "vol_of_vol": 0.0, "tick_size": 0.0, "order_size": 1.0,
               "fee": 0.0, "liquidation_cost": 0.0}


def check_chain_market(params: MarketParams) -> None:
    """``ValueError`` naming the field unless ``params`` is GLFT's model: Gaussian mid without
    drift, jumps or stochastic volatility, uninformed flow, no tick, fee or liquidation cost,
    ``order_size`` 1, a ``max_inventory`` Q and an integer q0 in [-Q, Q]."""
    for name, value in _GLFT_MODEL.items():
        if getattr(params, name) != value:
            raise ValueError(f"{name} must be {value!r} in GLFT's model, got "
                             f"{getattr(params, name)!r}")
    Q = params.max_inventory
    if Q is None or Q != round(Q):
        raise ValueError(f"max_inventory must be a whole number of shares, got {Q!r}")
    if params.q0 != round(params.q0):
        raise ValueError(f"q0 must be an integer, got {params.q0!r}")


def chain_certainty_equivalent(policy, params: MarketParams, gamma: float) -> float:
    """Exact CE ``-ln E[exp(-gamma PnL)] / gamma`` of the env's discrete-time market under a
    policy whose depths depend on (time remaining, inventory) only, at ``q0``.

    One step from inventory q (the rules of :mod:`asmm_env.fills` and the market's capacities):
    the bid is reached by ``N_b`` orders, ``Poisson(lambda_b dt)`` with ``lambda = A min(1,
    exp(-k delta))`` (``fill_rule="poisson"``), at most one with probability ``1 -
    exp(-lambda dt)`` (``"exponential"``) or ``min(lambda dt, 1)`` (``"linear"``), and fills
    ``min(N_b, Q - q)``; the ask likewise with capacity ``Q + q``, independently; each fill
    earns its depth (as the runner applies it, :func:`asmm_env.rollout.policy_depths`). Then
    the mid moves by ``sigma sqrt(dt) Z`` and the post-fill inventory q' earns ``q' dS``, with
    ``E[exp(-gamma q' dS)] = exp(gamma^2 sigma^2 q'^2 dt / 2)``. So ``w_q(t_i) = E[exp(-gamma
    PnL over [t_i, T]) | q]`` solves a linear backward recursion from ``w(T) = 1``, solved on
    q = -Q..Q with a running log scale. Requires GLFT's model (:func:`check_chain_market`).
    """
    check_chain_market(params)
    check_positive("gamma", gamma)
    Q, dt = round(params.max_inventory), params.dt
    q = np.arange(-Q, Q + 1)
    n = np.arange(2 * Q + 1)                                   # fills of one side in a step
    capacity = np.stack([Q - q, Q + q], axis=-1)[..., None]    # (q, side, 1)
    risk = np.exp(0.5 * gamma**2 * params.sigma**2 * dt * q**2)
    # w_q = sum over (n_b, n_a) of weight_b weight_a g(q + n_b - n_a), g = risk * w.
    shift = q[:, None, None] + n[None, :, None] - n[None, None, :]
    inside = (shift >= -Q) & (shift <= Q)
    index = np.clip(shift + Q, 0, 2 * Q)
    w, log_scale = np.ones(q.size), 0.0
    for i in range(params.n_steps - 1, -1, -1):
        obs = observations(np.full(q.size, params.s0), q.astype(float),
                           (params.n_steps - i) * dt)
        depths = policy_depths(policy, obs, q.size, params.action_map)      # (q, side)
        rate = params.A * np.exp(-params.k * np.maximum(depths, 0.0)) * dt
        if params.fill_rule == "poisson":
            pmf = _scipy_stats.poisson.pmf(n, rate[..., None])
        else:
            one = -np.expm1(-rate) if params.fill_rule == "exponential" else np.minimum(rate, 1)
            pmf = np.zeros((*rate.shape, n.size))
            pmf[..., 0], pmf[..., 1] = 1.0 - one, one
        # min(N, capacity): the mass at and beyond the capacity sits at the capacity.
        tail = np.where(n >= capacity, pmf, 0.0).sum(axis=-1, keepdims=True)
        pmf = np.where(n < capacity, pmf, 0.0) + np.where(n == capacity, tail, 0.0)
        weight = pmf * np.exp(-gamma * n * depths[..., None])
        values = np.where(inside, (risk * w)[index], 0.0)
        w = np.einsum("qb,qa,qba->q", weight[:, 0], weight[:, 1], values)
        top = w.max()
        w /= top
        log_scale += math.log(top)
    return -(math.log(w[round(params.q0) + Q]) + log_scale) / gamma


def continuous_certainty_equivalent(params: MarketParams, gamma: float) -> float:
    """The continuous-time GLFT value ``ln(v_q0(0)) / k`` at ``Q = max_inventory``."""
    return glft_certainty_equivalent(round(params.q0), gamma=gamma, sigma=params.sigma,
                                     A=params.A, k=params.k, Q=round(params.max_inventory),
                                     T=params.T)


def paired_ce_difference(pnl_a, pnl_b, gamma: float) -> Estimate:
    """``CE(a) - CE(b)`` from paired samples (common random numbers), with the delta-method
    CI of ``-(ln mean w_a - ln mean w_b) / gamma`` when both CEs are reliable (else no CI)."""
    a, b = np.asarray(pnl_a, dtype=float), np.asarray(pnl_b, dtype=float)
    ce_a, ce_b = certainty_equivalent(a, gamma), certainty_equivalent(b, gamma)
    diff = ce_a["ce"] - ce_b["ce"]
    if not (ce_a["reliable"] and ce_b["reliable"]):
        return Estimate(diff)
    wa, wb = np.exp(-gamma * (a - a.min())), np.exp(-gamma * (b - b.min()))
    se = float((wa / wa.mean() - wb / wb.mean()).std(ddof=1) / math.sqrt(a.size) / gamma)
    return Estimate(diff, diff - Z95 * se, diff + Z95 * se)


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    market = glft_market(ctx.market(settings.market), settings)
    gamma, n = settings.gamma, ctx.paths(settings.paths)
    analytic = continuous_certainty_equivalent(market, gamma)

    @functools.cache
    def simulate(v: Variation) -> dict[str, pd.DataFrame]:
        """Per policy, the rollout's per-path frame at a variation (run's seed: CRN)."""
        params = v.market(market)
        return {key: rollout(policy, params, n_paths=v.paths(n), seed=v.seed).paths
                for key, policy in build_policies(params, gamma).items()}

    @functools.cache
    def chain(v: Variation, key: str, rule: str | None = None) -> float:
        """The exact discrete CE under the market's fill rule, or under ``rule``."""
        params = v.market(market).replace(fill_rule=rule or market.fill_rule)
        return chain_certainty_equivalent(build_policies(params, gamma)[key], params, gamma)

    def pnl(v: Variation, key: str) -> np.ndarray:
        return simulate(v)[key]["terminal_pnl"].to_numpy()

    def mc_minus(v: Variation, reference: float) -> Estimate:
        ce = certainty_equivalent(pnl(v, "glft"), gamma)
        if not ce["reliable"]:
            return Estimate(ce["ce"] - reference)
        return Estimate(ce["ce"] - reference, ce["ci_low"] - reference,
                        ce["ci_high"] - reference)

    v0 = ctx.variation()
    summary = _summary(simulate(v0), lambda key: chain(v0, key), analytic, settings)
    convergence = _convergence(market, gamma, analytic)

    # --- findings ---
    common = dict(unit="price units", robustness_paths=settings.robustness_paths)
    for key in ("as", "glft_asymptotic"):
        ctx.finding(
            f"glft_vs_{key}",
            statement=f"GLFT exact, optimal in continuous time, is not beaten by {POLICIES[key]} "
                      "in the discrete market: the difference of their certainty equivalents "
                      "on the same paths.",
            statistic=f"CE(GLFT exact) - CE({POLICIES[key]}), paired",
            rule=Above(0.0), section="glft_summary", **common,
            estimate=lambda v, key=key: paired_ce_difference(pnl(v, "glft"), pnl(v, key),
                                                             gamma))
    for name, what, reference in (
            ("mc_vs_chain", "the exact CE of the discrete market it simulates (backward "
             "induction over (t, q), no Monte Carlo)", lambda v: chain(v, "glft")),
            ("mc_vs_value_function", "the continuous-time value function ln(v_q0(0)) / k",
             lambda v: analytic)):
        ctx.finding(
            name, statement=f"GLFT exact's Monte Carlo CE agrees with {what}.",
            statistic=f"CE Monte Carlo - {name.split('_vs_')[1].replace('_', ' ')}, GLFT",
            rule=Near(0.0, settings.ce_tolerance), section="glft_summary", **common,
            estimate=lambda v, reference=reference: mc_minus(v, reference(v)))
    ctx.finding(
        "poisson_gap_ratio",
        statement="Poisson fills cut the discretisation error: the exact discrete CE's gap to "
                  "the continuous-time value with Poisson fills, as a fraction of the gap with "
                  "one fill a step (exact, no Monte Carlo).",
        statistic="(chain CE - value), Poisson / one fill a step, GLFT exact",
        rule=Below(settings.max_gap_ratio), section="glft_dt_convergence",
        robustness_paths=settings.robustness_paths,
        estimate=lambda v: Estimate.exact((chain(v, "glft", "poisson") - analytic)
                                          / (chain(v, "glft", "exponential") - analytic)))

    # --- tables ---
    ctx.table(summary, "glft_summary", "Monte Carlo, exact discrete and continuous CE",
              f"{n:,} paths per policy on common random numbers; gamma = {gamma:g}, Q = "
              f"{settings.Q}, T = {settings.T:g}, dt = {settings.dt:g}. A CE interval is given "
              "only where the CE is reliable (`ce_reason` says why not).",
              display=_summary_display(summary))
    ctx.table(convergence, "glft_dt_convergence", "Discretisation: exact discrete CE of "
              "GLFT exact against the continuous-time value", "Backward induction at dt, dt/2 "
              "and dt/4 for both fill rules; `ratio_to_previous` near 2 means the gap is "
              "O(dt).", float_format="{:.5g}")

    # --- figures ---
    ctx.figure(_quotes_figure(market, gamma, settings.profile_times), "glft_quotes",
               "Bid depth against inventory", "The ask is the mirror image, ask(q) = bid(-q). "
               "GLFT exact has no bid at q = +Q (not drawn).")
    ctx.figure(_ce_figure(summary, convergence, analytic), "glft_ce",
               "Certainty equivalents and the discretisation gap",
               "Left: Monte Carlo CE with its 95% CI (where reliable), the exact discrete CE "
               "(crosses) and the continuous-time value (dashed). Right: |chain CE - value| "
               "against dt for both fill rules, log-log.")


def _summary(frames: dict, chain, analytic: float, settings: Settings) -> pd.DataFrame:
    rows = []
    for key, label in POLICIES.items():
        paths = frames[key]
        row = pnl_summary(paths["terminal_pnl"].to_numpy(), gamma=settings.gamma)
        row = {"policy": label, "key": key, **row, "ce_exact_chain": chain(key),
               "ce_continuous": analytic if key == "glft" else np.nan,
               "mean_fills": float(paths["fills"].mean()),
               "share_at_bound": float((paths["max_abs_inventory"] >= settings.Q).mean())}
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(frame: pd.DataFrame, name: str, digits: int = 2) -> list[str]:
    """"value [low, high]" of the column ``name`` and ``name_ci_low``, ``name_ci_high``."""
    return [format_ci(v, lo, hi, digits) for v, lo, hi in zip(
        frame[name], frame[f"{name}_ci_low"], frame[f"{name}_ci_high"], strict=True)]


def _summary_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy": s["policy"], "mean PnL [95% CI]": _ci(s, "mean"),
        "Sharpe [95% CI]": _ci(s, "sharpe"), "CE Monte Carlo [95% CI]": _ci(s, "ce", 3),
        "CE exact, discrete": s["ce_exact_chain"].map("{:.3f}".format),
        "CE continuous": s["ce_continuous"].map(lambda v: "-" if np.isnan(v) else f"{v:.3f}"),
        "CE ESS": s["ce_ess"].map("{:.0f}".format),
        "fills": s["mean_fills"].map("{:.1f}".format),
        "paths reaching the bound": s["share_at_bound"].map("{:.3%}".format)})


def _convergence(market: MarketParams, gamma: float, analytic: float) -> pd.DataFrame:
    rows = []
    for rule, label in RULES.items():
        previous = math.nan
        for fraction in DT_FRACTIONS:
            params = market.replace(dt=market.dt * fraction, fill_rule=rule)
            exact = chain_certainty_equivalent(GLFTPolicy.from_env(params, gamma=gamma),
                                               params, gamma)
            gap = exact - analytic
            rows.append({"fill_rule": rule, "rule": label, "dt": params.dt,
                         "steps": params.n_steps, "ce_exact_chain": exact,
                         "ce_continuous": analytic, "gap": gap,
                         "ratio_to_previous": previous / gap})
            previous = gap
    return pd.DataFrame(rows)


def _quotes_figure(market: MarketParams, gamma: float, fractions) -> plt.Figure:
    policies = build_policies(market, gamma)
    Q = round(market.max_inventory)
    q = np.arange(-Q, Q + 1, dtype=float)
    fig, axes = plt.subplots(1, len(fractions), figsize=(4.6 * len(fractions) + 1.6, 3.8),
                             sharey=True, squeeze=False, constrained_layout=True)
    for ax, fraction in zip(axes[0], fractions, strict=True):
        step = min(round(fraction * market.n_steps), market.n_steps - 1)
        obs = observations(np.full(q.size, market.s0), q, (market.n_steps - step) * market.dt)
        for key, label in POLICIES.items():
            bid = policy_depths(policies[key], obs, q.size, market.action_map)[:, 0]
            shown = q < Q if key == "glft" else np.ones(q.size, bool)
            ax.plot(q[shown], bid[shown], label=label, markersize=4,
                    **style.policy_style(key).kwargs())
        ax.set_title(f"t = {step * market.dt:.3g}", fontsize=10)
        style.label_axes(ax, x=("inventory q", "shares"))
    style.label_axes(axes[0, 0], y=("bid depth", "price units"))
    style.legend_outside(axes[0, -1], fontsize=8)
    return fig


def _ce_figure(summary: pd.DataFrame, convergence: pd.DataFrame, analytic: float):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.0), constrained_layout=True)
    for i, r in enumerate(summary.itertuples()):
        s = style.policy_style(r.key)
        low, high = (r.ce_ci_low, r.ce_ci_high) if r.ce_reliable else (r.ce, r.ce)
        left.errorbar([i], [r.ce], yerr=[[r.ce - low], [high - r.ce]], capsize=5,
                      color=s.color, marker=s.marker, linestyle="none",
                      label="Monte Carlo, 95% CI" if i == 0 else None)
        left.plot([i + 0.2], [r.ce_exact_chain], "x", color="black", markersize=8,
                  label="exact, discrete market" if i == 0 else None)
    left.axhline(analytic, color="0.3", linestyle="--", linewidth=1,
                 label="continuous-time value")
    style.category_ticks(left, list(summary["policy"]))
    left.set_xlim(-0.5, len(summary) - 0.3)
    style.label_axes(left, x=("policy", ""), y=("certainty equivalent", "price units"))
    left.legend(fontsize=8, loc="lower left")
    for rule, label in RULES.items():
        rows = convergence[convergence["fill_rule"] == rule]
        right.plot(rows["dt"], rows["gap"].abs(), label=label, **style.policy_style(label).kwargs())
    style.set_scale(right, "x", "log")
    style.set_scale(right, "y", "log")
    style.label_axes(right, x=("time step dt", "time units"),
                     y=("|exact discrete CE - value|", "price units"))
    right.legend(fontsize=8)
    return fig
