"""Baseline Monte Carlo: the Avellaneda–Stoikov inventory strategy against the symmetric and
constant-spread strategies on the AS 2008 market, as distributions over paths.

Every policy is rolled out with :func:`asmm_env.rollout.rollout` from the same seed, so all
policies see common random numbers: the same midprice paths and the same fill draws (the fill
model draws one exponential per quote and step whatever the depth), and differences between
policies are measured path by path (paired), not only between independent samples.

Policies are built from :data:`POLICIES` (key -> :class:`PolicySpec`); the config's
``experiments.baseline.policies`` picks which rows to show. To add a policy (e.g. GLFT) add
one ``PolicySpec`` to ``POLICIES`` and its key to the config list; ``pnl_decomposition``
uses the same registry.

Definitions used in the tables (money in price units x shares):

* terminal PnL: ``cash_T + q_T S_T`` minus the initial value (inventory marked at the mid);
* Sharpe (terminal): mean / std of terminal PnL across paths (no annualisation);
* Sharpe (per step): mean / std of the per-step PnL increments ``PnL_{t+dt} - PnL_t``, pooled
  over all steps of the recorded paths (the first ``record_paths`` paths);
* certainty equivalent: ``-ln E[exp(-gamma PnL_T)] / gamma``, the CARA objective that the AS
  strategy maximises (approximately), with a delta-method CI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.analytic.avellaneda_stoikov import average_spread
from asmm_env.params import MarketParams
from asmm_env.rollout import RolloutResult, rollout
from asmm_env.validation import check_positive, check_positive_int
from baselines import (
    AvellanedaStoikovPolicy,
    ConstantSpreadPolicy,
    GLFTPolicy,
    Policy,
    SymmetricPolicy,
)
from experiments.framework import Context
from experiments.stats import Z95, certainty_equivalent, format_ci, mean_ci, sharpe

TITLE = "Baseline Monte Carlo: AS inventory strategy vs symmetric and constant spread"


# --- the policies ------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicySpec:
    """How to build one policy of the comparison.

    ``build(params, gamma) -> Policy``; ``describe(params, gamma) -> str`` states its quotes
    (with the numbers) for the report.
    """

    key: str
    label: str
    build: Callable[[MarketParams, float], Policy]
    describe: Callable[[MarketParams, float], str]


def _as_half_spread(params: MarketParams, gamma: float) -> float:
    """``(1 / gamma) ln(1 + gamma / k)``: the AS half-spread without the time term, price units."""
    return math.log1p(gamma / params.k) / gamma


def _describe_as(p: MarketParams, g: float) -> str:
    start = g * p.sigma**2 * p.T + 2 * _as_half_spread(p, g)
    return ("quotes r -/+ spread/2 around the reservation price r = s - q gamma sigma^2 (T - t), "
            "spread = gamma sigma^2 (T - t) + (2/gamma) ln(1 + gamma/k) (from "
            f"{start:.3f} at t = 0 to {2 * _as_half_spread(p, g):.3f} at T)")


def _describe_symmetric(p: MarketParams, g: float) -> str:
    spread = average_spread(gamma=g, sigma=p.sigma, k=p.k, T=p.T)
    return (f"mid -/+ half of the AS spread averaged over [0, T], {spread:.3f}, whatever the "
            "inventory (AS 2008's symmetric strategy)")


def _describe_constant(p: MarketParams, g: float) -> str:
    return (f"mid -/+ (1/gamma) ln(1 + gamma/k) = {_as_half_spread(p, g):.3f} on each side: the "
            "AS half-spread without the time term (AS's own quote at t = T with q = 0, and the "
            "spread the AS 2008 tables report), held all session")


GLFT_Q = 25
"""GLFT's inventory bound (orders) when the market has none: the AS 2008 paths never reach it."""


def _glft(p: MarketParams, g: float) -> GLFTPolicy:
    return GLFTPolicy.from_env(p, gamma=g, Q=None if p.max_inventory is not None else GLFT_Q)


def _describe_glft(p: MarketParams, g: float) -> str:
    policy = _glft(p, g)
    low, high = policy.depth_range
    return (f"GLFT (2013) exact quotes for inventory in [-Q, Q], Q = {policy.Q}: "
            "ln(v_q/v_(q+/-1))/k + ln(1 + gamma/k)/gamma with v(t) = exp(-M (T - t)) 1, depths "
            f"from {low:.3f} to {high:.3f}, no bid at +Q and no ask at -Q"
            + ("" if p.max_inventory is not None else
               " (the market has no max_inventory: at +/-Q the policy quotes at depth_bound, "
               "which essentially never fills)"))


POLICIES: dict[str, PolicySpec] = {
    "as": PolicySpec("as", "AS inventory",
                     lambda p, g: AvellanedaStoikovPolicy.from_env(p, g), _describe_as),
    "glft": PolicySpec("glft", "GLFT exact", _glft, _describe_glft),
    "symmetric": PolicySpec("symmetric", "symmetric",
                            lambda p, g: SymmetricPolicy.from_env(p, g), _describe_symmetric),
    "constant": PolicySpec("constant", "constant spread",
                           lambda p, g: ConstantSpreadPolicy.from_env(p, _as_half_spread(p, g)),
                           _describe_constant),
}
"""The policies the baseline (and pnl_decomposition) experiments can compare, by config key."""


def build_policies(keys: tuple[str, ...], params: MarketParams,
                   gamma: float) -> list[tuple[PolicySpec, Policy]]:
    """The policies ``keys`` (from :data:`POLICIES`) for a market and risk aversion."""
    return [(POLICIES[key], POLICIES[key].build(params, gamma)) for key in keys]


def check_policy_keys(keys: tuple[str, ...]) -> None:
    """Validate a ``policies`` setting: a non-empty list of distinct keys of POLICIES."""
    if not isinstance(keys, tuple) or not keys:
        raise ValueError(f"policies must be a non-empty list of {sorted(POLICIES)}, got {keys!r}")
    unknown = [k for k in keys if k not in POLICIES]
    if unknown:
        raise ValueError(f"policies must be a list of {sorted(POLICIES)}, got unknown {unknown}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"policies must not repeat a policy, got {list(keys)}")


# --- settings ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.baseline`` in the config.

    market : name of a market in ``markets``.
    paths : Monte Carlo paths per policy (>= 1).
    gamma : risk aversion of the AS strategy (and of the spreads derived from it), 1 / money.
    policies : keys of :data:`POLICIES`, in table order (the first is the reference of the
        paired differences).
    record_paths : full trajectories kept for the fan chart and the per-step Sharpe (>= 1).
    sample_path : index (among the recorded paths) of the path drawn for intuition.
    bins : histogram bins.
    """

    market: str = "as2008"
    paths: int = 10_000
    gamma: float = 0.1
    policies: tuple[str, ...] = ("as", "symmetric", "constant")
    record_paths: int = 2_000
    sample_path: int = 0
    bins: int = 60

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        check_positive("gamma", self.gamma)
        check_policy_keys(self.policies)
        check_positive_int("record_paths", self.record_paths)
        if not isinstance(self.sample_path, int) or not 0 <= self.sample_path:
            raise ValueError(f"sample_path must be an integer >= 0, got {self.sample_path!r}")
        check_positive_int("bins", self.bins)


# --- run -----------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    params = ctx.market(settings.market)
    n = ctx.paths(settings.paths)
    record = min(settings.record_paths, n)
    if settings.sample_path >= record:
        raise ValueError(f"experiments.baseline.sample_path must be < the recorded paths "
                         f"({record}), got {settings.sample_path}")
    policies = build_policies(settings.policies, params, settings.gamma)
    seed = ctx.seed_for(0)            # one seed for every policy: common random numbers
    results: dict[str, RolloutResult] = {}
    with ctx.progress(n * len(policies), "rollouts") as bar:
        for spec, policy in policies:
            results[spec.key] = rollout(policy, params, n_paths=n, seed=seed,
                                        record_paths=record, progress=bar.update)
    specs = [spec for spec, _ in policies]
    mids = [results[s.key].trajectories["mid"] for s in specs]
    same_paths = all(np.array_equal(mids[0], m) for m in mids[1:])
    common_fills, n_compared = _common_fill_draws(specs, results)

    ctx.paragraph(
        f"Market `{settings.market}`: S0 = {params.s0:g}, sigma = {params.sigma:g}, A = "
        f"{params.A:g}, k = {params.k:g}, T = {params.T:g}, dt = {params.dt:g} "
        f"({params.n_steps} steps), q0 = {params.q0:g}, {params.price_dynamics} mid "
        f"increments, {params.fill_rule} fill probability; gamma = "
        f"{settings.gamma:g}; {n:,} paths per policy. Policies: "
        + "; ".join(f"**{s.label}**: {s.describe(params, settings.gamma)}" for s in specs)
        + ". Every policy is rolled out from the same seed (common random numbers): "
        + ("the recorded midprice paths are identical across policies (checked)"
           if same_paths else "WARNING: the recorded midprice paths differ across policies")
        + (" and the fill draws are common: wherever one policy quoted at least as close to "
           "the mid as another on the same path, step and side, it was filled whenever the "
           f"other was ({n_compared:,} such comparisons on the recorded paths, no exception)"
           if common_fills else " but the fill draws are NOT common (a deeper quote was "
           "filled where a closer one was not)")
        + (", so differences between rows are paired, path by path."
           if same_paths and common_fills else "; treat the rows as independent samples."),
        title="Setup")

    summary = _summary(specs, results, settings.gamma, params)
    ctx.table(summary, "baseline_summary", "Terminal PnL, Sharpe and inventory by policy",
              _summary_reading(summary, record), display=_summary_display(summary))

    paired = _paired(specs, results)
    if not paired.empty:
        ctx.table(paired, "baseline_paired", f"Paired differences against {specs[0].label}",
                  _paired_reading(paired, specs[0].label), display=_paired_display(paired))

    ctx.figure(_histogram(specs, results, settings.bins), "baseline_pnl_hist",
               "Terminal PnL distributions",
               _histogram_reading(summary, n))
    ctx.figure(_fan(specs, results, params), "baseline_inventory_fan",
               "Inventory over time: quantile bands",
               _fan_reading(specs, results, record))
    ctx.figure(_sample_path(specs, results, settings.sample_path), "baseline_sample_path",
               "One sample path (for intuition only)",
               f"Path {settings.sample_path} of the recorded paths, the same midprice for every "
               "policy: the quotes (thin lines) and the inventory. A single path illustrates the "
               "mechanics (the AS quotes shift against the inventory, the symmetric ones do "
               "not); the tables and the other figures give the distributions.")


def _common_fill_draws(specs, results) -> tuple[bool, int]:
    """Whether the policies shared their fill draws on the recorded paths.

    With one uniform per quote and step shared by all policies, a quote fills iff the draw is
    below a probability decreasing in the depth, so on the same path, step and side a quote at
    least as close to the mid must fill whenever a deeper one does. Independent draws break
    this on a large fraction of the comparisons.
    """
    n_compared, ok = 0, True
    trajectories = [results[s.key].trajectories for s in specs]
    for i, a in enumerate(trajectories):
        for b in trajectories[i + 1:]:
            for side, name in enumerate(("bid_depth", "ask_depth")):
                depth_a, depth_b = a[name][..., 0], b[name][..., 0]
                fill_a, fill_b = a["fills"][..., 0, side] > 0, b["fills"][..., 0, side] > 0
                closer_a = depth_a <= depth_b
                closer_b = depth_b <= depth_a
                n_compared += int(closer_a.sum() + closer_b.sum())
                ok &= not np.any(closer_a & fill_b & ~fill_a)
                ok &= not np.any(closer_b & fill_a & ~fill_b)
    return bool(ok), n_compared


def _summary(specs, results, gamma: float, params: MarketParams) -> pd.DataFrame:
    rows = []
    for spec in specs:
        res = results[spec.key]
        df = res.paths
        pnl = df["terminal_pnl"].to_numpy()
        m = mean_ci(pnl)
        ce = certainty_equivalent(pnl, gamma)
        steps = np.diff(res.trajectories["pnl"][:, :, 0], axis=0).ravel()
        q = mean_ci(df["terminal_inventory"])
        rows.append({
            "policy": spec.label, "paths": m["n"],
            "quoted_spread": float(np.mean(res.inside_spread_mean)),
            "mean_pnl": m["mean"], "std_pnl": m["std"], "se_pnl": m["se"],
            "pnl_ci_low": m["ci_low"], "pnl_ci_high": m["ci_high"],
            "sharpe_terminal": sharpe(pnl), "sharpe_step": sharpe(steps),
            "sharpe_step_x_sqrt_steps": sharpe(steps) * math.sqrt(params.n_steps),
            "recorded_paths": res.trajectories["pnl"].shape[1],
            "certainty_equivalent": ce["ce"], "ce_ci_low": ce["ci_low"],
            "ce_ci_high": ce["ci_high"],
            "mean_terminal_q": q["mean"], "std_terminal_q": q["std"],
            "mean_max_abs_q": float(df["max_abs_inventory"].mean()),
            "mean_bid_fills": float(df["bid_fills"].mean()),
            "mean_ask_fills": float(df["ask_fills"].mean()),
            "mean_fills": float(df["fills"].mean()),
        })
    return pd.DataFrame(rows)


def _summary_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy": s["policy"],
        "quoted spread": s["quoted_spread"].map("{:.3f}".format),
        "mean PnL [95% CI]": [format_ci(r.mean_pnl, r.pnl_ci_low, r.pnl_ci_high)
                              for r in s.itertuples()],
        "std PnL": s["std_pnl"].map("{:.2f}".format),
        "Sharpe (terminal)": s["sharpe_terminal"].map("{:.2f}".format),
        "Sharpe (per step)": s["sharpe_step"].map("{:.4f}".format),
        "CE [95% CI]": [format_ci(r.certainty_equivalent, r.ce_ci_low, r.ce_ci_high)
                        for r in s.itertuples()],
        "mean q_T": s["mean_terminal_q"].map("{:.3f}".format),
        "std q_T": s["std_terminal_q"].map("{:.2f}".format),
        "mean max abs(q)": s["mean_max_abs_q"].map("{:.2f}".format),
        "bid / ask fills": [f"{r.mean_bid_fills:.1f} / {r.mean_ask_fills:.1f}"
                            for r in s.itertuples()],
    })


def _summary_reading(s: pd.DataFrame, record: int) -> str:
    best_mean = s.loc[s["mean_pnl"].idxmax()]
    best_sharpe = s.loc[s["sharpe_terminal"].idxmax()]
    best_ce = s.loc[s["certainty_equivalent"].idxmax()]
    least_q = s.loc[s["std_terminal_q"].idxmin()]
    most_q = s.loc[s["std_terminal_q"].idxmax()]
    ratio = s["sharpe_terminal"] / s["sharpe_step_x_sqrt_steps"]
    return (
        f"Highest mean terminal PnL: {best_mean.policy} ({best_mean.mean_pnl:.2f}); highest "
        f"Sharpe (terminal): {best_sharpe.policy} ({best_sharpe.sharpe_terminal:.2f}); highest "
        f"certainty equivalent at the AS gamma: {best_ce.policy} "
        f"({best_ce.certainty_equivalent:.2f}). Terminal inventory std ranges from "
        f"{least_q.std_terminal_q:.2f} ({least_q.policy}) to {most_q.std_terminal_q:.2f} "
        f"({most_q.policy}). Sharpe (terminal) is mean/std of terminal PnL across the "
        f"{int(s['paths'].iloc[0]):,} paths; Sharpe (per step) is mean/std of the per-step PnL "
        f"increments pooled over all steps of the first {record:,} recorded paths. If the "
        f"increments were independent and identically distributed the terminal Sharpe would "
        f"be sqrt(steps) times the per-step one; the measured ratio terminal / (sqrt(steps) x "
        f"per-step) is "
        + ", ".join(f"{r:.2f} ({p})" for p, r in zip(s["policy"], ratio, strict=True))
        + " (a ratio above 1 means the increments are negatively autocorrelated in aggregate, "
          "below 1 positively). The quoted spread is the time "
          "average of ask depth + bid depth over all paths and steps. CE: certainty "
          "equivalent -ln E[exp(-gamma PnL)]/gamma with a delta-method 95% CI."
    )


def _paired(specs, results) -> pd.DataFrame:
    ref = specs[0]
    base = results[ref.key].paths["terminal_pnl"].to_numpy()
    rows = []
    for spec in specs[1:]:
        other = results[spec.key].paths["terminal_pnl"].to_numpy()
        d = mean_ci(other - base)
        unpaired_se = math.sqrt(other.var(ddof=1) / other.size + base.var(ddof=1) / base.size)
        rows.append({
            "policy": spec.label, "reference": ref.label,
            "mean_pnl_difference": d["mean"], "paired_se": d["se"],
            "ci_low": d["ci_low"], "ci_high": d["ci_high"],
            "z": d["mean"] / d["se"] if d["se"] > 0 else float("nan"),
            "unpaired_se": unpaired_se,
            "variance_reduction": (unpaired_se / d["se"]) ** 2 if d["se"] > 0 else float("nan"),
            "std_ratio": float(other.std(ddof=1) / base.std(ddof=1)),
        })
    return pd.DataFrame(rows)


def _paired_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "policy - reference": [f"{r.policy} - {r.reference}" for r in p.itertuples()],
        "mean PnL difference [95% CI]": [format_ci(r.mean_pnl_difference, r.ci_low, r.ci_high)
                                         for r in p.itertuples()],
        "z": p["z"].map("{:.1f}".format),
        "paired s.e.": p["paired_se"].map("{:.3f}".format),
        "unpaired s.e.": p["unpaired_se"].map("{:.3f}".format),
        "variance reduction": p["variance_reduction"].map("{:.1f}x".format),
        "std PnL ratio": p["std_ratio"].map("{:.2f}".format),
    })


def _paired_reading(p: pd.DataFrame, ref: str) -> str:
    parts = []
    for r in p.itertuples():
        if abs(r.z) < Z95:
            verdict = "not distinguishable from zero at 95%"
        else:
            verdict = ("higher" if r.mean_pnl_difference > 0 else "lower") + \
                f" by {abs(r.z):.1f} paired s.e."
        parts.append(f"{r.policy} minus {ref}: {r.mean_pnl_difference:+.2f} "
                     f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}] ({verdict}); its PnL std is "
                     f"{r.std_ratio:.2f}x the reference's")
    return ("; ".join(parts) + ". Because every policy runs on the same random numbers, the "
            "difference is measured path by path: the paired standard error is smaller than "
            "the unpaired one (two independent samples) by the variance-reduction factor shown.")


# --- figures -----------------------------------------------------------------------------
_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def _histogram(specs, results, bins: int):
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    pooled = np.concatenate([results[s.key].paths["terminal_pnl"].to_numpy() for s in specs])
    lo, hi = np.quantile(pooled, [0.001, 0.999])
    edges = np.linspace(lo, hi, bins + 1)
    for color, spec in zip(_COLORS, specs, strict=False):
        pnl = results[spec.key].paths["terminal_pnl"].to_numpy()
        ax.hist(pnl, bins=edges, histtype="step", density=True, lw=1.6, color=color,
                label=f"{spec.label} (mean {pnl.mean():.1f}, std {pnl.std(ddof=1):.1f})")
        ax.axvline(pnl.mean(), color=color, ls=":", lw=1)
    ax.set_xlabel("terminal PnL (price units x shares)")
    ax.set_ylabel("density")
    ax.set_title(f"Terminal PnL over {len(pooled) // len(specs):,} paths per policy "
                 "(0.1%-99.9% range shown)")
    ax.legend(fontsize=8)
    return fig


def _histogram_reading(s: pd.DataFrame, n: int) -> str:
    narrow = s.loc[s["std_pnl"].idxmin()]
    wide = s.loc[s["std_pnl"].idxmax()]
    high = s.loc[s["mean_pnl"].idxmax()]
    text = (f"Histograms of terminal PnL over {n:,} paths per policy (dotted lines: means). "
            f"{narrow.policy} has the narrowest distribution (std {narrow.std_pnl:.2f}), "
            f"{wide.policy} the widest (std {wide.std_pnl:.2f}, "
            f"{wide.std_pnl / narrow.std_pnl:.1f}x). ")
    if high.policy == narrow.policy:
        return text + f"{narrow.policy} also has the highest mean ({high.mean_pnl:.2f})."
    return text + (f"The highest mean is {high.policy}'s ({high.mean_pnl:.2f}, "
                   f"{high.mean_pnl - narrow.mean_pnl:+.2f} against {narrow.policy}): "
                   "mean traded against dispersion.")


_BANDS = ((0.05, 0.95), (0.25, 0.75))


def _fan(specs, results, params: MarketParams):
    fig, axes = plt.subplots(1, len(specs), figsize=(3.6 * len(specs), 3.4), sharey=True,
                             squeeze=False)
    for ax, color, spec in zip(axes[0], _COLORS, specs, strict=False):
        traj = results[spec.key].trajectories
        t, q = traj["time"], traj["inventory"][:, :, 0]
        for (lo, hi), alpha in zip(_BANDS, (0.2, 0.4), strict=True):
            ax.fill_between(t, np.quantile(q, lo, axis=1), np.quantile(q, hi, axis=1),
                            color=color, alpha=alpha, lw=0,
                            label=f"{lo:.0%}-{hi:.0%}")
        ax.plot(t, np.quantile(q, 0.5, axis=1), color=color, lw=1.5, label="median")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{spec.label} ({q.shape[1]:,} paths)", fontsize=10)
        ax.set_xlabel(f"time (T = {params.T:g})")
    axes[0, 0].set_ylabel("inventory q (shares)")
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _fan_reading(specs, results, record: int) -> str:
    parts, widths = [], {}
    for spec in specs:
        q = results[spec.key].trajectories["inventory"][:, :, 0]
        lo, hi = np.quantile(q[-1], [0.05, 0.95])
        half = q[q.shape[0] // 2]
        lo_half, hi_half = np.quantile(half, [0.05, 0.95])
        widths[spec.label] = (hi - lo, hi_half - lo_half)
        parts.append(f"{spec.label} [{lo:g}, {hi:g}] (width {hi - lo:g}; {hi_half - lo_half:g} "
                     "at T/2)")
    narrow = min(widths, key=lambda k: widths[k][0])
    wide = max(widths, key=lambda k: widths[k][0])
    return (f"Quantile bands (5-95% light, 25-75% dark, median line) of the inventory over "
            f"time across the first {record:,} paths. The 90% band at T: " + "; ".join(parts)
            + f". The band is narrowest for {narrow} and widest for {wide} "
              f"({widths[wide][0] / max(widths[narrow][0], 1e-12):.1f}x). Without a skew the "
              "inventory spreads like a random walk (width growing like sqrt(t)); the AS skew "
              "q gamma sigma^2 (T - t) shrinks to zero at T, so its hold on the inventory "
              "weakens towards the end of the session.")


def _sample_path(specs, results, i: int):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.8), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    first = results[specs[0].key].trajectories
    t, mid = first["time"], first["mid"][:, i]
    top.plot(t, mid, color="k", lw=1.2, label="mid")
    for color, spec in zip(_COLORS, specs, strict=False):
        traj = results[spec.key].trajectories
        quote_mid = traj["mid"][:-1, i]     # quotes rest around the mid at the step's start
        bid = quote_mid - traj["bid_depth"][:, i, 0]
        ask = quote_mid + traj["ask_depth"][:, i, 0]
        top.step(t[:-1], bid, where="post", color=color, lw=0.7, label=f"{spec.label} bid/ask")
        top.step(t[:-1], ask, where="post", color=color, lw=0.7)
        fills = traj["fills"][:, i, 0]
        buys, sells = fills[:, 0] > 0, fills[:, 1] > 0
        top.plot(t[:-1][buys], bid[buys], "^", color=color, ms=3.5)
        top.plot(t[:-1][sells], ask[sells], "v", color=color, ms=3.5)
        bottom.step(t, traj["inventory"][:, i, 0], where="post", color=color, lw=1.2,
                    label=spec.label)
    top.set_ylabel("price")
    top.set_title("mid, quotes and fills (^ bid hit, v ask lifted) on one path")
    top.legend(fontsize=8, ncol=2)
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set_ylabel("inventory q")
    bottom.set_xlabel("time")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    return fig
