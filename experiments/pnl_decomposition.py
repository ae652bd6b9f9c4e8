"""PnL decomposition: where each policy's money comes from, path by path.

On every path and step the ledger keeps (DESIGN.md; money in price units)::

    total PnL         = spread capture + inventory PnL + fees + liquidation
    spread capture    = sum over fills of side * (mid at fill - fill price)
    inventory PnL     = sum over steps of q_before * (mid_after - mid_before)
    adverse selection = sum over fills of side * (mid h later - mid at fill)

(side +1 for a buy). Adverse selection is the part of inventory PnL earned by each fill's
share over the ``h = adverse_selection_steps`` steps after it; the rest of inventory PnL is
"other inventory PnL". The rollout records the largest residual of the identity over every
step of every path.

Simulated: the baseline's policies (:data:`experiments.baseline.POLICIES`) on ``market`` as
configured (the AS model: the mid is a martingale independent of the fills, so adverse
selection has mean zero), and on the same market with informed flow, a permanent impact of
``impact`` price units per share filled (the mid moves against every fill, whatever dt),
every cell with ``rollout(..., seed=<the run's seed>)``: common random numbers, and the AS
numbers of the first market are baseline's to the byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.rollout import rollout
from asmm_env.validation import check_positive, check_positive_int
from experiments import style
from experiments.baseline import POLICIES, check_fraction, check_policy_keys
from experiments.findings import Above, Below, Estimate
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, mean_ci, ratio_ci

TITLE = "PnL decomposition: spread capture, inventory PnL, adverse selection and fees"

COMPONENTS = {"terminal_pnl": "total PnL", "spread_capture": "spread capture",
              "inventory_pnl": "inventory PnL", "adverse_selection": "adverse selection",
              "other_inventory": "other inventory PnL", "fees": "fees",
              "liquidation": "liquidation"}
"""Column -> label; ``other_inventory`` = inventory PnL - adverse selection."""


@dataclass(frozen=True)
class Settings:
    """``experiments.pnl_decomposition``: ``market`` (a name in ``markets``), ``paths`` per
    policy and flow, ``gamma`` (1 / price units), ``policies`` (keys of the baseline's
    POLICIES, ``as`` first), ``impact`` (> 0: the informed flow's permanent impact, price
    units per share filled) and ``robustness_paths`` (fraction in (0, 1] of the paths of the
    dt / 4 and seed checks)."""

    market: str = "as2008"
    paths: int = 10_000
    gamma: float = 0.1
    policies: tuple[str, ...] = ("as", "glft", "symmetric", "constant")
    impact: float = 0.2
    robustness_paths: float = 0.1

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        check_positive("gamma", self.gamma)
        check_policy_keys(self.policies)
        check_positive("impact", self.impact)
        check_fraction("robustness_paths", self.robustness_paths)


def run(ctx: Context, settings: Settings) -> None:
    base, n, cache = ctx.market(settings.market), ctx.paths(settings.paths), {}
    flows = {"AS model": base, f"impact {settings.impact:g}": base.replace(
        impact=settings.impact)}

    def sim(v: Variation, flow: str, key: str) -> pd.DataFrame:
        if (v, flow, key) not in cache:        # v.seed for every cell: the seed contract
            p = v.market(flows[flow])
            df = rollout(POLICIES[key][1](p, settings.gamma), p, n_paths=v.paths(n),
                         seed=v.seed).paths
            cache[v, flow, key] = df.assign(
                other_inventory=df["inventory_pnl"] - df["adverse_selection"])
        return cache[v, flow, key]

    cells = [(flow, key) for flow in flows for key in settings.policies]
    data: dict[tuple[str, str], pd.DataFrame] = {}
    with ctx.progress(n * len(cells), "rollouts") as bar:
        for cell in cells:
            data[cell] = sim(ctx.variation(), *cell)
            bar.update(n)

    # --- tables ---
    rows = [{"flow": flow, "policy": POLICIES[key][0], "component": column,
             **{k: mean_ci(df[column])[k] for k in ("mean", "ci_low", "ci_high", "std")},
             "share_of_total": df[column].mean() / df["terminal_pnl"].mean()}
            for (flow, key), df in data.items() for column in COMPONENTS]
    components = pd.DataFrame(rows)
    ctx.table(components, "pnl_decomposition_components",
              "Mean of each PnL component per path, 95% CI", "Price units per path. Adverse "
              "selection and other inventory PnL add up to inventory PnL; share: the "
              "component's mean over the mean total.", display=components.assign(
                  mean=[format_ci(r.mean, r.ci_low, r.ci_high) for r in components.itertuples()])
              .pivot(index=["flow", "policy"], columns="component", values="mean")
              .reindex(pd.MultiIndex.from_tuples([(f, POLICIES[k][0]) for f, k in cells]))
              .rename_axis(["flow", "policy"]).reset_index()[["flow", "policy", *COMPONENTS]]
              .rename(columns=COMPONENTS))
    identity = pd.DataFrame([{"flow": flow, "policy": POLICIES[key][0], "paths": len(df),
                              "max_abs_residual": df["max_identity_residual"].max(),
                              "mean_abs_pnl": df["terminal_pnl"].abs().mean()}
                             for (flow, key), df in data.items()])
    identity["relative_residual"] = identity["max_abs_residual"] / identity["mean_abs_pnl"]
    ctx.table(identity, "pnl_decomposition_identity",
              "Accounting identity: largest residual over all paths and steps",
              "Residual of total = spread capture + inventory PnL + fees + liquidation, price "
              "units, after every step of every path.", float_format="{:.3g}")

    # --- findings ---
    robust = {"claim": 3, "robustness_paths": settings.robustness_paths}
    ctx.finding("identity_residual", rule=Below(1e-9), unit="price units",
                section="pnl_decomposition_identity",
                estimate=lambda v: Estimate.exact(max(
                    float(sim(v, *cell)["max_identity_residual"].max()) for cell in cells)),
                statement="The decomposition is an identity: its largest residual over every "
                          "step of every path, policy and flow is {value:.2g} {unit}.",
                statistic="max |total - (spread capture + inventory PnL + fees + "
                          "liquidation)|", **robust)

    def ratio(flow: str, numerator, denominator):
        def estimate(v: Variation) -> Estimate:
            df = sim(v, flow, "as")
            return Estimate.from_stats(ratio_ci(numerator(df), df[denominator]), "ratio")
        return estimate

    ctx.finding("spread_capture_share", rule=Above(0.5), section="pnl_decomposition_components",
                estimate=ratio("AS model", lambda df: df["spread_capture"], "terminal_pnl"),
                statement="Spread capture dominates AS's PnL: it is {value:.1%} [{ci_low:.1%}, "
                          "{ci_high:.1%}] of the mean total (inventory PnL averages out in the "
                          "AS model).",
                statistic="mean spread capture / mean total PnL, AS, AS model", **robust)
    informed = list(flows)[1]
    ctx.finding("adverse_selection_share", rule=Below(0.5),
                section="pnl_decomposition_components",
                estimate=ratio(informed, lambda df: -df["adverse_selection"], "spread_capture"),
                statement=f"With informed flow (permanent impact {settings.impact:g} price "
                          "units per share) adverse selection takes {value:.1%} "
                          "[{ci_low:.1%}, {ci_high:.1%}] of AS's spread capture; spread "
                          "capture remains the larger part.",
                statistic="-mean adverse selection / mean spread capture, AS, informed flow",
                **robust)

    # --- figures ---
    ctx.figure(_bars(components, flows), "pnl_decomposition_bars",
               "Mean PnL components per policy (stacked)",
               "Means per path: spread capture, adverse selection, other inventory PnL, fees "
               "and liquidation stacked (positive parts up, negative down); black diamond: "
               "the mean total with its 95% CI.")
    ctx.figure(_boxes(data, flows, settings.policies), "pnl_decomposition_boxes",
               "Distribution of each component across paths",
               "Boxes: quartiles, whiskers: 5th-95th percentiles; markers: means with 95% CIs.")


_PARTS = {"spread_capture": "#009E73", "adverse_selection": "#D55E00",
          "other_inventory": "#0072B2", "fees": "#999999", "liquidation": "#CC79A7"}


def _bars(c: pd.DataFrame, flows):
    labels = list(dict.fromkeys(c["policy"]))
    fig, axes = plt.subplots(1, len(flows), figsize=(6.0 * len(flows), 4.4), sharey=True)
    x = np.arange(len(labels))
    for ax, flow in zip(axes, flows, strict=True):
        cell = c[c["flow"] == flow].set_index(["component", "policy"])
        up, down = np.zeros(len(labels)), np.zeros(len(labels))
        for column, color in _PARTS.items():
            values = cell.loc[column].loc[labels, "mean"].to_numpy()
            ax.bar(x, values, 0.6, bottom=np.where(values >= 0, up, down), color=color,
                   label=COMPONENTS[column])
            up, down = up + np.maximum(values, 0), down + np.minimum(values, 0)
        total = cell.loc["terminal_pnl"].loc[labels]
        ax.errorbar(x, total["mean"], yerr=[total["mean"] - total["ci_low"],
                                            total["ci_high"] - total["mean"]],
                    fmt="D", color="k", ms=5, capsize=4, label="total (95% CI)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(flow)
        ax.set_xticks(x, labels, rotation=30, ha="right", rotation_mode="anchor")
    style.label_axes(axes[0], y=("mean per path", "price units"))
    for ax in axes:
        ax.set_xlabel("policy")
    style.legend_outside(axes[-1])
    return fig


def _boxes(data, flows, keys):
    columns = ("terminal_pnl", "spread_capture", "inventory_pnl", "adverse_selection")
    fig, axes = plt.subplots(len(flows), 1, figsize=(9.0, 3.4 * len(flows)), sharex=True)
    width = 0.8 / len(keys)
    for ax, flow in zip(axes, flows, strict=True):
        for k, key in enumerate(keys):
            st, at = style.policy_style(key), np.arange(len(columns)) - 0.4 + (k + 0.5) * width
            values = [data[flow, key][column].to_numpy() for column in columns]
            box = ax.boxplot(values, positions=at, whis=(5, 95), showfliers=False,
                             patch_artist=True, widths=0.8 * width, manage_ticks=False,
                             medianprops={"color": "k"})
            for patch in box["boxes"]:
                patch.set(facecolor=st.color, alpha=0.35)
            means = [mean_ci(v) for v in values]
            ax.errorbar(at, [m["mean"] for m in means], yerr=[Z95 * m["se"] for m in means],
                        capsize=3, ms=4, ls="none", marker=st.marker, color=st.color,
                        label=POLICIES[key][0])
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(flow, fontsize=10)
        style.label_axes(ax, y=("per path", "price units"))
    axes[-1].set_xticks(range(len(columns)), [COMPONENTS[c] for c in columns])
    style.label_axes(axes[-1], x=("component", ""))
    style.legend_outside(axes[0])
    return fig
