"""What breaks the assumptions of the AS model: one block per assumption, the base model against
the broken one, the same policies on common random numbers.

Each block compares two cells, *base* (the AS assumption holds) and *stressed* (it does not),
rolled out with ``seed = <the run's seed>``: the same mid paths and flow draws wherever the
two cells share a source (the ``"price"`` stream drives the diffusion of every mid; the flow
streams differ only where the flow model does), so every difference is measured path by path.

=================  =========================================  ==================================
assumption         base                                       stressed
=================  =========================================  ==================================
price_dynamics     Gaussian mid, volatility sigma             jumps (a share of the variance,
                                                              same total), or Heston-type
                                                              stochastic volatility (mean
                                                              variance sigma^2)
utility            CARA-optimal policy (GLFT, gamma, |q|<=Q)  optimal policy of a running
                                                              quadratic penalty phi = gamma
                                                              sigma^2 / 2 (Cartea–Jaimungal),
                                                              each scored under both criteria
order_flow         Poisson market orders, rate A per side     Hawkes orders, stationary rate A,
                                                              branching ratio n (bursts)
latency            quotes rest when decided                   quotes rest ``latency`` later at
                                                              the price decided (stale quotes)
single_asset       two uncorrelated assets                    correlation rho; and, at rho,
                                                              independent single-asset makers
                                                              vs the Guéant portfolio maker
adverse_selection  uninformed flow                            permanent impact per share filled
                                                              (informed flow whose cost per
                                                              fill does not vanish as dt -> 0)
=================  =========================================  ==================================

The policies believe in the base model (the AS market's sigma, A, k): AS (gamma) and the
symmetric strategy in the single-asset blocks; GLFT and Cartea–Jaimungal on a market bounded
at Q for utility; GLFT closed-form asymptotic makers per asset against the Guéant (2017)
portfolio maker (which knows the correlation) on two copies of the market for single_asset.
With latency a policy decides on what it sees at the decision (the mid, and the inventory
before the fills of the delay), and its quote rests later at the price it decided.

Metrics per path (money in price units): terminal PnL (a portfolio's: the sum over assets);
its mean, std, CARA certainty equivalent at gamma (with the reliability rule of
:func:`experiments.stats.certainty_equivalent`), VaR and CVaR at 99% (losses positive); the
std of terminal inventory (a portfolio's net inventory, the sum over assets); adverse
selection per fill (the ledger's, over ``adverse_selection_steps``); mean fills; for utility
also the penalised objective ``PnL - phi int q^2 dt``. Each difference stressed - base has a
95% CI from the paired paths: normal for means, the delta method for the CE (only when both
CEs are reliable), a paired bootstrap standard error for the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.fills import hawkes_fill_model
from asmm_env.latency import QuoteLatency
from asmm_env.multi_asset import rollout_portfolio
from asmm_env.params import MarketParams
from asmm_env.rollout import market_with, rollout
from asmm_env.validation import check_in_range, check_positive, check_positive_int
from baselines import (
    AvellanedaStoikovPolicy,
    CarteaJaimungalPolicy,
    GLFTAsymptoticPolicy,
    GLFTPolicy,
    GueantPolicy,
    IndependentMakers,
    SymmetricPolicy,
)
from baselines.cartea_jaimungal import RunningPenalty
from experiments import style
from experiments.findings import Above, Below, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import Z95, certainty_equivalent, format_ci, mean_ci

TITLE = "What breaks the AS assumptions: one measured row per assumption"

ASSUMPTIONS = ("price_dynamics", "utility", "order_flow", "latency", "single_asset",
               "adverse_selection")
METRICS = {"mean_pnl": "mean PnL", "std_pnl": "std PnL", "ce": "CE", "var99": "VaR 99%",
           "cvar99": "CVaR 99%", "inventory_std": "inventory std",
           "adverse_selection_per_fill": "AS per fill", "mean_fills": "fills",
           "penalised_mean": "penalised mean"}
"""Metric -> label (all in price units, fills in fills per path)."""
COLUMNS = ("assumption", "variant", "policy", "metric", "base_label", "stressed_label", "base",
           "stressed", "diff", "diff_ci_low", "diff_ci_high", "reliable", "note", "paths")
"""Columns of ``tables/assumptions.csv``."""


@dataclass(frozen=True)
class Settings:
    """``experiments.assumptions``: ``market`` (a name in ``markets``); ``paths`` per cell
    (single-asset blocks) and ``portfolio_paths`` (two-asset block); ``gamma`` (1 / money);
    ``jump_intensity`` (jumps per unit time) and ``jump_variance_share`` (share of the mid's
    variance from jumps, in (0, 1)); ``vol_of_vol`` and ``vol_mean_reversion`` (stochastic
    volatility); ``inventory_bound`` (Q, orders, utility block); ``branching_ratio`` in (0, 1),
    ``hawkes_decay`` (1 / time) and ``hawkes_burn_in`` (relaxation times); ``latency`` (time
    units) and ``latency_sweep`` (time units, figure); ``correlation`` in (-1, 1) and
    ``correlation_sweep`` (figure); ``impact`` (price units per share); ``bootstrap``
    resamples (>= 50); ``robustness_paths`` (fraction in (0, 1] of the paths of the dt / 4 and
    seed checks)."""

    market: str = "as2008"
    paths: int = 4000
    portfolio_paths: int = 2000
    gamma: float = 0.1
    jump_intensity: float = 2.0
    jump_variance_share: float = 0.5
    vol_of_vol: float = 4.0
    vol_mean_reversion: float = 5.0
    inventory_bound: int = 25
    branching_ratio: float = 0.7
    hawkes_decay: float = 20.0
    hawkes_burn_in: float = 5.0
    latency: float = 0.02
    latency_sweep: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    correlation: float = 0.8
    correlation_sweep: tuple[float, ...] = (0.0, 0.4, 0.8)
    impact: float = 0.2
    bootstrap: int = 300
    robustness_paths: float = 0.25

    def __post_init__(self) -> None:
        for name in ("paths", "portfolio_paths", "inventory_bound"):
            check_positive_int(name, getattr(self, name))
        for name in ("gamma", "jump_intensity", "vol_of_vol", "vol_mean_reversion",
                     "hawkes_decay", "latency", "impact"):
            check_positive(name, getattr(self, name))
        check_in_range("hawkes_burn_in", self.hawkes_burn_in, 0.0, 1e6)
        for name in ("jump_variance_share", "branching_ratio"):
            value = getattr(self, name)
            check_in_range(name, value, 0.0, 1.0)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        check_in_range("correlation", self.correlation, -1.0, 1.0)
        if not isinstance(self.latency_sweep, tuple) or not self.latency_sweep:
            raise ValueError(f"latency_sweep must be a non-empty list, got "
                             f"{self.latency_sweep!r}")
        for value in self.latency_sweep:
            check_positive("latency_sweep", value)
        if not isinstance(self.correlation_sweep, tuple) or not self.correlation_sweep:
            raise ValueError(f"correlation_sweep must be a non-empty list, got "
                             f"{self.correlation_sweep!r}")
        for value in self.correlation_sweep:
            check_in_range("correlation_sweep", value, -1.0, 1.0)
        if not isinstance(self.bootstrap, int) or isinstance(self.bootstrap, bool) \
                or self.bootstrap < 50:
            raise ValueError(f"bootstrap must be an integer >= 50, got {self.bootstrap!r}")
        check_in_range("robustness_paths", self.robustness_paths, 0.0, 1.0)
        if not self.robustness_paths > 0:
            raise ValueError(f"robustness_paths must be a fraction in (0, 1], got "
                             f"{self.robustness_paths!r}")


@dataclass(frozen=True)
class Comparison:
    """One row group of the table: ``stressed`` against ``base`` (cells ``(world, policy)``)."""

    assumption: str
    variant: str
    policy: str
    base: tuple[str, str]
    stressed: tuple[str, str]
    base_label: str
    stressed_label: str


POLICY_LABELS = {"as": "AS", "symmetric": "symmetric", "glft": "GLFT", "cj": "CJ",
                 "independent": "independent GLFT", "portfolio": "portfolio (Gueant)"}


def comparisons(s: Settings) -> list[Comparison]:
    """The blocks' comparisons, in table order."""
    out = []
    for world, variant, label in (
            ("jumps", "jumps", f"jumps ({s.jump_intensity:g}/unit time, "
                               f"{s.jump_variance_share:.0%} of the variance)"),
            ("stochastic_vol", "stochastic volatility",
             f"stochastic volatility (vol of vol {s.vol_of_vol:g})")):
        out += [Comparison("price_dynamics", variant, POLICY_LABELS[p], ("gaussian", p),
                           (world, p), "Gaussian mid", label) for p in ("as", "symmetric")]
    out.append(Comparison("utility", "running quadratic penalty", "GLFT -> CJ",
                          ("bounded", "glft"), ("bounded", "cj"), "CARA-optimal (GLFT)",
                          "penalty-optimal (CJ)"))
    for assumption, world, variant, base_label, label in (
            ("order_flow", "hawkes", "Hawkes flow", "Poisson flow",
             f"Hawkes flow (n {s.branching_ratio:g}, decay {s.hawkes_decay:g})"),
            ("latency", "latency", f"latency {s.latency:g}", "no latency",
             f"quotes rest {s.latency:g} later"),
            ("adverse_selection", "impact", f"impact {s.impact:g}", "uninformed flow",
             f"permanent impact {s.impact:g} per share")):
        out += [Comparison(assumption, variant, POLICY_LABELS[p], ("gaussian", p), (world, p),
                           base_label, label) for p in ("as", "symmetric")]
    rho = f"correlation {s.correlation:g}"
    out += [Comparison("single_asset", rho, POLICY_LABELS[p], ("rho_0", p), ("rho", p),
                       "uncorrelated assets", rho) for p in ("independent", "portfolio")]
    out += [Comparison("single_asset", f"hedging at {label}", "independent -> portfolio",
                       (world, "independent"), (world, "portfolio"), "independent makers",
                       "portfolio maker")
            for world, label in (("rho", rho), ("rho_0", "correlation 0"))]
    return out


# --- simulation ----------------------------------------------------------------------------------
class Simulations:
    """Per-path results of a cell ``(world, policy)`` at a :class:`Variation`, cached.

    Every cell runs with ``seed = v.seed`` (the seed contract: common random numbers across
    cells, and the same market as every other experiment with this seed)."""

    def __init__(self, base: MarketParams, settings: Settings, n: int, n_portfolio: int):
        self.base, self.s, self.n, self.n_portfolio = base, settings, n, n_portfolio
        self.phi = settings.gamma * base.sigma**2 / 2     # CJ penalty matching CARA gamma
        self.comparisons = comparisons(settings)
        self.rows: dict[tuple[Variation, int], list[dict]] = {}
        self.cells: dict[tuple[Variation, str, str], pd.DataFrame] = {}

    def latency_world(self, lag: float) -> str:
        return "latency" if lag == self.s.latency else f"latency:{float(lag)!r}"

    def rho_world(self, rho: float) -> str:
        return {self.s.correlation: "rho", 0.0: "rho_0"}.get(rho, f"rho:{float(rho)!r}")

    def world(self, name: str, v: Variation):
        """``(params, market_factory or None, correlation or None)`` of a world."""
        s, p = self.s, v.market(self.base)
        if name == "jumps":      # jump variance per unit time lambda J^2 = share sigma^2
            share = s.jump_variance_share
            return p.replace(sigma=p.sigma * math.sqrt(1 - share),
                             jump_intensity=s.jump_intensity,
                             jump_std=p.sigma * math.sqrt(share / s.jump_intensity)), None, None
        if name == "stochastic_vol":
            return p.replace(vol_of_vol=s.vol_of_vol,
                             vol_mean_reversion=s.vol_mean_reversion), None, None
        if name == "hawkes":     # relaxation time of one self-exciting side: 1 / (beta (1 - n))
            relaxation = 1.0 / (s.hawkes_decay * (1.0 - s.branching_ratio))
            fills = hawkes_fill_model(p, branching_ratio=s.branching_ratio,
                                      decay=s.hawkes_decay,
                                      burn_in=s.hawkes_burn_in * relaxation)
            return p, market_with(fill_model=fills), None
        if name.startswith("latency"):
            lag = s.latency if name == "latency" else float(name.split(":")[1])
            return p, market_with(latency=QuoteLatency(lag)), None
        if name == "impact":
            return p.replace(impact=s.impact), None, None
        if name == "bounded":
            return p.replace(max_inventory=float(s.inventory_bound)), None, None
        if name.startswith("rho"):
            rho = {"rho": s.correlation, "rho_0": 0.0}.get(name)
            return p, None, float(name.split(":")[1]) if rho is None else rho
        return p, None, None                                  # "gaussian": the AS model

    def policy(self, key: str, p: MarketParams, correlation: float | None):
        g = self.s.gamma
        if key == "as":                        # the policies believe in the base model
            return AvellanedaStoikovPolicy.from_env(self.base, g)
        if key == "symmetric":
            return SymmetricPolicy.from_env(self.base, g)
        if key == "glft":
            return GLFTPolicy.from_env(p, gamma=g)
        if key == "cj":
            return CarteaJaimungalPolicy.from_env(p, phi=self.phi)
        if key == "independent":
            return IndependentMakers([GLFTAsymptoticPolicy.from_env(p, g)] * 2)
        return GueantPolicy.from_markets([p, p], correlation, g)

    def cell(self, v: Variation, world: str, policy: str) -> pd.DataFrame:
        """Per path: ``pnl``, ``inventory`` (terminal), ``fills``, ``adverse_selection`` and
        ``penalty`` (``int q^2 dt``, bounded world only); simulated once per run."""
        key = (v, world, policy)
        if key not in self.cells:
            self.cells[key] = self._simulate(v, world, policy)
        return self.cells[key]

    def _simulate(self, v: Variation, world: str, policy: str) -> pd.DataFrame:
        p, factory, rho = self.world(world, v)
        agent = self.policy(policy, p, rho)
        if rho is not None:
            frame = rollout_portfolio(agent, [p, p], rho, n_paths=v.paths(self.n_portfolio),
                                      seed=v.seed)
            total = frame.groupby("path")[["terminal_pnl", "terminal_inventory", "fills",
                                           "adverse_selection"]].sum()
            return pd.DataFrame({"pnl": total["terminal_pnl"].to_numpy(),
                                 "inventory": total["terminal_inventory"].to_numpy(),
                                 "fills": total["fills"].to_numpy(),
                                 "adverse_selection": total["adverse_selection"].to_numpy()})
        observers = [RunningPenalty] if world == "bounded" else []
        result = rollout(agent, p, n_paths=v.paths(self.n), seed=v.seed,
                         market_factory=factory, observers=observers)
        df = result.paths
        out = pd.DataFrame({"pnl": df["terminal_pnl"].to_numpy(),
                            "inventory": df["terminal_inventory"].to_numpy(),
                            "fills": df["fills"].to_numpy(),
                            "adverse_selection": df["adverse_selection"].to_numpy()})
        if observers:
            out["penalty"] = np.concatenate(result.observed[0])
        return out


# --- paired statistics ---------------------------------------------------------------------------
def _tail(loss_sorted: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """VaR and CVaR of rows of sorted losses, as :func:`experiments.stats.value_at_risk`."""
    n = loss_sorted.shape[-1]
    rank = min(max(math.ceil(n * level - 1e-9), 1), n)
    edges = np.arange(n + 1) / n
    overlap = np.clip(edges[1:] - np.maximum(edges[:-1], level), 0.0, None)
    return loss_sorted[..., rank - 1], loss_sorted @ overlap / (1.0 - level)


def _statistics(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The bootstrapped metrics of per-path arrays (last axis: paths)."""
    var, cvar = _tail(np.sort(-d["pnl"], axis=-1), 0.99)
    return {"std_pnl": d["pnl"].std(axis=-1, ddof=1), "var99": var, "cvar99": cvar,
            "inventory_std": d["inventory"].std(axis=-1, ddof=1),
            "adverse_selection_per_fill": (d["adverse_selection"].sum(axis=-1)
                                           / d["fills"].sum(axis=-1))}


def paired(base: pd.DataFrame, stressed: pd.DataFrame, *, gamma: float, phi: float,
           bootstrap: int, rng: np.random.Generator) -> dict[str, dict]:
    """Per metric: ``base``, ``stressed``, ``diff`` (stressed - base) and the diff's 95% CI
    from the paired paths (module docstring), ``reliable`` and ``note`` (the CE's)."""
    if len(base) != len(stressed):
        raise ValueError(f"stressed must have the paths of base ({len(base)}), got "
                         f"{len(stressed)}")
    out = {}
    means = {"mean_pnl": lambda d: d["pnl"], "mean_fills": lambda d: d["fills"]}
    if "penalty" in base:
        means["penalised_mean"] = lambda d: d["pnl"] - phi * d["penalty"]
    for metric, column in means.items():
        b, s = column(base).to_numpy(), column(stressed).to_numpy()
        d = mean_ci(s - b)
        out[metric] = {"base": float(b.mean()), "stressed": float(s.mean()), "diff": d["mean"],
                       "diff_ci_low": d["ci_low"], "diff_ci_high": d["ci_high"]}
    b, s = base["pnl"].to_numpy(), stressed["pnl"].to_numpy()
    cb, cs = certainty_equivalent(b, gamma), certainty_equivalent(s, gamma)
    reliable = bool(cb["reliable"] and cs["reliable"])
    # Delta method on the paired weights w = exp(-gamma PnL): se of -ln(mean w_s / mean w_b).
    wb, ws = np.exp(-gamma * (b - b.min())), np.exp(-gamma * (s - s.min()))
    se = float((ws / ws.mean() - wb / wb.mean()).std(ddof=1) / math.sqrt(b.size) / gamma)
    diff, half = cs["ce"] - cb["ce"], Z95 * se if reliable else math.nan
    out["ce"] = {"base": cb["ce"], "stressed": cs["ce"], "diff": diff,
                 "diff_ci_low": diff - half, "diff_ci_high": diff + half, "reliable": reliable,
                 "note": "; ".join(f"{name}: {c['reason']}" for name, c in
                                   (("base", cb), ("stressed", cs)) if not c["reliable"])}
    arrays = [{k: frame[k].to_numpy() for k in ("pnl", "inventory", "fills",
                                                 "adverse_selection")}
              for frame in (base, stressed)]
    point = [_statistics(a) for a in arrays]
    idx = rng.integers(0, len(base), (bootstrap, len(base)))
    boot = [_statistics({k: v[idx] for k, v in a.items()}) for a in arrays]
    for metric in point[0]:
        diff = float(point[1][metric] - point[0][metric])
        half = Z95 * float(np.std(boot[1][metric] - boot[0][metric], ddof=1))
        out[metric] = {"base": float(point[0][metric]), "stressed": float(point[1][metric]),
                       "diff": diff, "diff_ci_low": diff - half, "diff_ci_high": diff + half}
    return {m: {"reliable": True, "note": "", **out[m]} for m in METRICS if m in out}


def block_rows(sims: Simulations, v: Variation, index: int) -> list[dict]:
    """The table rows of comparison ``index`` at a variation (cached)."""
    key = (v, index)
    if key not in sims.rows:
        c = sims.comparisons[index]
        base, stressed = sims.cell(v, *c.base), sims.cell(v, *c.stressed)
        # The bootstrap's resampling is randomness of its own, not the market's: a generator
        # per comparison, from the variation's seed.
        stats = paired(base, stressed, gamma=sims.s.gamma, phi=sims.phi,
                       bootstrap=sims.s.bootstrap, rng=v.rng(17, index))
        sims.rows[key] = [{"assumption": c.assumption, "variant": c.variant,
                           "policy": c.policy, "metric": metric, "base_label": c.base_label,
                           "stressed_label": c.stressed_label, **row, "paths": len(base)}
                          for metric, row in stats.items()]
    return sims.rows[key]


# --- the experiment ------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    base = ctx.market(settings.market)
    sims = Simulations(base, settings, ctx.paths(settings.paths),
                       ctx.paths(settings.portfolio_paths))
    blocks, v0 = sims.comparisons, ctx.variation()
    with ctx.progress(len(blocks), "comparisons") as bar:
        rows = []
        for i in range(len(blocks)):
            rows += block_rows(sims, v0, i)
            bar.update(1)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    ctx.table(table, "assumptions", "Each assumption, base model against the broken one "
              "(stressed - base, 95% CI)",
              "Price units (fills: per path). One row per comparison: stressed minus base on "
              "the same paths; a CE difference has an interval only when both CEs are "
              "reliable (column `reliable`; `note` says why not). Inventory std: of the "
              "terminal inventory (a portfolio's: the sum over assets); it changes by exactly "
              "0 where both cells fill alike: these quotes do not depend on the mid, and "
              "jumps, stochastic volatility and impact move only the mid. A stale quote's "
              "cost shows in spread capture (fills at stale prices), not in adverse selection, "
              "which measures the mid's move after a fill. The CSV has every "
              "metric with base and stressed values (and fills, and the penalised objective "
              "of the utility block).", display=_display(table))

    # --- findings ---
    def diff(index: int, metric: str):
        def estimate(v: Variation) -> Estimate:
            row = next(r for r in block_rows(sims, v, index) if r["metric"] == metric)
            return Estimate(row["diff"], row["diff_ci_low"], row["diff_ci_high"])
        return estimate

    def find(assumption: str, variant: str, policy: str) -> int:
        return next(i for i, c in enumerate(blocks) if (c.assumption, c.variant, c.policy)
                    == (assumption, variant, policy))

    robust = {"robustness_paths": settings.robustness_paths, "section": "assumptions",
              "unit": "price units"}
    for variant, fid, text in (("jumps", "jumps_tail_risk", "jumps carrying {share} of the "
                                "mid's variance (same total variance)"),
                               ("stochastic volatility", "stochastic_volatility_tail_risk",
                                "stochastic volatility (vol of vol {vov}, mean variance "
                                "sigma^2)")):
        text = text.format(share=f"{settings.jump_variance_share:.0%}",
                           vov=f"{settings.vol_of_vol:g}")
        ctx.finding(fid, rule=Above(0.0), estimate=diff(find("price_dynamics", variant, "AS"),
                                                         "cvar99"),
                    statement=f"Said to underestimate tail risk: with {text}, AS's 99% CVaR "
                              "of terminal PnL (a loss) changes by {value:+.2f} [{ci_low:+.2f}"
                              ", {ci_high:+.2f}] {unit} against the Gaussian mid (CI above 0: "
                              "the Gaussian model understates the tail).",
                    statistic=f"CVaR 99%, {variant} - Gaussian mid, AS", **robust)

    def utility_loss(metric: str, sign: float):
        def estimate(v: Variation) -> Estimate:
            index = find("utility", "running quadratic penalty", "GLFT -> CJ")
            row = next(r for r in block_rows(sims, v, index) if r["metric"] == metric)
            optimum = row["base"] if sign > 0 else row["stressed"]
            scale = sign / abs(optimum)
            low, high = sorted((row["diff_ci_low"] * -scale, row["diff_ci_high"] * -scale))
            return Estimate(row["diff"] * -scale, low, high)
        return estimate

    phi_text = f"phi = gamma sigma^2 / 2 = {sims.phi:g}"
    ctx.finding("utility_cara_shortfall", rule=Below(0.01), estimate=utility_loss("ce", 1.0),
                section="assumptions", robustness_paths=settings.robustness_paths,
                statement="Exponential utility: the optimal policy of a running quadratic "
                          f"penalty ({phi_text}) loses {{value:.2%}} [{{ci_low:.2%}}, "
                          "{ci_high:.2%}] of the CARA-optimal GLFT policy's certainty "
                          "equivalent (CI below 1%: the choice of utility is innocuous here).",
                statistic="(CE GLFT - CE CJ) / |CE GLFT| at gamma")
    ctx.finding("utility_penalty_shortfall", rule=Below(0.01),
                estimate=utility_loss("penalised_mean", -1.0), section="assumptions",
                robustness_paths=settings.robustness_paths,
                statement="Scored by the running-penalty criterion E[PnL - phi int q^2 dt], the "
                          "CARA-optimal GLFT policy loses {value:.2%} [{ci_low:.2%}, "
                          "{ci_high:.2%}] of the penalty-optimal (CJ) value (CI below 1%: "
                          "innocuous).",
                statistic="(J CJ - J GLFT) / |J CJ|, J = mean(PnL - phi int q^2 dt)")
    ctx.finding("hawkes_pnl_risk", rule=Above(0.0),
                estimate=diff(find("order_flow", "Hawkes flow", "AS"), "std_pnl"),
                statement="Said to miss regime changes: with self-exciting (Hawkes) order "
                          f"flow of the same mean rate (branching ratio "
                          f"{settings.branching_ratio:g}), the std of AS's terminal PnL "
                          "changes by {value:+.2f} [{ci_low:+.2f}, {ci_high:+.2f}] {unit} "
                          "(CI above 0: the Poisson model misses risk).",
                statistic="std PnL, Hawkes - Poisson flow, AS", **robust)
    ctx.finding("latency_cost", rule=Below(0.0),
                estimate=diff(find("latency", f"latency {settings.latency:g}", "AS"),
                              "mean_pnl"),
                statement=f"Stale quotes: when AS's quotes rest {settings.latency:g} time "
                          "units after they are decided, at the price decided, its mean PnL "
                          "changes by {value:+.2f} [{ci_low:+.2f}, {ci_high:+.2f}] {unit} "
                          "(CI below 0: latency costs money).",
                statistic=f"mean PnL, latency {settings.latency:g} - none, AS", **robust)
    control = next(r for r in rows if r["variant"] == "hedging at correlation 0"
                   and r["metric"] == "mean_pnl")
    ctx.finding("zero_correlation_control", rule=Near(0.0, 0.01), section="assumptions",
                unit="price units",
                base=Estimate(control["diff"], control["diff_ci_low"], control["diff_ci_high"]),
                statement="Control: with uncorrelated assets the Guéant portfolio maker and two "
                          "independent single-asset GLFT makers differ in mean portfolio PnL "
                          "by {value:.2g} [{ci_low:.2g}, {ci_high:.2g}] {unit} on the same "
                          "paths (CI within 0.01: the portfolio machinery adds nothing).",
                statistic="mean portfolio PnL, portfolio - independent makers, correlation 0")
    ctx.finding("hedging_gain", rule=Above(0.0),
                estimate=diff(find("single_asset", f"hedging at correlation "
                                   f"{settings.correlation:g}", "independent -> portfolio"),
                              "ce"),
                statement="Said to ignore hedging: on two assets with correlation "
                          f"{settings.correlation:g}, the portfolio maker's certainty "
                          "equivalent (the CARA criterion both makers optimise) exceeds that "
                          "of independent single-asset makers by {value:+.2f} [{ci_low:+.2f}, "
                          "{ci_high:+.2f}] {unit} (CI above 0: hedging across assets pays).",
                statistic=f"CE of portfolio PnL at gamma, portfolio - independent makers, "
                          f"correlation {settings.correlation:g}", **robust)
    ctx.finding("impact_adverse_selection", rule=Below(0.0),
                estimate=diff(find("adverse_selection", f"impact {settings.impact:g}", "AS"),
                              "adverse_selection_per_fill"),
                statement="Said to underestimate the cost of adverse selection: with a "
                          f"permanent impact of {settings.impact:g} per share filled, AS's "
                          "adverse selection per fill changes by {value:+.3f} [{ci_low:+.3f}, "
                          "{ci_high:+.3f}] {unit} (the AS model: 0; CI below 0: a cost the "
                          "model does not see, which does not vanish at dt / 4).",
                statistic="adverse selection per fill, impact - none, AS", **robust)

    # --- figures ---
    ctx.figure(_effects(table), "assumptions_effects", "Change in mean, std and tail of PnL",
               "Stressed minus base on the same paths, 95% CIs, per comparison (rows) and "
               "metric (panels); right of 0 a larger value than in the base model.")
    # --quick thins the sweeps to the cells the table already has.
    lags = (settings.latency,) if ctx.quick else settings.latency_sweep
    rhos = (0.0, settings.correlation) if ctx.quick else settings.correlation_sweep
    ctx.figure(_sweeps(sims, v0, lags, rhos), "assumptions_sweeps",
               "Latency and correlation, swept",
               "Left: mean PnL with quotes resting after a latency, minus without, on the "
               "same paths, 95% CIs. Right: the portfolio maker minus independent "
               "single-asset makers on two assets, by correlation, on the same paths: "
               "certainty equivalent (delta method; no interval where a CE is unreliable) "
               "and std of portfolio PnL (paired bootstrap), 95% CIs.")


# --- tables and figures ---------------------------------------------------------------------
_DISPLAY = ("mean_pnl", "std_pnl", "ce", "var99", "cvar99", "inventory_std",
            "adverse_selection_per_fill")


def _display(table: pd.DataFrame) -> pd.DataFrame:
    cells = table.assign(text=[format_ci(r.diff, r.diff_ci_low, r.diff_ci_high,
                                         3 if r.metric == "adverse_selection_per_fill" else 2)
                               for r in table.itertuples()])
    keys = ["assumption", "variant", "policy"]
    wide = cells[cells["metric"].isin(_DISPLAY)].pivot(index=keys, columns="metric",
                                                       values="text")
    order = list(dict.fromkeys(zip(*(table[k] for k in keys), strict=True)))
    wide = wide.reindex(pd.MultiIndex.from_tuples(order, names=keys))[list(_DISPLAY)]
    return wide.rename(columns={m: f"Δ {METRICS[m]}" for m in _DISPLAY}).reset_index()


def _effects(table: pd.DataFrame):
    panels = ("mean_pnl", "std_pnl", "cvar99")
    keys = list(dict.fromkeys(zip(table["assumption"], table["variant"], table["policy"],
                                  strict=True)))
    fig, axes = plt.subplots(1, len(panels), figsize=(12.0, 0.36 * len(keys) + 1.6),
                             sharey=True)
    y = np.arange(len(keys))[::-1]
    for ax, metric in zip(axes, panels, strict=True):
        part = table[table["metric"] == metric].set_index(["assumption", "variant", "policy"])
        for yy, key in zip(y, keys, strict=True):
            r = part.loc[key]
            st = style.policy_style(key[2].split(" -> ")[-1])
            ax.errorbar(r["diff"], yy, xerr=[[r["diff"] - r["diff_ci_low"]],
                                             [r["diff_ci_high"] - r["diff"]]],
                        fmt=st.marker, color=st.color, capsize=3, ms=5)
        ax.axvline(0.0, color="k", lw=0.6)
        style.label_axes(ax, x=(f"Δ {METRICS[metric]}", "price units"))
    axes[0].set_yticks(y, [f"{a}: {v} | {p}" for a, v, p in keys], fontsize=8)
    for ax in axes:
        style.label_axes(ax, y=("comparison", ""))
        ax.yaxis.label.set_visible(ax is axes[0])
    fig.tight_layout()
    return fig


def _sweeps(sims: Simulations, v: Variation, lags, rhos):
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.0))
    for policy in ("as", "symmetric"):
        base = sims.cell(v, "gaussian", policy)["pnl"].to_numpy()
        cis = [mean_ci(sims.cell(v, sims.latency_world(lag), policy)["pnl"].to_numpy() - base)
               for lag in lags]
        style.plot_ci(left, lags, [c["mean"] for c in cis], [c["ci_low"] for c in cis],
                      [c["ci_high"] for c in cis], policy=policy, label=POLICY_LABELS[policy])
    left.axhline(0.0, color="k", lw=0.6)
    style.label_axes(left, x=("latency", "time units"), y=("Δ mean PnL", "price units"))
    left.legend(fontsize=8)
    hedge = {metric: [] for metric in ("ce", "std_pnl")}
    for i, rho in enumerate(rhos):
        stats = paired(sims.cell(v, sims.rho_world(rho), "independent"),
                       sims.cell(v, sims.rho_world(rho), "portfolio"), gamma=sims.s.gamma,
                       phi=sims.phi, bootstrap=sims.s.bootstrap, rng=v.rng(18, i))
        for metric in hedge:
            hedge[metric].append(stats[metric])
    for metric, line in (("ce", style.policy_style("portfolio")),
                         ("std_pnl", style.Style("#777777", "--", "s"))):
        r = hedge[metric]
        style.plot_ci(right, np.array(rhos, dtype=float), [x["diff"] for x in r],
                      [x["diff_ci_low"] for x in r], [x["diff_ci_high"] for x in r],
                      style=line, label=f"Δ {METRICS[metric]}")
    right.axhline(0.0, color="k", lw=0.6)
    style.label_axes(right, x=("correlation", ""),
                     y=("portfolio - independent makers", "price units"))
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig
