"""GLFT (2013): exact bounded-inventory quotes against their closed-form asymptotic
approximation and the Avellaneda–Stoikov (2008) closed form, as quote surfaces and as Monte
Carlo certainty equivalents next to the analytic one.

Per market (config ``experiments.glft.markets``, each run with ``max_inventory = Q`` from
``inventory_bounds`` so that every policy trades on the same bounded market):

* quote surfaces: the bid depth over (t, q) of the three policies (heatmaps) and its profile
  in q at a few times (line families); the ask is the mirror image ``ask(t, q) = bid(t, -q)``
  for all three (checked on the grid, deviation reported);
* Monte Carlo (same seed for every policy: common random numbers) of terminal PnL: mean, std,
  and the CARA certainty equivalent ``CE = -ln E[exp(-gamma PnL)] / gamma`` with delta-method
  CIs; paired CE differences against GLFT exact;
* three reference values of the CE: the continuous-time GLFT value ``ln(v_{q0}(0)) / k``
  (``glft_certainty_equivalent``), and for every policy the exact CE of the simulated
  discrete-time market (backward induction over the (t_i, q) grid, no Monte Carlo): at most one
  fill per side and step with probability ``1 - exp(-lambda dt)``, then a Gaussian mid step.
  The Monte Carlo estimates the latter; the gap between the two exact values is the O(dt)
  discretisation error of the env, shown to shrink linearly by halving dt.

Markets must be GLFT's model: Gaussian mid without drift, jumps or stochastic volatility,
``"exponential"`` fills without informed flow or price impact, no fee, ``order_size = 1``.

Reference: Guéant, Lehalle & Fernandez-Tapia (2013), Math. Financ. Econ. 7(4) 477-507;
Avellaneda & Stoikov (2008), Quant. Finance 8(3) 217-224.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.analytic import glft_certainty_equivalent
from asmm_env.params import MarketParams
from asmm_env.rollout import rollout
from asmm_env.validation import check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy, GLFTAsymptoticPolicy, GLFTPolicy
from experiments.framework import Context
from experiments.stats import Z95, certainty_equivalent, format_ci, mean_ci, std_ci

TITLE = "GLFT (2013) exact and asymptotic quotes vs the AS closed form, and the exact CE"

POLICIES = (("as", "AS closed form"), ("glft", "GLFT exact"),
            ("glft_asymptotic", "GLFT asymptotic"))
_LABEL = dict(POLICIES)
_COLORS = {"as": "tab:blue", "glft": "tab:red", "glft_asymptotic": "tab:green"}


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """``experiments.glft`` in the config.

    markets : names of markets in ``markets`` (GLFT's model, see the module docstring).
    inventory_bounds : Q for each market, in orders (integers >= 1); the market is run with
        ``max_inventory = Q`` for every policy.
    gamma : CARA risk aversion of every policy and of the certainty equivalent, 1 / money.
    paths : Monte Carlo paths per policy and market (>= 1).
    line_times : times of the quote profiles, as fractions of T in [0, 1) (snapped to the
        grid).
    dt_halvings : how many times dt is halved in the discretisation table (>= 1).
    """

    markets: tuple[str, ...] = ("as2008", "liquid")
    inventory_bounds: tuple[int, ...] = (25, 50)
    gamma: float = 0.1
    paths: int = 100_000
    line_times: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99)
    dt_halvings: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.markets, tuple) or not self.markets:
            raise ValueError(f"markets must be a non-empty list of market names, got "
                             f"{self.markets!r}")
        if len(set(self.markets)) != len(self.markets):
            raise ValueError(f"markets must not repeat a market, got {list(self.markets)}")
        if not isinstance(self.inventory_bounds, tuple) or \
                len(self.inventory_bounds) != len(self.markets):
            raise ValueError(f"inventory_bounds must give one Q per market "
                             f"({len(self.markets)}), got {self.inventory_bounds!r}")
        for Q in self.inventory_bounds:
            if not isinstance(Q, int) or isinstance(Q, bool) or Q < 1:
                raise ValueError(f"inventory_bounds must be integers >= 1, got {Q!r}")
        check_positive("gamma", self.gamma)
        check_positive_int("paths", self.paths)
        if not isinstance(self.line_times, tuple) or not self.line_times or \
                not all(isinstance(f, (int, float)) and not isinstance(f, bool)
                        and 0.0 <= f < 1.0 for f in self.line_times):
            raise ValueError(f"line_times must be a non-empty list of fractions of T in "
                             f"[0, 1), got {self.line_times!r}")
        check_positive_int("dt_halvings", self.dt_halvings)


def glft_market(name: str, params: MarketParams, Q: int) -> MarketParams:
    """``params`` with ``max_inventory = Q``, after checking that it is GLFT's model (the error
    names the market and the field)."""
    required = {"price_dynamics": "gaussian", "fill_rule": "exponential", "drift": 0.0,
                "toxicity": 0.0, "impact": 0.0, "jump_intensity": 0.0, "vol_of_vol": 0.0,
                "fee": 0.0, "order_size": 1.0}
    for field_name, value in required.items():
        if getattr(params, field_name, value) != value:
            raise ValueError(
                f"experiments.glft: market {name!r} must be GLFT's model, {field_name} = "
                f"{value!r}, got {getattr(params, field_name)!r}")
    if params.q0 != round(params.q0) or abs(params.q0) > Q:
        raise ValueError(f"experiments.glft: market {name!r} q0 must be an integer in [-Q, Q] "
                         f"= [{-Q}, {Q}], got {params.q0!r}")
    return params.replace(max_inventory=float(Q))


def build_policies(params: MarketParams, gamma: float) -> dict:
    """The three policies of the comparison, by key; GLFT exact with Q = max_inventory."""
    return {"as": AvellanedaStoikovPolicy.from_env(params, gamma),
            "glft": GLFTPolicy.from_env(params, gamma=gamma),
            "glft_asymptotic": GLFTAsymptoticPolicy.from_env(params, gamma=gamma)}


# --- exact values without Monte Carlo ------------------------------------------------------------
def discrete_certainty_equivalent(policy, params: MarketParams, gamma: float) -> float:
    """Exact CE ``-ln E[exp(-gamma PnL_T)] / gamma`` of the env's discrete-time market under a
    policy whose quotes depend on (time remaining, inventory) only.

    A step from inventory q: the bid fills with probability ``1 - exp(-A exp(-k delta_b) dt)``
    if ``q + 1 <= Q`` (the ask likewise if ``q - 1 >= -Q``), independently, earning its depth;
    then the mid moves by ``sigma sqrt(dt) Z`` and the post-fill inventory q' earns ``q' dS``,
    with ``E[exp(-gamma q' dS)] = exp(gamma^2 sigma^2 q'^2 dt / 2)``. Hence
    ``w_q(t_i) = E[exp(-gamma PnL over [t_i, T]) | q]`` follows a linear backward recursion
    from ``w(T) = 1``, solved on q = -Q..Q (depths clipped to the action range, as the env
    does). Requires a market accepted by :func:`glft_market`.
    """
    Q = round(params.max_inventory)
    q = np.arange(-Q, Q + 1, dtype=float)
    dt, bound = params.dt, params.depth_bound
    risk = np.exp(0.5 * gamma**2 * params.sigma**2 * dt * q**2)
    can_buy, can_sell = q + 1 <= Q, q - 1 >= -Q
    w, log_scale = np.ones(q.size), 0.0
    for i in range(params.n_steps - 1, -1, -1):
        observation = np.stack([np.full(q.size, params.s0), q,
                                np.full(q.size, (params.n_steps - i) * dt)], axis=-1)
        depths = np.clip(policy.act(observation), -1.0, 1.0) * bound
        bid, ask = depths[:, 0], depths[:, 1]
        p_bid = -np.expm1(-params.A * np.exp(-params.k * bid) * dt) * can_buy
        p_ask = -np.expm1(-params.A * np.exp(-params.k * ask) * dt) * can_sell
        g = risk * w
        up, down = np.append(g[1:], 0.0), np.insert(g[:-1], 0, 0.0)
        e_bid, e_ask = np.exp(-gamma * bid), np.exp(-gamma * ask)
        w = ((1 - p_bid) * (1 - p_ask) * g + p_bid * (1 - p_ask) * e_bid * up
             + (1 - p_bid) * p_ask * e_ask * down + p_bid * p_ask * e_bid * e_ask * g)
        top = w.max()
        w /= top
        log_scale += math.log(top)
    return -(math.log(w[round(params.q0) + Q]) + log_scale) / gamma


def analytic_certainty_equivalent(params: MarketParams, gamma: float) -> float:
    """The continuous-time GLFT value ``ln(v_{q0}(0)) / k`` at ``Q = max_inventory``."""
    return glft_certainty_equivalent(round(params.q0), gamma=gamma, sigma=params.sigma,
                                     A=params.A, k=params.k, Q=round(params.max_inventory),
                                     T=params.T)


def paired_ce_difference(pnl_a, pnl_b, gamma: float) -> dict[str, float]:
    """``CE(a) - CE(b)`` from paired samples (common random numbers) with the delta-method
    s.e. of ``-(ln mean(w_a) - ln mean(w_b)) / gamma``, ``w = exp(-gamma PnL)``."""
    xa, xb = -gamma * np.asarray(pnl_a, dtype=float), -gamma * np.asarray(pnl_b, dtype=float)
    wa, wb = np.exp(xa - xa.max()), np.exp(xb - xb.max())
    diff = -((math.log(wa.mean()) + xa.max()) - (math.log(wb.mean()) + xb.max())) / gamma
    se = float((wa / wa.mean() - wb / wb.mean()).std(ddof=1) / math.sqrt(wa.size) / gamma)
    return {"diff": float(diff), "se": se, "ci_low": diff - Z95 * se,
            "ci_high": diff + Z95 * se}


# --- run -----------------------------------------------------------------------------------------
def run(ctx: Context, settings: Settings) -> None:
    markets = {name: glft_market(name, ctx.market(name), Q)
               for name, Q in zip(settings.markets, settings.inventory_bounds, strict=True)}
    gamma = settings.gamma
    n = ctx.paths(settings.paths)
    policies = {name: build_policies(p, gamma) for name, p in markets.items()}
    pnl, paths = {}, {}
    with ctx.progress(n * len(POLICIES) * len(markets), "rollouts") as bar:
        for i, (name, params) in enumerate(markets.items()):
            seed = ctx.seed_for(i)        # one seed per market for every policy: CRN
            for key, _ in POLICIES:
                result = rollout(policies[name][key], params, n_paths=n, seed=seed,
                                 progress=bar.update)
                paths[name, key] = result.paths
                pnl[name, key] = result.paths["terminal_pnl"].to_numpy()

    surfaces = {name: _surfaces(policies[name], params) for name, params in markets.items()}
    ctx.paragraph(_setup_text(markets, surfaces, gamma, n), title="Setup")

    shown = {name: _shown_inventory(paths, name, params) for name, params in markets.items()}
    quotes = _quote_table(surfaces, markets, shown)
    ctx.table(quotes, "glft_quotes", "Bid depths at t = 0 (price units)",
              _quotes_reading(surfaces, markets, shown), float_format="{:.3f}")
    for name, params in markets.items():
        ctx.figure(_heatmaps(surfaces[name], params, shown[name], name),
                   f"glft_quote_surface_{name}", f"Bid depth over (t, q): market {name}",
                   _heatmap_reading(surfaces[name], params, shown[name], gamma))
    ctx.figure(_lines(surfaces, markets, shown, settings.line_times), "glft_quote_profiles",
               "Bid depth against inventory at fixed times",
               _lines_reading(surfaces, markets, settings.line_times))

    summary = _summary(markets, policies, pnl, paths, gamma)
    ctx.table(summary, "glft_summary", "Monte Carlo results and exact certainty equivalents",
              _summary_reading(summary, n), display=_summary_display(summary))
    paired = _paired(markets, pnl, gamma)
    ctx.table(paired, "glft_paired", "Paired differences against GLFT exact",
              _paired_reading(paired), display=_paired_display(paired))
    ctx.figure(_ce_figure(summary, markets), "glft_certainty_equivalents",
               "Certainty equivalents: Monte Carlo, exact discrete-time and continuous-time",
               _ce_figure_reading(summary))

    convergence = _dt_convergence(markets, gamma, settings.dt_halvings)
    ctx.table(convergence, "glft_dt_convergence",
              "Discretisation error of the env: exact discrete-time CE of GLFT exact vs dt",
              _convergence_reading(convergence), display=_convergence_display(convergence))


def _setup_text(markets, surfaces, gamma: float, n: int) -> str:
    parts = []
    for name, p in markets.items():
        Q = round(p.max_inventory)
        spans = []
        for key, label in POLICIES:
            depths = np.concatenate([d.ravel() for d in surfaces[name][key]])
            depths = depths[np.isfinite(depths)]
            spans.append((label, float(depths.min()), float(depths.max())))
        inside = all(-p.depth_bound < lo and hi < p.depth_bound for _, lo, hi in spans)
        wider = glft_certainty_equivalent(round(p.q0), gamma=gamma, sigma=p.sigma, A=p.A,
                                          k=p.k, Q=2 * Q, T=p.T)
        parts.append(
            f"`{name}`: S0 = {p.s0:g}, sigma = {p.sigma:g}, A = {p.A:g}, k = {p.k:g}, "
            f"T = {p.T:g}, dt = {p.dt:g} ({p.n_steps} steps), q0 = {p.q0:g}, Q = max_inventory "
            f"= {Q} (continuous-time GLFT CE {analytic_certainty_equivalent(p, gamma):.4f}, "
            f"{wider:.4f} at 2Q); depths over the whole (t, q) grid: "
            + ", ".join(f"{label} [{lo:.3f}, {hi:.3f}]" for label, lo, hi in spans)
            + (f", all inside the action range +/- depth_bound = {p.depth_bound:.2f}" if inside
               else f"; WARNING: some lie outside +/- depth_bound = {p.depth_bound:.2f} and "
                    "the env clips them"))
    return ("Markets, each run with max_inventory = Q for all three policies (the market "
            "refuses a buy at q = +Q and a sell at q = -Q): " + "; ".join(parts)
            + f". gamma = {gamma:g} for every policy and for the CE; {n:,} paths per policy and "
            "market, every policy from the same seed (common random numbers: the same mid "
            "increments and the same fill uniforms). **AS closed form**: bid/ask = r -/+ "
            "spread/2 with r = s - q gamma sigma^2 (T - t), spread = gamma sigma^2 (T - t) + "
            "(2/gamma) ln(1 + gamma/k). **GLFT exact**: ln(v_q/v_(q+/-1))/k + ln(1 + gamma/k)/"
            "gamma with v(t) = exp(-M (T - t)) 1, looked up in a table precomputed on the "
            "env's time grid; no bid at +Q, no ask at -Q. **GLFT asymptotic**: the closed form "
            "ln(1 + gamma/k)/gamma +/- (2q +/- 1)/2 * s, constant in time.")


# --- quote surfaces --------------------------------------------------------------------------
def _surfaces(policies: dict, params: MarketParams) -> dict:
    """Bid and ask depths (n_steps, 2Q+1) of each policy at the decision times t_i and every q
    (no quote: NaN)."""
    Q = round(params.max_inventory)
    q = np.arange(-Q, Q + 1, dtype=float)
    tau = (params.n_steps - np.arange(params.n_steps)) * params.dt
    tt, qq = np.meshgrid(tau, q, indexing="ij")
    observation = np.stack([np.full(tt.shape, params.s0), qq, tt], axis=-1)
    out = {"time": params.T - tau, "q": q}
    for key, policy in policies.items():
        bid, ask = policy.depths(observation)
        bid, ask = np.array(bid, dtype=float), np.array(ask, dtype=float)
        bid[:, -1], ask[:, 0] = np.nan, np.nan        # the market refuses these quotes
        out[key] = (bid, ask)
    return out


def _shown_inventory(paths, name: str, params: MarketParams) -> int:
    """The inventory range the figures show: the largest 99.9% quantile of max |q| over the
    three policies' paths (at least 5, at most Q)."""
    Q = round(params.max_inventory)
    visited = max(float(np.quantile(paths[name, key]["max_abs_inventory"], 0.999))
                  for key, _ in POLICIES)
    return int(min(Q, max(5, math.ceil(visited))))


def _symmetry_error(surface) -> float:
    worst = 0.0
    for key, _ in POLICIES:
        bid, ask = surface[key]
        diff = bid[:, :-1] - ask[:, ::-1][:, :-1]
        worst = max(worst, float(np.nanmax(np.abs(diff))))
    return worst


def _quote_table(surfaces, markets, shown) -> pd.DataFrame:
    rows = []
    for name, params in markets.items():
        s, Q = surfaces[name], round(params.max_inventory)
        for q in sorted({0, 1, 2, 5, shown[name], -1, -2, -5, -shown[name]}):
            if abs(q) > Q:
                continue
            row = {"market": name, "q": q}
            for key, label in POLICIES:
                row[label] = s[key][0][0, q + Q]
            rows.append(row)
    return pd.DataFrame(rows)


def _quotes_reading(surfaces, markets, shown) -> str:
    parts = []
    for name, params in markets.items():
        s, Q = surfaces[name], round(params.max_inventory)
        q = np.arange(-shown[name], shown[name])        # where GLFT quotes a bid
        idx = q + Q
        exact = s["glft"][0][0, idx]
        asym = s["glft_asymptotic"][0][0, idx]
        as_ = s["as"][0][0, idx]
        slope = np.polyfit(q, exact, 1)[0]
        as_slope = np.polyfit(q, as_, 1)[0]
        worst = int(q[np.argmax(np.abs(asym - exact))])
        parts.append(
            f"`{name}` (q in [{-shown[name]}, {shown[name] - 1}]): GLFT exact rises by "
            f"{slope:.4f} per unit of inventory at t = 0, AS by {as_slope:.4f} "
            f"({as_slope / slope:.1f}x); the asymptotic formula differs from the exact quote by "
            f"at most {np.max(np.abs(asym - exact)):.4f} (at q = {worst}), the AS closed form "
            f"by up to {np.max(np.abs(as_ - exact)):.3f}")
    return ("Bid depths at t = 0 (ask depths are the mirror image in q). " + "; ".join(parts)
            + ". The asymptotic formula is the continuous (harmonic-oscillator) approximation of "
              "the exact T - t -> infinity quotes, so its error grows with |q|.")


def _heatmaps(surface, params: MarketParams, shown: int, name: str):
    Q = round(params.max_inventory)
    cols = slice(Q - shown, Q + shown)                   # q = -shown .. shown - 1 (bid quoted)
    q = surface["q"][cols]
    t = surface["time"]
    exact = surface["glft"][0][:, cols]
    lo, hi = float(np.nanmin(exact)), float(np.nanmax(exact))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True, constrained_layout=True)
    for ax, (key, label) in zip(axes, POLICIES, strict=True):
        mesh = ax.pcolormesh(t, q, surface[key][0][:, cols].T, vmin=lo, vmax=hi,
                             cmap="viridis", shading="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(f"time t (T = {params.T:g})")
    axes[0].set_ylabel("inventory q (orders)")
    fig.colorbar(mesh, ax=axes, extend="both", label="bid depth (price units)")
    fig.suptitle(f"Market {name}: bid depth; colour scale = GLFT exact's range", fontsize=11)
    return fig


def _heatmap_reading(surface, params: MarketParams, shown: int, gamma: float) -> str:
    Q = round(params.max_inventory)
    cols = slice(Q - shown, Q + shown)
    exact = surface["glft"][0][:, cols]
    lo, hi = float(np.nanmin(exact)), float(np.nanmax(exact))
    as_ = surface["as"][0][:, cols]
    outside = float(np.mean((as_ < lo) | (as_ > hi)))
    # When do the exact quotes settle? The last time they are within 1e-3 of their t = 0 value.
    settled = np.all(np.abs(exact - exact[0]) < 1e-3, axis=1)
    first_moving = int(np.argmin(settled)) if not settled.all() else len(settled)
    t_settled = surface["time"][first_moving] if first_moving < len(settled) else params.T
    asym_gap = float(np.nanmax(np.abs(surface["glft_asymptotic"][0][0, cols] - exact[0])))
    constant = math.log1p(gamma / params.k) / gamma
    return (f"Bid depth over the decision times and q in [{-shown}, {shown - 1}] (the range the "
            f"paths visit, 99.9% quantile of max |q|; Q = {Q}); the ask surface is the mirror "
            f"image (max |bid(t, q) - ask(t, -q)| over all three policies: "
            f"{_symmetry_error(surface):.1e}). GLFT exact stays within 1e-3 of its t = 0 "
            f"quotes until t = {t_settled:.3f} ({t_settled / params.T:.0%} of the session), "
            f"then bends towards ln(1 + gamma/k)/gamma = {constant:.3f}, the depth of every "
            f"quote at the horizon; the asymptotic surface is constant in time and within "
            f"{asym_gap:.4f} of the exact one at t = 0. "
            f"The AS closed form skews linearly in q with a slope gamma sigma^2 (T - t) that "
            f"decays to 0 at T: {outside:.0%} of its surface lies outside GLFT exact's range "
            f"[{lo:.3f}, {hi:.3f}] (saturated colours).")


def _lines(surfaces, markets, shown, fractions):
    fig, axes = plt.subplots(len(markets), len(fractions),
                             figsize=(3.4 * len(fractions), 3.0 * len(markets)), squeeze=False,
                             constrained_layout=True)
    for row, (name, params) in zip(axes, markets.items(), strict=True):
        s, Q = surfaces[name], round(params.max_inventory)
        cols = slice(Q - shown[name], Q + shown[name])
        exact = s["glft"][0][:, cols]
        pad = 0.15 * (np.nanmax(exact) - np.nanmin(exact))
        for ax, fraction in zip(row, fractions, strict=True):
            i = min(round(fraction * params.n_steps), params.n_steps - 1)
            for key, label in POLICIES:
                ax.plot(s["q"][cols], s[key][0][i, cols], color=_COLORS[key], lw=1.4,
                        label=label)
            ax.set_ylim(np.nanmin(exact) - pad, np.nanmax(exact) + pad)
            ax.set_title(f"{name}, t = {s['time'][i]:.3f}", fontsize=9)
            ax.set_xlabel("inventory q")
        row[0].set_ylabel("bid depth")
    axes[0, 0].legend(fontsize=7)
    return fig


def _lines_reading(surfaces, markets, fractions) -> str:
    parts, as_moves_more = [], True
    for name, params in markets.items():
        s = surfaces[name]
        Q = round(params.max_inventory)
        last = min(round(max(fractions) * params.n_steps), params.n_steps - 1)
        # Quoted spread (bid + ask depth) at q = 0, first and last profile time.
        spread = {key: (s[key][0][0, Q] + s[key][1][0, Q], s[key][0][last, Q] + s[key][1][last, Q])
                  for key, _ in POLICIES}
        as_moves_more &= (abs(spread["as"][0] - spread["as"][1])
                          > abs(spread["glft"][0] - spread["glft"][1]))
        parts.append(
            f"`{name}`: quoted spread at q = 0 is {spread['glft'][0]:.3f} (GLFT exact), "
            f"{spread['glft_asymptotic'][0]:.3f} (asymptotic) and {spread['as'][0]:.3f} (AS) at "
            f"t = 0; at t = {s['time'][last]:.3f} it is {spread['glft'][1]:.3f}, "
            f"{spread['glft_asymptotic'][1]:.3f} and {spread['as'][1]:.3f}")
    trend = ("In both markets the AS spread moves more over the session than GLFT exact's: AS "
             "prices inventory risk through the time term gamma sigma^2 (T - t) of its spread, "
             "GLFT mostly through the skew." if as_moves_more else
             "The AS spread does not move more than GLFT exact's in every market.")
    return ("Bid depth against inventory at fixed times (y range: GLFT exact's, +/- 15%; AS "
            "lines may leave it). " + "; ".join(parts) + ". " + trend)


# --- Monte Carlo --------------------------------------------------------------------------------
def _summary(markets, policies, pnl, paths, gamma: float) -> pd.DataFrame:
    rows = []
    for name, params in markets.items():
        analytic = analytic_certainty_equivalent(params, gamma)
        Q = round(params.max_inventory)
        for key, label in POLICIES:
            x = pnl[name, key]
            df = paths[name, key]
            m, s, ce = mean_ci(x), std_ci(x), certainty_equivalent(x, gamma)
            exact = discrete_certainty_equivalent(policies[name][key], params, gamma)
            rows.append({
                "market": name, "policy": label, "key": key, "Q": Q, "paths": m["n"],
                "mean_pnl": m["mean"], "pnl_ci_low": m["ci_low"], "pnl_ci_high": m["ci_high"],
                "std_pnl": s["std"], "std_ci_low": s["ci_low"], "std_ci_high": s["ci_high"],
                "ce": ce["ce"], "ce_se": ce["se"], "ce_ci_low": ce["ci_low"],
                "ce_ci_high": ce["ci_high"], "ce_exact_discrete": exact,
                "z_mc_vs_exact": (ce["ce"] - exact) / ce["se"] if ce["se"] > 0 else np.nan,
                "ce_analytic_continuous": analytic if key == "glft" else np.nan,
                "std_terminal_q": float(df["terminal_inventory"].std(ddof=1)),
                "share_paths_at_bound": float((df["max_abs_inventory"] >= Q).mean()),
                "mean_fills": float(df["fills"].mean()),
            })
    return pd.DataFrame(rows)


def _summary_display(s: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "market": s["market"], "policy": s["policy"], "Q": s["Q"],
        "mean PnL [95% CI]": [format_ci(r.mean_pnl, r.pnl_ci_low, r.pnl_ci_high)
                              for r in s.itertuples()],
        "std PnL [95% CI]": [format_ci(r.std_pnl, r.std_ci_low, r.std_ci_high)
                             for r in s.itertuples()],
        "CE Monte Carlo [95% CI]": [format_ci(r.ce, r.ce_ci_low, r.ce_ci_high, 3)
                                    for r in s.itertuples()],
        "CE exact, discrete time": s["ce_exact_discrete"].map("{:.3f}".format),
        "MC - exact (s.e.)": s["z_mc_vs_exact"].map("{:+.1f}".format),
        "CE analytic, continuous (GLFT)": [f"{v:.3f}" if np.isfinite(v) else "-"
                                           for v in s["ce_analytic_continuous"]],
        "std q_T": s["std_terminal_q"].map("{:.2f}".format),
        "paths reaching abs(q) = Q": s["share_paths_at_bound"].map("{:.2%}".format),
        "mean fills": s["mean_fills"].map("{:.1f}".format),
    })


def _summary_reading(s: pd.DataFrame, n: int) -> str:
    parts = []
    for market, rows in s.groupby("market", sort=False):
        g = rows.set_index("key")
        best = rows.loc[rows["ce"].idxmax(), "policy"]
        glft = g.loc["glft"]
        gap = glft.ce - glft.ce_analytic_continuous
        parts.append(
            f"`{market}`: highest Monte Carlo CE {best}; GLFT exact {glft.ce:.3f} "
            f"[{glft.ce_ci_low:.3f}, {glft.ce_ci_high:.3f}] against its continuous-time value "
            f"{glft.ce_analytic_continuous:.3f}: {gap:+.3f} ({gap / glft.ce_se:+.1f} s.e., "
            f"{gap / glft.ce_analytic_continuous:+.1%}), while the exact discrete-time value "
            f"{glft.ce_exact_discrete:.3f} is {glft.z_mc_vs_exact:+.1f} s.e. from it")
    worst = s.loc[s["z_mc_vs_exact"].abs().idxmax()]
    at_bound = s["share_paths_at_bound"].max()
    bound = ("so the bound rarely binds at these Q" if at_bound < 0.01 else
             "so the bound binds on a material share of paths")
    return (f"{n:,} paths per row. " + "; ".join(parts)
            + f". Across all rows the Monte Carlo CE is within {abs(worst.z_mc_vs_exact):.1f} "
              "s.e. of the exact CE of the simulated discrete-time market (worst: "
              f"{worst.policy} on `{worst.market}`), so the simulation, the policies and the "
              "CE estimator agree with an independent calculation; the gap to the "
              "continuous-time GLFT value is the env's O(dt) discretisation (table below), "
              "not Monte Carlo noise. Share of paths reaching abs(q) = Q: at most "
              f"{at_bound:.2%}, {bound}.")


def _paired(markets, pnl, gamma: float) -> pd.DataFrame:
    rows = []
    for name in markets:
        base = pnl[name, "glft"]
        for key, label in POLICIES:
            if key == "glft":
                continue
            ce = paired_ce_difference(base, pnl[name, key], gamma)
            mean = mean_ci(base - pnl[name, key])
            rows.append({
                "market": name, "policy": label,
                "ce_difference": ce["diff"], "ce_paired_se": ce["se"],
                "ce_ci_low": ce["ci_low"], "ce_ci_high": ce["ci_high"],
                "ce_z": ce["diff"] / ce["se"] if ce["se"] > 0 else np.nan,
                "mean_pnl_difference": mean["mean"], "mean_pnl_ci_low": mean["ci_low"],
                "mean_pnl_ci_high": mean["ci_high"],
                "std_ratio": float(pnl[name, key].std(ddof=1) / base.std(ddof=1)),
            })
    return pd.DataFrame(rows)


def _paired_display(p: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "market": p["market"], "GLFT exact minus": p["policy"],
        "CE difference [95% CI]": [format_ci(r.ce_difference, r.ce_ci_low, r.ce_ci_high, 3)
                                   for r in p.itertuples()],
        "z (paired s.e.)": p["ce_z"].map("{:.1f}".format),
        "mean PnL difference [95% CI]": [
            format_ci(r.mean_pnl_difference, r.mean_pnl_ci_low, r.mean_pnl_ci_high, 3)
            for r in p.itertuples()],
        "std PnL ratio (other / GLFT)": p["std_ratio"].map("{:.3f}".format),
    })


def _paired_reading(p: pd.DataFrame) -> str:
    parts = []
    for r in p.itertuples():
        if abs(r.ce_z) < Z95:
            verdict = "not distinguishable from zero at 95%"
        else:
            verdict = (f"GLFT exact {'higher' if r.ce_difference > 0 else 'lower'} by "
                       f"{abs(r.ce_z):.1f} paired s.e.")
        parts.append(f"`{r.market}`: CE of GLFT exact minus {r.policy}: "
                     f"{r.ce_difference:+.3f} [{r.ce_ci_low:+.3f}, {r.ce_ci_high:+.3f}] "
                     f"({verdict}); mean PnL {r.mean_pnl_difference:+.3f}, PnL std ratio "
                     f"{r.std_ratio:.3f}")
    beaten = [f"{r.policy} on `{r.market}`" for r in p.itertuples() if r.ce_z <= -Z95]
    verdict = ("No policy has a CE significantly above GLFT exact's."
               if not beaten else "CE significantly above GLFT exact's: " + ", ".join(beaten)
               + " (GLFT is optimal for continuous trading, not for the discrete env).")
    return ("; ".join(parts) + ". " + verdict + " Paired: each difference is computed path by "
            "path on common random numbers, with the delta-method s.e. of -(ln mean(w_a) - "
            "ln mean(w_b))/gamma, w = exp(-gamma PnL).")


def _ce_figure(s: pd.DataFrame, markets):
    fig, axes = plt.subplots(2, len(markets), figsize=(5.2 * len(markets), 6.4), squeeze=False,
                             constrained_layout=True, gridspec_kw={"height_ratios": [1, 1]})
    for col, name in enumerate(markets):
        rows = s[s["market"] == name].reset_index(drop=True)
        reference = float(rows.loc[rows["key"] == "glft", "ce_exact_discrete"].iloc[0])
        analytic = float(rows.loc[rows["key"] == "glft", "ce_analytic_continuous"].iloc[0])
        # Top: the values, with the continuous-time one; bottom: relative to GLFT exact's
        # exact discrete-time CE, where the Monte Carlo CIs are visible.
        for ax, shift in ((axes[0, col], 0.0), (axes[1, col], reference)):
            for i, r in rows.iterrows():
                ax.errorbar(i, r.ce - shift, yerr=[[r.ce - r.ce_ci_low], [r.ce_ci_high - r.ce]],
                            fmt="o", color=_COLORS[r.key], capsize=4,
                            label="Monte Carlo, 95% CI" if i == 0 else None)
                ax.plot(i + 0.15, r.ce_exact_discrete - shift, "x", color="k", ms=7,
                        label="exact, discrete time" if i == 0 else None)
            ax.set_xticks(np.arange(len(rows)), rows["policy"], fontsize=8)
            ax.set_xlim(-0.5, len(rows) - 0.5)
        axes[0, col].axhline(analytic, color="tab:red", ls="--", lw=1,
                             label=f"GLFT continuous time ({analytic:.2f})")
        axes[0, col].set_title(name, fontsize=10)
        axes[0, col].set_ylabel("certainty equivalent (money)")
        axes[0, col].legend(fontsize=7)
        axes[1, col].axhline(0.0, color="k", lw=0.5)
        axes[1, col].set_ylabel(f"CE - {reference:.3f} (GLFT exact, discrete)")
    return fig


def _ce_figure_reading(s: pd.DataFrame) -> str:
    parts, below = [], True
    for market, rows in s.groupby("market", sort=False):
        order = rows.sort_values("ce", ascending=False)["policy"].tolist()
        exact = rows.sort_values("ce_exact_discrete", ascending=False)["policy"].tolist()
        parts.append(f"`{market}`: " + " > ".join(order)
                     + ("" if exact == order else " (exact: " + " > ".join(exact) + ")"))
        analytic = rows["ce_analytic_continuous"].max()
        below &= bool((rows["ce_ci_high"] < analytic).all()
                      and (rows["ce_exact_discrete"] < analytic).all())
    return ("Top: Monte Carlo CE with 95% CI (dots), the exact discrete-time CE of each policy "
            "(crosses) and the continuous-time GLFT value (dashed); bottom: the same relative to "
            "GLFT exact's exact discrete-time CE, on a scale where the CIs show. Order by Monte "
            "Carlo CE: "
            + "; ".join(parts) + ". "
            + ("Every point and CI lies below the dashed line: the continuous-time value is not "
               "reachable at the env's dt; the discrete env approaches it as dt -> 0 (table "
               "below)." if below else "Some CI reaches the continuous-time value."))


# --- discretisation ------------------------------------------------------------------------
def _dt_convergence(markets, gamma: float, halvings: int) -> pd.DataFrame:
    rows = []
    for name, params in markets.items():
        analytic = analytic_certainty_equivalent(params, gamma)
        previous = None
        for j in range(halvings + 1):
            p = params.replace(dt=params.dt / 2**j)
            exact = discrete_certainty_equivalent(GLFTPolicy.from_env(p, gamma=gamma), p, gamma)
            gap = exact - analytic
            rows.append({
                "market": name, "dt": p.dt, "steps": p.n_steps, "ce_exact_discrete": exact,
                "ce_analytic_continuous": analytic, "gap": gap,
                "relative_gap": gap / analytic,
                "gap_ratio_to_previous": previous / gap if previous is not None else np.nan,
                "richardson_error": 2 * gap - previous if previous is not None else np.nan,
            })
            previous = gap
    return pd.DataFrame(rows)


def _convergence_display(c: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "market": c["market"], "dt": c["dt"].map("{:g}".format), "steps": c["steps"],
        "CE exact, discrete time": c["ce_exact_discrete"].map("{:.4f}".format),
        "CE analytic, continuous": c["ce_analytic_continuous"].map("{:.4f}".format),
        "gap": c["gap"].map("{:+.4f}".format),
        "relative gap": c["relative_gap"].map("{:+.2%}".format),
        "gap(2 dt) / gap(dt)": c["gap_ratio_to_previous"].map(
            lambda v: "-" if not np.isfinite(v) else f"{v:.3f}"),
        "Richardson 2 CE(dt) - CE(2 dt) - analytic": c["richardson_error"].map(
            lambda v: "-" if not np.isfinite(v) else f"{v:+.4f}"),
    })


def _convergence_reading(c: pd.DataFrame) -> str:
    parts = []
    for market, rows in c.groupby("market", sort=False):
        first, last = rows.iloc[0], rows.iloc[-1]
        ratios = rows["gap_ratio_to_previous"].dropna()
        parts.append(
            f"`{market}`: gap {first['gap']:+.3f} ({first['relative_gap']:+.1%}) at the "
            f"market's dt = {first['dt']:g}, {last['gap']:+.4f} at dt = {last['dt']:g}; "
            "successive ratios "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f"; the Richardson extrapolation 2 CE(dt/2) - CE(dt) misses the continuous value "
              f"by {last['richardson_error']:+.4f}")
    return ("Exact CE of GLFT exact in the discrete-time env (backward induction, no Monte "
            "Carlo) as dt is halved, against the continuous-time value. " + "; ".join(parts)
            + ". Halving dt halves the gap (ratios near 2): it is O(dt), and its leading cause "
              "is the env's fill rule, at most one fill per side and step with probability "
              "1 - exp(-lambda dt) = lambda dt - (lambda dt)^2/2 + ..., which loses a fraction "
              "~ lambda dt / 2 of the fills continuous trading would get.")
