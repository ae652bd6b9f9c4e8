"""Calibration and replay: estimate the model from data, then run AS and GLFT with the
estimates on the model and on a replay of the data, side by side.

Data. By default synthetic, from simulators whose parameters are known: trades and quotes of
the reduced-form market ``markets.<market>`` (:func:`asmm_env.data.simulated_trades_quotes`:
its mid on a grid of ``dt / data_steps``, market orders at rate A per side reaching
``Exp(k)`` beyond the mid), ``sessions`` sessions of length T in days of
``sessions_per_day``; and the order book (``book``) recorded as LOBSTER frames
(:class:`asmm_env.lob.recorder.BookRecorder`). With ``--data PATH``: the user's files, a
LOBSTER pair (a message file, or a directory of pairs) or trades and quotes tables (a
directory of ``*trades.csv`` / ``*quotes.csv`` pairs); sessions are then ``replay_T`` long
with decisions every ``replay_dt`` (the data's time unit).

Method. sigma from the realised variance of the mid sampled every decision step, pooled over
days; A and k by maximum likelihood from the market orders' reaches
(:func:`asmm_env.calibration.fit_intensity`), per side and pooled over both sides, on
continuous prices from the mid (``delta_min = 0``) or on a grid of half a tick from half a
tick; the book's rates by Poisson likelihood (:func:`asmm_env.calibration.fit_book_rates`).
AS(gamma) and GLFT(gamma, Q) built from the estimates run on the model (``MarketParams`` with
the estimates, ``max_inventory = Q``; ``rollout`` with the run's seed) and on the replay of
the data (every session; :mod:`asmm_env.replay`: queue positions, fills from the data's
trades, the same ledger). A latency sweep replays AS with entry and cancel latency of
fractions of dt. On the book, the simulator's own output (its event stream recorded while a
policy quotes at the best) is replayed with that policy: the replay should fill what the
simulator filled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asmm_env.calibration import (
    fit_book_rates,
    fit_intensity,
    fit_intensity_per_side,
    fit_sigma,
    plot_intensity_fit,
    plot_interarrival_qq,
)
from asmm_env.data import (
    LobsterData,
    read_lobster,
    read_trades_quotes,
    simulated_trades_quotes,
)
from asmm_env.lob.recorder import BookRecorder
from asmm_env.params import MarketParams
from asmm_env.replay import ReplayMarket, ReplayParams, ReplayTape
from asmm_env.rollout import rollout
from asmm_env.validation import check_positive, check_positive_int
from baselines import AvellanedaStoikovPolicy, ConstantSpreadPolicy, GLFTPolicy
from experiments._lob import book_params
from experiments.findings import Below, Estimate, Near
from experiments.framework import Context, Variation
from experiments.stats import Z95, format_ci, mean_ci, pnl_summary, ratio_ci
from experiments.style import label_axes, plot_ci

TITLE = "Calibration to data, and AS and GLFT on the model and on a replay of the data"

_BOOK_FIXED = ("T", "s0")
_NO_QUOTES = -1


@dataclass(frozen=True)
class Settings:
    """``experiments.calibration`` in the config.

    market : the reduced-form market of the synthetic trades and quotes (its sigma, A, k are
        the truth; its T and dt are the sessions' and the decisions').
    sessions : synthetic sessions (episodes of T) replayed and simulated (>= 2).
    sessions_per_day : sessions per synthetic day (>= 1).
    data_steps : quotes per decision step in the synthetic data (>= 1): the mid moves within
        a decision step, as real quotes do.
    gamma : risk aversion of AS and GLFT, 1 / money.
    glft_Q : GLFT's inventory bound, orders; the model and the replay enforce it for both
        policies.
    latencies : entry and cancel latencies of the sweep, fractions of dt in [0, 1).
    book_sessions, book_T : synthetic book sessions and their length (time units).
    book : ``BookParams`` overrides of the synthetic book (not ``T`` or ``s0``).
    replay_T, replay_dt : session length and decision step for ``--data`` (data time units).
    tick_size : the tick of ``--data``, currency units (>= 0; 0: continuous prices; None:
        the LOBSTER files' own when read with one, else 0). Set it for tick data: A and k
        are then fitted on a grid of half a tick.
    robustness_paths : fraction of the sessions the robustness checks run on.
    """

    market: str = "as2008"
    sessions: int = 160
    sessions_per_day: int = 8
    data_steps: int = 2
    gamma: float = 0.1
    glft_Q: int = 25
    latencies: tuple[float, ...] = (0.0, 0.5, 0.9)
    book_sessions: int = 100
    book_T: float = 40.0
    book: dict[str, Any] = field(default_factory=dict)
    replay_T: float = 300.0
    replay_dt: float = 1.0
    tick_size: float | None = None
    robustness_paths: float = 0.3

    def __post_init__(self) -> None:
        for name in ("sessions_per_day", "data_steps", "glft_Q", "book_sessions"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("sessions", self.sessions)
        if self.sessions < 2:
            raise ValueError(f"sessions must be an integer >= 2, got {self.sessions!r}")
        for name in ("gamma", "book_T", "replay_T", "replay_dt"):
            check_positive(name, getattr(self, name))
        if self.tick_size is not None and not (isinstance(self.tick_size, float)
                                               and self.tick_size >= 0):
            raise ValueError(f"tick_size must be a number >= 0 or null, got "
                             f"{self.tick_size!r}")
        lat = self.latencies
        if not isinstance(lat, tuple) or len(lat) < 2 or lat[0] != 0.0 or any(
                not 0.0 <= x < 1.0 for x in lat) or list(lat) != sorted(set(lat)):
            raise ValueError(f"latencies must be increasing fractions of dt in [0, 1) starting "
                             f"at 0, at least two, got {lat!r}")
        if not 0.0 < self.robustness_paths <= 1.0:
            raise ValueError(f"robustness_paths must be in (0, 1], got "
                             f"{self.robustness_paths!r}")
        self.book_params()

    def book_params(self):
        return book_params(self.book, fixed=_BOOK_FIXED, s0=100.005, T=self.book_T)


# --- data and calibration ------------------------------------------------------------------
@dataclass
class Calibrated:
    """The estimates of one data set and what the policies need."""

    sigma: Any
    pooled: Any
    sides: dict
    days: list
    tick: float
    decision_dt: float
    T: float
    s0: float


def synthetic_days(model: MarketParams, s: Settings, n_sessions: int, seed: int) -> list:
    """Trades and quotes of the reduced-form market, ``n_sessions`` sessions."""
    n_days = math.ceil(n_sessions / s.sessions_per_day)
    params = model.replace(T=model.T * s.sessions_per_day, dt=model.dt / s.data_steps)
    return simulated_trades_quotes(params, n_days=n_days, seed=seed)


def load_user_data(path: Path, tick_size: float | None) -> list:
    """The days of ``--data``: a LOBSTER message file, or a directory of LOBSTER pairs or of
    ``*trades.csv`` / ``*quotes.csv`` pairs."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.iterdir())
    messages = [f for f in files if re.search(r"_message_\d+\.csv$", f.name)]
    if messages:
        return [read_lobster(m, m.with_name(re.sub(r"_message_(\d+)\.csv$",
                                                   r"_orderbook_\1.csv", m.name)),
                             tick_size=tick_size) for m in messages]
    trades = [f for f in files if re.search(r"trades\.(csv|parquet|pq)$", f.name)]
    days = []
    for t in trades:
        quotes = t.with_name(t.name.replace("trades", "quotes"))
        days.append(read_trades_quotes(t, quotes))
    if not days:
        raise ValueError(f"--data {str(path)!r}: no LOBSTER message file and no *trades.csv "
                         f"with its *quotes.csv")
    return days


def calibrate(days: list, tick: float, decision_dt: float, T: float) -> Calibrated:
    """sigma, and A and k per side and pooled, from every day (module docstring)."""
    orders, iv, iv_var, span, offset = [], 0.0, 0.0, 0.0, 0.0
    for d in days:
        lob = isinstance(d, LobsterData)
        top = d.top_of_book()
        fit = fit_sigma(top["time"], top["mid"], dt=decision_dt)
        iv += fit.sigma2.value * fit.duration
        iv_var += (fit.sigma2.se * fit.duration) ** 2
        span += fit.duration
        duration = d.trading_duration() if lob else d.duration()
        o = d.market_orders()
        orders.append(o.assign(time=o["time"] - o["time"].min() + offset if len(o) else 0.0))
        offset += duration + decision_dt
    exposure = offset - decision_dt * len(days)
    orders = pd.concat(orders, ignore_index=True)
    delta_min, grid = (tick / 2, tick / 2) if tick else (0.0, None)
    sides = fit_intensity_per_side(orders, duration=exposure, delta_min=delta_min,
                                   tick_size=grid)
    pooled = fit_intensity(orders["reach"].to_numpy(), duration=2 * exposure,
                           delta_min=delta_min, tick_size=grid,
                           censored=orders["censored"].to_numpy(dtype=bool))
    sigma2, se2 = iv / span, math.sqrt(iv_var) / span
    sigma = {"value": math.sqrt(sigma2), "se": se2 / (2 * math.sqrt(sigma2)),
             "ci_low": math.sqrt(max(sigma2 - Z95 * se2, 0.0)),
             "ci_high": math.sqrt(sigma2 + Z95 * se2)}
    s0 = float(days[0].top_of_book()["mid"].dropna().iloc[0])
    return Calibrated(sigma, pooled, sides, days, tick, decision_dt, T, s0)


# --- the model and the replay -----------------------------------------------------------------
def model_params(cal: Calibrated, s: Settings, base: MarketParams | None) -> MarketParams:
    """The market the estimates describe, bounded at Q orders for GLFT."""
    fields = dict(s0=cal.s0, sigma=cal.sigma["value"], A=cal.pooled.A.value,
                  k=cal.pooled.k.value, T=cal.T, dt=cal.decision_dt,
                  max_inventory=float(s.glft_Q))
    if base is not None:
        fields["adverse_selection_steps"] = base.adverse_selection_steps
    return MarketParams(**fields)


def policies(params: MarketParams, s: Settings) -> dict:
    return {"AS": AvellanedaStoikovPolicy.from_env(params, s.gamma),
            "GLFT": GLFTPolicy.from_env(params, s.gamma)}


def replay(policy, params: MarketParams, cal: Calibrated, seed: int, n: int,
           latency: float = 0.0, start: float | None = None) -> pd.DataFrame:
    """``policy`` on the replay of ``cal.days``: sessions of T from each day's start."""
    rp = ReplayParams(T=cal.T, start=start, dt=cal.decision_dt, tick_size=cal.tick,
                      max_inventory=params.max_inventory, max_depth=params.depth_bound,
                      entry_latency=latency, cancel_latency=latency,
                      adverse_selection_steps=params.adverse_selection_steps)
    tape = ReplayTape.from_data(cal.days, tick_size=cal.tick)
    core = ReplayMarket(rp, 1, data=tape)
    return rollout(policy, core.params, n_paths=min(n, core.n_slices), seed=seed,
                   market_factory=functools.partial(ReplayMarket, data=tape)).paths


def book_fidelity(s: Settings, v: Variation, n: int) -> pd.DataFrame:
    """The book with a policy quoting at the best; its recorded output replayed with it."""
    book = v.market(s.book_params())
    policy = ConstantSpreadPolicy(0.5 * book.tick_size, action_map=book)
    res = rollout(policy, book, n_paths=n, seed=v.seed, observers=[BookRecorder])
    rp = ReplayParams(T=book.T, start=34_200.0, dt=book.dt, tick_size=book.tick_size,
                      max_depth=book.depth_bound)
    tape = ReplayTape.from_data(res.observed[0][0], tick_size=book.tick_size)
    rep = rollout(policy, rp, n_paths=n, seed=v.seed,
                  market_factory=functools.partial(ReplayMarket, data=tape)).paths
    volume = lambda df: (df["bid_volume"] + df["ask_volume"]).to_numpy()   # noqa: E731
    return pd.DataFrame({"simulator": volume(res.paths), "replay": volume(rep)})


# --- run ----------------------------------------------------------------------------------------
QUICK = dict(sessions=20, book_sessions=4, book_T=10.0)
"""Sizes of ``--quick`` (a smoke run of a few seconds), and the sweep's end points only."""


def run(ctx: Context, settings: Settings) -> None:
    s = settings
    if ctx.quick:
        s = dataclasses.replace(s, sessions=min(s.sessions, QUICK["sessions"]),
                                book_sessions=min(s.book_sessions, QUICK["book_sessions"]),
                                book_T=min(s.book_T, QUICK["book_T"]),
                                latencies=(0.0, s.latencies[-1]))
    user = ctx.data is not None
    base = None if user else ctx.market(s.market)
    n = ctx.paths(s.sessions)
    cache: dict = {}

    def study(v: Variation) -> dict:
        if v in cache:
            return cache[v]
        sessions = max(2, v.paths(n))
        if user:
            days = load_user_data(ctx.data, s.tick_size or None)
            tick = s.tick_size if s.tick_size is not None else next(
                (d.tick_size for d in days if getattr(d, "tick_size", None)), 0.0)
            cal = calibrate(days, tick, s.replay_dt * v.dt_factor, s.replay_T)
            start = None
        else:
            market = v.market(base)
            # The data are an independent sample (the calibration's input), not the model's
            # paths: a seed of their own.
            days = synthetic_days(market, s, sessions, v.seed_for(1))
            cal = calibrate(days, 0.0, market.dt, market.T)
            start = 0.0
        params = model_params(cal, s, None if user else v.market(base))
        pols = policies(params, s)
        out = {"cal": cal, "params": params, "start": start, "sessions": sessions}
        out["model_AS"] = rollout(pols["AS"], params, n_paths=sessions, seed=v.seed).paths
        out["replay_AS"] = replay(pols["AS"], params, cal, v.seed, sessions, start=start)
        lat = s.latencies[-1] * cal.decision_dt
        out["replay_AS_late"] = replay(pols["AS"], params, cal, v.seed, sessions, lat, start)
        if not user:
            out["book"] = book_fidelity(s, v, max(2, v.paths(s.book_sessions)))
        cache[v] = out
        return out

    main = study(ctx.variation())
    cal, params = main["cal"], main["params"]
    pols = policies(params, s)
    runs = {("AS", "model"): main["model_AS"], ("AS", "replay"): main["replay_AS"],
            ("GLFT", "model"): rollout(pols["GLFT"], params, n_paths=main["sessions"],
                                       seed=ctx.seed).paths,
            ("GLFT", "replay"): replay(pols["GLFT"], params, cal, ctx.seed, main["sessions"],
                                       start=main["start"])}

    # --- tables -----------------------------------------------------------------------
    estimates = _estimates(cal, base, None if user else _book_rates(s, ctx))
    ctx.table(estimates, "calibration_estimates",
              "Estimates with standard errors and 95% intervals (and the truth, on synthetic "
              "data)", "sigma in price units per sqrt(time unit), A in orders per time unit "
              "and side, k per price unit; the book's rates per time unit. On synthetic data "
              "'covers' says whether the interval holds the true value.",
              display=estimates.assign(estimate=[format_ci(r.estimate, r.ci_low, r.ci_high, 4)
                                                 for r in estimates.itertuples()])
              [["parameter", "side", "true", "estimate", "se", "n", "covers"]])
    ctx.table(_goodness(cal), "calibration_goodness_of_fit",
              "Goodness of fit of the reach and arrival models, per side",
              "Chi-square tests of the reach law (k estimated: df = bins - 2) and "
              "Kolmogorov-Smirnov tests of the inter-arrival times against the fitted "
              "Poisson rate (p-values conservative: parameters estimated on the same data).")
    side = _side_by_side(runs, s.gamma)
    ctx.table(side, "calibration_model_vs_replay",
              "AS and GLFT with the calibrated parameters: on the model and on the replay",
              "Per session (price units x shares): the standard PnL summary, fills, spread "
              "capture and adverse selection per fill (price units per share), terminal "
              "inventory and the largest identity residual; model and replay sessions are "
              "independent samples.",
              display=side[["policy", "venue", "paths", "mean_pnl", "sharpe", "fills",
                            "capture_per_fill", "adverse_per_fill", "abs_inventory",
                            "max_identity_residual"]])
    sweep = _latency_sweep(pols["AS"], params, cal, ctx.seed, main, s)
    ctx.table(sweep, "calibration_latency",
              "AS on the replay with entry and cancel latency",
              "Latency as a fraction of the decision step and in time units; PnL and its "
              "difference with zero latency (paired: the same sessions) with 95% intervals.",
              display=sweep.assign(pnl=[format_ci(r.pnl, r.pnl_ci_low, r.pnl_ci_high)
                                        for r in sweep.itertuples()],
                                   cost=[format_ci(r.cost, r.cost_ci_low, r.cost_ci_high)
                                         for r in sweep.itertuples()])
              [["latency_fraction", "latency", "pnl", "cost", "fills", "capture_per_fill"]])
    if not user:
        fid = main["book"]
        r = ratio_ci(fid["replay"], fid["simulator"])
        ctx.table(pd.DataFrame([{"sessions": len(fid), "simulator": fid["simulator"].mean(),
                                 "replay": fid["replay"].mean(), "ratio": r["ratio"],
                                 "ratio_ci_low": r["ci_low"], "ratio_ci_high": r["ci_high"]}]),
                  "calibration_book_fidelity",
                  "The book's own output replayed: shares filled per session",
                  "A policy quoting at the best on the synthetic book; its event stream "
                  "(its own trades included, the other traders' book) replayed with the same "
                  "policy (pro-rata cancellations); ratio of the replay's shares to the "
                  "simulator's with a delta-method 95% interval.")

    # --- findings ---------------------------------------------------------------------
    if not user:
        true_k = base.k

        def k_error(v: Variation) -> Estimate:
            k = study(v)["cal"].pooled.k
            return Estimate(k.value / true_k - 1, k.ci_low / true_k - 1,
                            k.ci_high / true_k - 1)

        ctx.finding("k_recovered", statement="Calibration recovers k from the market orders' "
                    "reaches: relative error {value:+.3f} [{ci_low:+.3f}, {ci_high:+.3f}].",
                    statistic="k estimate / true k - 1, both sides pooled",
                    rule=Near(0.0, 0.1), estimate=k_error, section="calibration_estimates",
                    robustness_paths=s.robustness_paths)

    def gap(column: str, per_fill: bool):
        def estimate(v: Variation) -> Estimate:
            st = study(v)
            return _difference(st["replay_AS"], st["model_AS"], column, per_fill)
        return estimate

    def relative_pnl(v: Variation) -> Estimate:
        st = study(v)
        a, b = mean_ci(st["replay_AS"]["terminal_pnl"]), mean_ci(st["model_AS"]["terminal_pnl"])
        ratio = a["mean"] / b["mean"]
        se = math.hypot(a["se"], ratio * b["se"]) / abs(b["mean"])
        return Estimate(ratio - 1, ratio - 1 - Z95 * se, ratio - 1 + Z95 * se)

    ctx.finding("pnl_gap_as", statement="AS with the calibrated parameters makes "
                "{value:+.1%} [{ci_low:+.1%}, {ci_high:+.1%}] more per session on the replay "
                "than on the model.",
                statistic="mean PnL per session, replay / model - 1, AS",
                rule=Near(0.0, 0.05), estimate=relative_pnl,
                section="calibration_model_vs_replay", robustness_paths=s.robustness_paths)
    ctx.finding("capture_gap_as", statement="On the replay each fill captures {value:+.4f} "
                "[{ci_low:+.4f}, {ci_high:+.4f}] price units per share against the mid at the "
                "fill compared with the model: quotes are stale within a decision step.",
                statistic="spread capture per fill, replay minus model, AS",
                unit="price units per share", rule=Below(0.0),
                estimate=gap("spread_capture", True), section="calibration_model_vs_replay",
                robustness_paths=s.robustness_paths)

    def latency_cost(v: Variation) -> Estimate:
        st = study(v)
        m = mean_ci(st["replay_AS_late"]["terminal_pnl"].to_numpy()
                    - st["replay_AS"]["terminal_pnl"].to_numpy())
        return Estimate.from_stats(m, "mean")

    ctx.finding("latency_cost", statement=f"A latency of {s.latencies[-1]:g} dt (entry and "
                "cancel) changes AS's PnL on the replay by {value:+.3f} [{ci_low:+.3f}, "
                "{ci_high:+.3f}] per session: quotes rest stale, and a filled order is out "
                "of the book until its replacement arrives.",
                statistic="mean PnL per session, with latency minus without (paired)",
                unit="price units", rule=Below(0.0), estimate=latency_cost,
                section="calibration_latency", robustness_paths=s.robustness_paths)
    if not user:
        def fidelity(v: Variation) -> Estimate:
            f = study(v)["book"]
            return Estimate.from_stats(ratio_ci(f["replay"], f["simulator"]), "ratio")

        ctx.finding("book_replay_fills", statement="Replaying the book's own output with the "
                    "policy that produced it fills {value:.3f} [{ci_low:.3f}, {ci_high:.3f}] "
                    "times the shares the simulator filled.",
                    statistic="shares filled, replay / simulator, quoting at the best",
                    rule=Near(1.0, 0.05), estimate=fidelity,
                    section="calibration_book_fidelity", robustness_paths=s.robustness_paths)

    # --- figures ------------------------------------------------------------------------
    ctx.figure(_on_canvas(plot_intensity_fit(cal.sides)), "calibration_intensity_fit",
               "Fitted against empirical intensity, per side",
               "Orders per time unit reaching each depth (Kaplan-Meier, 95% bars) and the "
               "fitted A exp(-k delta); log scale.")
    ctx.figure(_on_canvas(plot_interarrival_qq(cal.sides)), "calibration_interarrival_qq",
               "Inter-arrival times against the fitted Poisson process",
               "Quantiles of the times between market orders against the exponential law of "
               "the fitted rate; the diagonal is a perfect fit.")
    ctx.figure(_latency_figure(sweep), "calibration_latency_cost", "What stale quotes cost",
               "AS's mean PnL per session on the replay against the entry and cancel latency "
               "(fraction of the decision step), with 95% intervals.")


def _on_canvas(fig):
    """A library figure (no pyplot) on an Agg canvas, as the framework's checks need."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    return fig


def _difference(rep: pd.DataFrame, mod: pd.DataFrame, column: str,
                per_fill: bool) -> Estimate:
    """Replay minus model of a mean (or of a ratio of means per fill), independent samples."""
    if per_fill:
        a, b = ratio_ci(rep[column], rep["fills"]), ratio_ci(mod[column], mod["fills"])
        value, se = a["ratio"] - b["ratio"], math.hypot(a["se"], b["se"])
    else:
        a, b = mean_ci(rep[column]), mean_ci(mod[column])
        value, se = a["mean"] - b["mean"], math.hypot(a["se"], b["se"])
    return Estimate(value, value - Z95 * se, value + Z95 * se)


def _book_rates(s: Settings, ctx: Context) -> dict:
    """The book's rates from its own output without any agent, pooled over sessions by
    Poisson counts and exposures (``count = (rate / se)^2``)."""
    book = s.book_params()
    n = max(2, ctx.paths(s.book_sessions))

    class NoQuotes:
        def offsets(self, obs):
            return np.full((obs.shape[0], 2), _NO_QUOTES)

    # The calibration's input, not a policy's market: a sample of its own.
    days = rollout(NoQuotes(), book, n_paths=n, seed=ctx.seed_for(2),
                   observers=[BookRecorder]).observed[0][0]
    fits = [fit_book_rates(d, tick_size=book.tick_size, order_size=book.order_size)
            for d in days]
    out = {"truth": book}
    for name in ("limit_rate", "cancel_rate", "market_rate"):
        est = [getattr(f, name) for f in fits]
        counts = np.array([(e.value / e.se) ** 2 for e in est])
        exposure = np.array([e.value / e.se ** 2 for e in est])
        rate = counts.sum() / exposure.sum()
        se = math.sqrt(counts.sum()) / exposure.sum()
        out[name] = (rate, se, counts.sum())
    return out


def _estimates(cal: Calibrated, base: MarketParams | None, book: dict | None) -> pd.DataFrame:
    rows = []

    def add(parameter, side, est, n, true=math.nan):
        rows.append({"parameter": parameter, "side": side, "true": true,
                     "estimate": est["value"], "se": est["se"], "ci_low": est["ci_low"],
                     "ci_high": est["ci_high"], "n": n,
                     "covers": (est["ci_low"] <= true <= est["ci_high"])
                     if not math.isnan(true) else ""})

    def asdict(e):
        return {"value": e.value, "se": e.se, "ci_low": e.ci_low, "ci_high": e.ci_high}

    truth = (lambda name: getattr(base, name)) if base is not None else (lambda name: math.nan)
    add("sigma", "mid", cal.sigma, len(cal.days), truth("sigma"))
    for side, fit in [("both", cal.pooled), *cal.sides.items()]:
        add("A", side, asdict(fit.A), fit.n_orders, truth("A"))
        add("k", side, asdict(fit.k), fit.n_orders, truth("k"))
    if book is not None:
        for name, (rate, se, count) in ((n, book[n]) for n in
                                        ("limit_rate", "cancel_rate", "market_rate")):
            add(name, "book", {"value": rate, "se": se, "ci_low": rate - Z95 * se,
                               "ci_high": rate + Z95 * se}, int(count),
                getattr(book["truth"], name))
    return pd.DataFrame(rows)


def _goodness(cal: Calibrated) -> pd.DataFrame:
    rows = []
    for side, fit in cal.sides.items():
        for what, test in (("reach", fit.reach_chi2), ("inter-arrival", fit.interarrival_ks)):
            if test is not None:
                rows.append({"side": side, "law": what, "test": test.name,
                             "statistic": test.statistic, "p_value": test.p_value,
                             "n": test.n})
    return pd.DataFrame(rows)


def _side_by_side(runs: dict, gamma: float) -> pd.DataFrame:
    rows = []
    for (policy, venue), df in runs.items():
        summary = pnl_summary(df["terminal_pnl"].to_numpy(), gamma=gamma)
        fills = df["fills"].sum()
        rows.append({"policy": policy, "venue": venue, **summary,
                     "mean_pnl": format_ci(summary["mean"], summary["mean_ci_low"],
                                           summary["mean_ci_high"]),
                     "fills": df["fills"].mean(),
                     "capture_per_fill": df["spread_capture"].sum() / fills,
                     "adverse_per_fill": df["adverse_selection"].sum() / fills,
                     "abs_inventory": df["terminal_inventory"].abs().mean(),
                     "max_identity_residual": df["max_identity_residual"].max()})
    return pd.DataFrame(rows)


def _latency_sweep(policy, params, cal, seed, main, s: Settings) -> pd.DataFrame:
    zero = main["replay_AS"]["terminal_pnl"].to_numpy()
    rows = []
    for fraction in s.latencies:
        lat = fraction * cal.decision_dt
        df = (main["replay_AS"] if fraction == 0 else main["replay_AS_late"]
              if fraction == s.latencies[-1] else
              replay(policy, params, cal, seed, main["sessions"], lat, main["start"]))
        pnl, cost = mean_ci(df["terminal_pnl"]), mean_ci(df["terminal_pnl"].to_numpy() - zero)
        rows.append({"latency_fraction": fraction, "latency": lat, "pnl": pnl["mean"],
                     "pnl_ci_low": pnl["ci_low"], "pnl_ci_high": pnl["ci_high"],
                     "cost": cost["mean"], "cost_ci_low": cost["ci_low"],
                     "cost_ci_high": cost["ci_high"], "fills": df["fills"].mean(),
                     "capture_per_fill": df["spread_capture"].sum() / df["fills"].sum()})
    return pd.DataFrame(rows)


def _latency_figure(sweep: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    plot_ci(ax, sweep["latency_fraction"], sweep["pnl"], sweep["pnl_ci_low"],
            sweep["pnl_ci_high"], policy="AS", label="AS on the replay")
    label_axes(ax, x=("entry and cancel latency", "fraction of dt"),
               y=("mean PnL per session", "price units"))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
