"""One look for every figure: a colour, line style and marker per policy (the same in every
figure), axis labels with units, visible confidence intervals, labels that do not overlap,
linear or true log scales only, and a checker that finds what a reader would trip over.

Colours are the Okabe & Ito (2008) colour-blind-safe palette, completed with Tol's (2021);
line styles and markers differ too, so figures survive greyscale printing. Nothing here
changes matplotlib's global state: helpers act on the axes they are given.

Example
-------
>>> import matplotlib.pyplot as plt
>>> from experiments import style
>>> fig, ax = plt.subplots()
>>> x = [1.0, 2.0, 3.0]
>>> _ = style.plot_ci(ax, x, [1.0, 2.0, 2.5], [0.8, 1.7, 2.1], [1.2, 2.3, 2.9], policy="as",
...                   label="AS inventory")
>>> style.label_axes(ax, x=("gamma", "1 / price units"), y=("terminal PnL", "price units"))
>>> style.figure_problems(fig)
[]
>>> plt.close(fig)
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Style:
    """How one policy is drawn: ``color`` (hex), ``linestyle`` (a matplotlib line style: a
    name or an ``(offset, dashes)`` tuple) and ``marker``."""

    color: str
    linestyle: str | tuple
    marker: str

    def kwargs(self, markers: bool = True) -> dict:
        """Keyword arguments for ``ax.plot`` / ``ax.errorbar``."""
        out = {"color": self.color, "linestyle": self.linestyle}
        if markers:
            out["marker"] = self.marker
        return out


POLICY_STYLES: Mapping[str, Style] = MappingProxyType({
    "as": Style("#0072B2", "-", "o"),                               # blue
    "glft": Style("#D55E00", "--", "s"),                            # vermillion
    "glft_asymptotic": Style("#CC79A7", "-.", "D"),                 # reddish purple
    "symmetric": Style("#009E73", ":", "^"),                        # bluish green
    "constant": Style("#000000", (0, (5, 2, 1, 2)), "v"),           # black
    "undercut": Style("#E69F00", (0, (3, 1, 1, 1)), "P"),           # orange
    "nash": Style("#56B4E9", (0, (1, 1)), "X"),                     # sky blue
    "fixed_as": Style("#332288", (0, (8, 2)), "h"),                 # indigo
    "competition_aware": Style("#882255", (0, (4, 1, 1, 1, 1, 1)), "*"),   # wine
    "microprice": Style("#117733", (0, (6, 1, 2, 1)), "p"),         # green
    "random": Style("#999933", (0, (2, 2)), "d"),                   # olive
})
"""The style of each known policy, by key."""

ALIASES: Mapping[str, str] = MappingProxyType({
    "as_inventory": "as", "as_closed_form": "as", "avellaneda_stoikov": "as",
    "glft_exact": "glft", "constant_spread": "constant", "micro_price": "microprice",
})
"""Labels used in tables and legends, normalised, mapped to their policy key."""

_FALLBACK_COLORS = ("#44AA99", "#88CCEE", "#DDCC77", "#CC6677", "#AA4499", "#661100",
                    "#6699CC", "#888888")
_FALLBACK_LINESTYLES = ("-", "--", "-.", ":")
_FALLBACK_MARKERS = ("o", "s", "^", "v", "D", "P")


def policy_key(name: str) -> str:
    """The normalised key of a policy name or label: lower case, runs of spaces, hyphens and
    other separators as ``_``, aliases resolved (``"AS inventory"`` -> ``"as"``,
    ``"competition-aware"`` -> ``"competition_aware"``)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    key = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    return ALIASES.get(key, key)


def policy_style(name: str) -> Style:
    """The style of a policy: from :data:`POLICY_STYLES` for a known name or label, else a
    deterministic fallback picked by a hash (SHA-256) of its key, the same in every process
    and run, from colours no known policy uses."""
    key = policy_key(name)
    if key in POLICY_STYLES:
        return POLICY_STYLES[key]
    digest = hashlib.sha256(key.encode()).digest()
    return Style(_FALLBACK_COLORS[digest[0] % len(_FALLBACK_COLORS)],
                 _FALLBACK_LINESTYLES[digest[1] % len(_FALLBACK_LINESTYLES)],
                 _FALLBACK_MARKERS[digest[2] % len(_FALLBACK_MARKERS)])


# --- axes -------------------------------------------------------------------------------------
def axis_label(quantity: str, unit: str) -> str:
    """``"terminal PnL (price units)"``; ``unit=""`` for a dimensionless quantity."""
    if not isinstance(quantity, str) or not quantity.strip():
        raise ValueError(f"quantity must be a non-empty string, got {quantity!r}")
    if not isinstance(unit, str):
        raise ValueError(f"unit must be a string ('' when dimensionless), got {unit!r}")
    return f"{quantity} ({unit})" if unit.strip() else quantity


def label_axes(ax, *, x: tuple[str, str] | None = None, y: tuple[str, str] | None = None
               ) -> None:
    """Label the axes of ``ax`` with quantity and unit, e.g. ``x=("time", "session")``."""
    for name, spec, setter in (("x", x, ax.set_xlabel), ("y", y, ax.set_ylabel)):
        if spec is None:
            continue
        if not isinstance(spec, tuple) or len(spec) != 2:
            raise ValueError(f"{name} must be a (quantity, unit) tuple, got {spec!r}")
        setter(axis_label(*spec))


def set_scale(ax, axis: str, scale: str) -> None:
    """Set a linear or a true log scale (no symlog: it reads as a log axis and is not one).
    Call after plotting: a log scale needs positive data."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log' (no symlog: it reads as a log "
                         f"axis), got {scale!r}")
    if scale == "log":
        low = ax.dataLim.x0 if axis == "x" else ax.dataLim.y0
        if ax.has_data() and not low > 0:
            raise ValueError(f"scale: a log {axis} axis needs positive data, the smallest "
                             f"value is {low!r}")
    (ax.set_xscale if axis == "x" else ax.set_yscale)(scale)


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, so it never covers data."""
    options = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0,
               "frameon": False}
    options.update(kwargs)
    return ax.legend(**options)


# --- intervals --------------------------------------------------------------------------------
def _arrays(**named) -> dict[str, np.ndarray]:
    out, shape = {}, None
    for name, value in named.items():
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an array of numbers") from None
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
        if shape is not None and arr.shape != shape:
            raise ValueError(f"{name} must have the shape of x {shape}, got {arr.shape}")
        shape = arr.shape
        out[name] = arr
    return out


def plot_ci(ax, x, y, low, high, *, policy: str | None = None, label: str | None = None,
            kind: str = "bars", style: Style | None = None, markers: bool = True):
    """A line with its 95% interval drawn so it can be seen: error bars with caps
    (``kind="bars"``, for few x values) or a shaded band with edges (``kind="band"``).

    Points whose interval is NaN are drawn without one. The style comes from ``style``, else
    from ``policy`` (:func:`policy_style`), else matplotlib's cycle.

    Parameters
    ----------
    ax : matplotlib Axes
    x, y, low, high : array_like, shape (n,)
        Positions, estimates and interval bounds (``low <= y <= high`` where finite).
    """
    a = _arrays(x=x, y=y, low=low, high=high)
    finite = np.isfinite(a["y"]) & np.isfinite(a["low"]) & np.isfinite(a["high"])
    if np.any(finite & ((a["low"] > a["y"]) | (a["y"] > a["high"]))):
        raise ValueError("low and high must bracket y (low <= y <= high)")
    if kind not in ("bars", "band"):
        raise ValueError(f"kind must be 'bars' or 'band', got {kind!r}")
    if style is None and policy is not None:
        style = policy_style(policy)
    line_kwargs = style.kwargs(markers) if style is not None else {}
    if kind == "bars":
        err = np.where(finite, [a["y"] - a["low"], a["high"] - a["y"]], np.nan)
        return ax.errorbar(a["x"], a["y"], yerr=err, capsize=4, elinewidth=1.4,
                           capthick=1.4, markersize=5, label=label, **line_kwargs)
    (line,) = ax.plot(a["x"], a["y"], label=label, markersize=4, **line_kwargs)
    color = line.get_color()
    band = ax.fill_between(a["x"], np.where(finite, a["low"], np.nan),
                           np.where(finite, a["high"], np.nan), color=color, alpha=0.22,
                           linewidth=0.8, edgecolor=color)
    return line, band


# --- labels that do not overlap ---------------------------------------------------------------
def spread_labels(positions, min_gap: float) -> np.ndarray:
    """Move 1-D label positions as little as possible (least squares) so that neighbours are
    at least ``min_gap`` apart, keeping their order.

    With the positions sorted, ``z_i = p_i - i * min_gap`` must become non-decreasing: the
    closest such sequence is the isotonic regression of ``z`` (pool adjacent violators), and
    ``p'_i = z'_i + i * min_gap``.

    Parameters
    ----------
    positions : array_like, shape (n,)
        Finite label positions (any unit, e.g. points on the page).
    min_gap : float
        Smallest distance between neighbours, same unit (> 0).

    Returns
    -------
    numpy.ndarray, shape (n,)
        The new positions, in the input order.
    """
    p = _arrays(positions=positions)["positions"]
    if not np.all(np.isfinite(p)):
        raise ValueError("positions must be finite")
    if not (isinstance(min_gap, (int, float, np.floating)) and math.isfinite(min_gap)
            and min_gap > 0):
        raise ValueError(f"min_gap must be > 0, got {min_gap!r}")
    order = np.argsort(p, kind="stable")
    z = p[order] - np.arange(p.size) * min_gap
    blocks: list[list[float]] = []                     # [sum, count] of pooled values
    for value in z:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    fitted = np.concatenate([np.full(int(c), s / c) for s, c in blocks]) if blocks else z
    out = np.empty_like(p)
    out[order] = fitted + np.arange(p.size) * min_gap
    return out


def label_line_ends(ax, x: float, ys: Sequence[float], texts: Sequence[str], *,
                    colors: Sequence[str] | None = None, fontsize: float = 8.0,
                    pad_points: float = 4.0) -> list:
    """Label lines at their right end, at ``(x, y)`` for each y, moved apart vertically so
    that no two labels overlap. Call once the axes limits and figure size are final."""
    ys = _arrays(ys=ys)["ys"]
    if len(texts) != ys.size:
        raise ValueError(f"texts must have one entry per y ({ys.size}), got {len(texts)}")
    if colors is not None and len(colors) != ys.size:
        raise ValueError(f"colors must have one entry per y ({ys.size}), got {len(colors)}")
    to_points = ax.figure.dpi / 72.0
    display = ax.transData.transform(np.column_stack([np.full(ys.size, x), ys]))[:, 1]
    spread = spread_labels(display / to_points, 1.3 * fontsize)
    artists = []
    for i, text in enumerate(texts):
        offset = spread[i] - display[i] / to_points
        artists.append(ax.annotate(
            text, xy=(x, ys[i]), xytext=(pad_points, offset), textcoords="offset points",
            va="center", ha="left", fontsize=fontsize, annotation_clip=False,
            color=None if colors is None else colors[i]))
    return artists


def category_ticks(ax, labels: Sequence[str], *, axis: str = "x") -> float:
    """Put ``labels`` at positions 0, 1, ... on ``axis`` and rotate them (0, 30, then 90
    degrees) until no two overlap; returns the rotation used."""
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    labels = [str(label) for label in labels]
    positions = np.arange(len(labels))
    set_ticks = ax.set_xticks if axis == "x" else ax.set_yticks
    angles = (0.0, 30.0, 90.0) if axis == "x" else (0.0,)
    for angle in angles:
        set_ticks(positions, labels, rotation=angle,
                  ha="right" if angle == 30.0 else "center" if axis == "x" else "right",
                  rotation_mode="anchor" if angle == 30.0 else "default")
        ax.figure.draw_without_rendering()
        if not _overlapping_tick_labels(ax, axis, ax.figure.canvas.get_renderer()):
            return angle
    return angles[-1]


# --- checks -----------------------------------------------------------------------------------
def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _overlapping_tick_labels(ax, axis: str, renderer) -> bool:
    """Whether visible tick labels of ``axis`` overlap (the figure must be laid out)."""
    ticks = (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())
    boxes = [t.get_window_extent(renderer) for t in ticks if t.get_visible() and t.get_text()]
    return any(_boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _has_label(ax, axis: str) -> bool:
    get = "get_xlabel" if axis == "x" else "get_ylabel"
    shared = (ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes())
    return any(getattr(other, get)().strip() for other in shared.get_siblings(ax))


def figure_problems(fig) -> list[str]:
    """What a reader would trip over in ``fig``, one sentence per problem: an axes with data
    but no x or y label (a label on a shared axes or a figure-level ``supxlabel`` counts), a
    colour bar without a label, a symlog scale, overlapping tick labels or annotations.

    An empty list means none was found (units cannot be checked: give them with
    :func:`label_axes`). Lays the figure out once (no rendering).
    """
    problems = []
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    sup = {"x": getattr(fig, "_supxlabel", None), "y": getattr(fig, "_supylabel", None)}
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        name = f"axes {i}" + (f" ({ax.get_title()!r})" if ax.get_title() else "")
        if getattr(ax, "_colorbar", None) is not None:
            if not (ax.get_xlabel().strip() or ax.get_ylabel().strip()):
                problems.append(f"{name}: colour bar without a label")
            continue
        for axis in ("x", "y"):
            scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
            if scale == "symlog":
                problems.append(f"{name}: symlog {axis} scale (use linear or log)")
            if ax.has_data() and not _has_label(ax, axis) and not (
                    sup[axis] is not None and sup[axis].get_text().strip()):
                problems.append(f"{name}: no {axis} label")
            if _overlapping_tick_labels(ax, axis, renderer):
                problems.append(f"{name}: overlapping {axis} tick labels")
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        boxes = [t.get_window_extent(renderer) for t in texts]
        for j, a in enumerate(boxes):
            for k in range(j + 1, len(boxes)):
                if _boxes_overlap(a, boxes[k]):
                    problems.append(f"{name}: labels {texts[j].get_text()!r} and "
                                    f"{texts[k].get_text()!r} overlap")
    return problems
