"""PnL decomposition: where each policy's money comes from, path by path.

On every path (the ledger's identity, DESIGN.md; money in price units x shares)::

    total PnL = spread capture + inventory PnL + fees
    spread capture    = sum over fills of side * (mid at fill - fill price)  (the filled depths)
    inventory PnL     = sum over steps of q_before * (mid_after - mid_before)
    adverse selection = sum over fills of side * (mid h steps later - mid at fill)

side = +1 for a buy (our bid hit), -1 for a sell. Adverse selection is a *part* of inventory
PnL (the mark of each fill's share over the h steps after it); the rest of inventory PnL
("other inventory PnL") is the mark of inventory held longer. Negative adverse selection means
the mid moved against the fills. h is ``MarketParams.adverse_selection_steps`` (steps); fills
less than h steps before T are measured to the terminal mid.

The policies are the baseline's (:data:`experiments.baseline.POLICIES`), rolled out on common
random numbers, on the configured market without informed flow (toxicity 0, the AS model) and
with informed flow (``toxicity > 0``: fills tend to precede adverse moves), so the table shows
both the null (adverse selection ~ 0) and a case where the decomposition has something to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.rollout import rollout
from asmm_env.validation import check_in_range, check_positive, check_positive_int
from experiments.baseline import _COLORS, build_policies, check_policy_keys
from experiments.framework import Context
from experiments.stats import Z95, format_ci, mean_ci

TITLE = "PnL decomposition: spread capture, inventory PnL, adverse selection and fees"

# (column of the rollout frame or derived, label); "other_inventory" = inventory - adverse.
COMPONENTS = (("terminal_pnl", "total PnL"), ("spread_capture", "spread capture"),
              ("inventory_pnl", "inventory PnL"),
              ("adverse_selection", "  of which adverse selection"),
              ("other_inventory", "  of which other inventory PnL"), ("fees", "fees"))


@dataclass(frozen=True)
class Settings:
    """``experiments.pnl_decomposition`` in the config.

    market : name of a market in ``markets`` (its ``adverse_selection_steps`` is h).
    paths : Monte Carlo paths per policy and toxicity (>= 1).
    gamma : risk aversion of the AS strategy and the derived spreads, 1 / money.
    policies : keys of ``experiments.baseline.POLICIES``.
    toxicities : informed-flow strengths in [0, 1] to run the market at (0 = AS model).
    """

    market: str = "as2008"
    paths: int = 10_000
    gamma: float = 0.1
    policies: tuple[str, ...] = ("as", "symmetric", "constant")
    toxicities: tuple[float, ...] = (0.0, 0.3)

    def __post_init__(self) -> None:
        check_positive_int("paths", self.paths)
        check_positive("gamma", self.gamma)
        check_policy_keys(self.policies)
        if not isinstance(self.toxicities, tuple) or not self.toxicities:
            raise ValueError(f"toxicities must be a non-empty list of numbers in [0, 1], got "
                             f"{self.toxicities!r}")
        for i, tox in enumerate(self.toxicities):
            check_in_range(f"toxicities[{i}]", tox, 0.0, 1.0)
        if len(set(self.toxicities)) != len(self.toxicities):
            raise ValueError(f"toxicities must not repeat a value, got {list(self.toxicities)}")


def run(ctx: Context, settings: Settings) -> None:
    base = ctx.market(settings.market)
    n = ctx.paths(settings.paths)
    seed = ctx.seed_for(1)            # one seed for every cell: common random numbers
    h = base.adverse_selection_steps
    frames = []
    n_cells = len(settings.toxicities) * len(settings.policies)
    labels = []
    with ctx.progress(n * n_cells, "rollouts") as bar:
        for tox in settings.toxicities:
            params = base.replace(toxicity=tox)
            for spec, policy in build_policies(settings.policies, params, settings.gamma):
                df = rollout(policy, params, n_paths=n, seed=seed, progress=bar.update).paths
                df = df.assign(other_inventory=df["inventory_pnl"] - df["adverse_selection"],
                               toxicity=tox, policy=spec.label)
                frames.append(df)
                if spec.label not in labels:
                    labels.append(spec.label)
    data = pd.concat(frames, ignore_index=True)

    ctx.paragraph(
        f"Market `{settings.market}` ({base.n_steps} steps of dt = {base.dt:g}, fee "
        f"{base.fee:g} per share), gamma = {settings.gamma:g}, {n:,} paths per policy and "
        f"toxicity, toxicity in {list(settings.toxicities)}. Adverse-selection horizon h = "
        f"{h} steps = {h * base.dt:g} time units: each fill is charged side x (mid h steps "
        "later - mid at the fill), and that charge is a part of inventory PnL, not an extra "
        "term. All cells share one seed (common random numbers).", title="Setup")

    components = _components(data, labels, settings.toxicities)
    ctx.table(components, "pnl_decomposition_components",
              "Mean of each PnL component per path, with 95% CI and share of the mean total",
              _components_reading(components, settings.toxicities),
              display=_components_display(components))

    per_fill = _per_fill(data, labels, settings.toxicities)
    ctx.table(per_fill, "pnl_decomposition_per_fill",
              "Spread capture and adverse selection per fill",
              _per_fill_reading(per_fill, h, h * base.dt), display=pd.DataFrame({
                  "toxicity": per_fill["toxicity"].map("{:g}".format),
                  "policy": per_fill["policy"],
                  "fills per path": per_fill["mean_fills"].map("{:.1f}".format),
                  "spread capture per fill": per_fill["spread_capture_per_fill"].map(
                      "{:.4f}".format),
                  "adverse selection per fill": per_fill["adverse_selection_per_fill"].map(
                      "{:+.4f}".format),
                  "adverse / capture": per_fill["adverse_over_capture"].map("{:+.1%}".format),
              }))

    identity = _identity(data, labels, settings.toxicities, base.n_steps)
    worst = identity.loc[identity["relative_residual"].idxmax()]
    ctx.table(identity, "pnl_decomposition_identity",
              "Accounting identity: largest residual over all paths and steps",
              f"The identity total = spread capture + inventory PnL + fees was checked after "
              f"every step on every path ({int(identity['paths'].sum()):,} path rollouts x "
              f"{base.n_steps} steps). The largest absolute residual is "
              f"{identity['max_abs_residual'].max():.3g} (price units x shares), "
              f"{worst.relative_residual:.3g} relative to the mean absolute terminal PnL "
              f"({worst.mean_abs_pnl:.3g}) of its row: float rounding, not modelling error.",
              float_format="{:.3g}")

    ctx.figure(_bars(components, labels, settings.toxicities), "pnl_decomposition_bars",
               "Mean PnL components per policy (stacked)",
               "Stacked means per path: spread capture (up), adverse selection and other "
               "inventory PnL (either sign) and fees; the black diamond is the mean total with "
               "its 95% CI. Positive parts stack upwards from zero and negative parts "
               "downwards, so the total is the height of the positive stack minus the depth "
               "of the negative one.")
    ctx.figure(_boxes(data, labels, settings.toxicities), "pnl_decomposition_boxes",
               "Distribution of each component across paths",
               _boxes_reading(components))


def _components(data: pd.DataFrame, labels, toxicities) -> pd.DataFrame:
    rows = []
    for tox in toxicities:
        for label in labels:
            cell = data[(data["toxicity"] == tox) & (data["policy"] == label)]
            total_mean = cell["terminal_pnl"].mean()
            for column, name in COMPONENTS:
                m = mean_ci(cell[column])
                rows.append({"toxicity": tox, "policy": label, "component": name.strip(),
                             "column": column, "mean": m["mean"], "se": m["se"],
                             "ci_low": m["ci_low"], "ci_high": m["ci_high"], "std": m["std"],
                             "share_of_mean_total": m["mean"] / total_mean,
                             "paths": m["n"]})
    return pd.DataFrame(rows)


def _components_display(c: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (tox, label), cell in c.groupby(["toxicity", "policy"], sort=False):
        row = {"toxicity": f"{tox:g}", "policy": label}
        for r in cell.itertuples():
            text = format_ci(r.mean, r.ci_low, r.ci_high)
            if r.column != "terminal_pnl":
                text += f" ({r.share_of_mean_total:+.1%})"
            row[dict(COMPONENTS)[r.column].strip()] = text
        rows.append(row)
    return pd.DataFrame(rows)


def _components_reading(c: pd.DataFrame, toxicities) -> str:
    parts = ["Each cell: mean per path [95% CI] (share of the mean total PnL; shares are "
             "ratios of means, robust where a path's total is near zero; the two 'of which' "
             "lines add up to inventory PnL)."]
    for tox in toxicities:
        adverse = c[(c["toxicity"] == tox) & (c["column"] == "adverse_selection")]
        zero = adverse[(adverse["ci_low"] <= 0) & (adverse["ci_high"] >= 0)]
        spread = c[(c["toxicity"] == tox) & (c["column"] == "spread_capture")]
        share = spread["share_of_mean_total"]
        desc = ", ".join(f"{r.policy} {r.mean:+.2f} ({r.mean / r.se:+.1f} s.e.)"
                         for r in adverse.itertuples())
        parts.append(
            f"Toxicity {tox:g}: spread capture is {share.min():.0%}-{share.max():.0%} of the "
            f"mean total; adverse selection per path: {desc}; "
            + (f"its CI contains zero for {len(zero)} of {len(adverse)} policies"
               + (" (as it should without informed flow: the mid is a martingale independent "
                  "of the fills)" if tox == 0 and len(zero) == len(adverse) else "")
               if len(zero) else "it is significantly different from zero for every policy")
            + ".")
    return " ".join(parts)


def _boxes_reading(c: pd.DataFrame) -> str:
    first = c["toxicity"].iloc[0]
    cell = c[c["toxicity"] == first].set_index(["policy", "column"])["std"]
    parts = [f"{label}: {cell[(label, 'spread_capture')]:.2f} / "
             f"{cell[(label, 'inventory_pnl')]:.2f} / {cell[(label, 'terminal_pnl')]:.2f}"
             for label in dict.fromkeys(c["policy"])]
    return ("Box plots across paths (box: quartiles, whiskers: 5th-95th percentiles, outliers "
            f"not drawn). Standard deviation across paths at toxicity {first:g}, spread "
            "capture / inventory PnL / total: " + "; ".join(parts) + ". Whichever of the two "
            "is larger dominates the dispersion of the total; the inventory part is where the "
            "AS skew acts.")


def _per_fill(data: pd.DataFrame, labels, toxicities) -> pd.DataFrame:
    rows = []
    for tox in toxicities:
        for label in labels:
            cell = data[(data["toxicity"] == tox) & (data["policy"] == label)]
            fills = cell["fills"].mean()
            capture = cell["spread_capture"].mean() / fills
            adverse = cell["adverse_selection"].mean() / fills
            rows.append({"toxicity": tox, "policy": label, "mean_fills": fills,
                         "spread_capture_per_fill": capture,
                         "adverse_selection_per_fill": adverse,
                         "adverse_over_capture": adverse / capture})
    return pd.DataFrame(rows)


def _per_fill_reading(p: pd.DataFrame, h: int, h_time: float) -> str:
    worst = p.loc[p["adverse_over_capture"].idxmin()]
    return (f"Ratios of means over paths: spread capture per fill is the average filled depth "
            f"(price units per share); adverse selection per fill is the average mid move "
            f"against a fill over h = {h} steps ({h_time:g} time units). The largest adverse "
            f"selection relative to the spread captured is {worst.policy}'s at toxicity "
            f"{worst.toxicity:g}: {worst.adverse_selection_per_fill:+.4f} per fill, "
            f"{-worst.adverse_over_capture:.0%} of its {worst.spread_capture_per_fill:.4f} "
            "spread capture per fill.")


def _identity(data: pd.DataFrame, labels, toxicities, n_steps: int) -> pd.DataFrame:
    rows = []
    for tox in toxicities:
        for label in labels:
            cell = data[(data["toxicity"] == tox) & (data["policy"] == label)]
            residual = float(cell["max_identity_residual"].max())
            scale = float(cell["terminal_pnl"].abs().mean())
            rows.append({"toxicity": tox, "policy": label, "paths": len(cell),
                         "steps": n_steps, "max_abs_residual": residual,
                         "mean_abs_pnl": scale, "relative_residual": residual / scale})
    return pd.DataFrame(rows)


_PARTS = (("spread_capture", "spread capture", "tab:green"),
          ("adverse_selection", "adverse selection", "tab:red"),
          ("other_inventory", "other inventory PnL", "tab:blue"),
          ("fees", "fees", "tab:gray"))


def _bars(c: pd.DataFrame, labels, toxicities):
    fig, axes = plt.subplots(1, len(toxicities), figsize=(4.2 * len(toxicities), 4.2),
                             sharey=True, squeeze=False)
    x = np.arange(len(labels))
    for ax, tox in zip(axes[0], toxicities, strict=True):
        up, down = np.zeros(len(labels)), np.zeros(len(labels))
        for column, name, color in _PARTS:
            values = np.array([_mean(c, tox, label, column) for label in labels])
            bottom = np.where(values >= 0, up, down)
            ax.bar(x, values, 0.6, bottom=bottom, color=color, label=name)
            up += np.maximum(values, 0)
            down += np.minimum(values, 0)
        totals = c[(c["toxicity"] == tox) & (c["column"] == "terminal_pnl")].set_index("policy")
        totals = totals.loc[labels]
        ax.errorbar(x, totals["mean"], yerr=Z95 * totals["se"], fmt="D", color="k", ms=5,
                    capsize=3, label="total (95% CI)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xticks(x, labels, rotation=15)
        ax.set_title(f"toxicity {tox:g}")
    axes[0, 0].set_ylabel("mean per path (price units x shares)")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=8, loc="lower center", ncol=len(names))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _mean(c: pd.DataFrame, tox: float, label: str, column: str) -> float:
    row = c[(c["toxicity"] == tox) & (c["policy"] == label) & (c["column"] == column)]
    return float(row["mean"].iloc[0])


def _boxes(data: pd.DataFrame, labels, toxicities):
    columns = (("terminal_pnl", "total PnL"), ("spread_capture", "spread capture"),
               ("inventory_pnl", "inventory PnL"), ("adverse_selection", "adverse selection"))
    fig, axes = plt.subplots(len(toxicities), len(columns),
                             figsize=(3.3 * len(columns), 3.0 * len(toxicities)),
                             squeeze=False)
    for i, tox in enumerate(toxicities):
        for j, (column, name) in enumerate(columns):
            ax = axes[i, j]
            values = [data.loc[(data["toxicity"] == tox) & (data["policy"] == label),
                               column].to_numpy() for label in labels]
            box = ax.boxplot(values, whis=(5, 95), showfliers=False, patch_artist=True)
            for patch, color in zip(box["boxes"], _COLORS, strict=False):
                patch.set_facecolor(color)
                patch.set_alpha(0.5)
            ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, fontsize=8)
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"{name} (toxicity {tox:g})", fontsize=9)
    fig.tight_layout()
    return fig
