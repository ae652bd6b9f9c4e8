"""One style map and honest figures: distinct policy styles, a deterministic fallback, labelled
axes with units, visible intervals, no symlog, labels that do not overlap, and the checker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from experiments import style  # noqa: E402
from experiments.style import (  # noqa: E402
    POLICY_STYLES,
    axis_label,
    category_ticks,
    figure_problems,
    label_axes,
    label_line_ends,
    plot_ci,
    policy_key,
    policy_style,
    set_scale,
    spread_labels,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fig_ax():
    fig, ax = plt.subplots(figsize=(4, 3))
    yield fig, ax
    plt.close(fig)


# --- the style map ----------------------------------------------------------------------------
def test_every_named_policy_has_its_own_colour_line_style_and_marker():
    for key in ("as", "glft", "glft_asymptotic", "symmetric", "constant", "undercut", "nash",
                "fixed_as", "competition_aware"):
        assert key in POLICY_STYLES
    styles = list(POLICY_STYLES.values())
    assert len({s.color for s in styles}) == len(styles)
    assert len({str(s.linestyle) for s in styles}) == len(styles)
    assert len({s.marker for s in styles}) == len(styles)
    assert all(matplotlib.colors.is_color_like(s.color) for s in styles)


@pytest.mark.parametrize(("label", "key"), [
    ("AS inventory", "as"), ("AS closed form", "as"), ("GLFT exact", "glft"),
    ("GLFT asymptotic", "glft_asymptotic"), ("constant spread", "constant"),
    ("competition-aware", "competition_aware"), ("Fixed AS", "fixed_as"), ("Nash", "nash"),
])
def test_table_labels_map_to_the_policy_style(label, key):
    assert policy_key(label) == key
    assert policy_style(label) == POLICY_STYLES[key]


def test_unknown_policies_get_a_fallback_that_is_the_same_in_every_process():
    mine = policy_style("my RL agent")
    assert mine == policy_style("My-RL agent")
    assert mine.color not in {s.color for s in POLICY_STYLES.values()}
    code = ("from experiments.style import policy_style; s = policy_style('my RL agent'); "
            "print(s.color, s.linestyle, s.marker)")
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        outputs.add(run.stdout.strip())
    assert outputs == {f"{mine.color} {mine.linestyle} {mine.marker}"}


def test_policy_names_must_be_non_empty_strings():
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        policy_style("  ")


# --- axes -------------------------------------------------------------------------------------
def test_axis_labels_carry_the_unit():
    assert axis_label("terminal PnL", "price units") == "terminal PnL (price units)"
    assert axis_label("Sharpe ratio, per episode", "") == "Sharpe ratio, per episode"
    with pytest.raises(ValueError, match="quantity must be a non-empty string"):
        axis_label("", "shares")
    with pytest.raises(ValueError, match="unit must be a string"):
        axis_label("inventory", None)


def test_label_axes_sets_both_labels(fig_ax):
    fig, ax = fig_ax
    label_axes(ax, x=("time", "session"), y=("inventory", "shares"))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time (session)", "inventory (shares)")
    with pytest.raises(ValueError, match="x must be a"):
        label_axes(ax, x="time")


def test_symlog_is_refused_and_log_needs_positive_data(fig_ax):
    fig, ax = fig_ax
    ax.plot([1, 2], [-1.0, 3.0])
    with pytest.raises(ValueError, match="no symlog"):
        set_scale(ax, "y", "symlog")
    with pytest.raises(ValueError, match="log y axis needs positive data"):
        set_scale(ax, "y", "log")
    set_scale(ax, "x", "log")
    assert ax.get_xscale() == "log"


# --- intervals --------------------------------------------------------------------------------
def test_error_bars_have_caps_and_skip_points_without_an_interval(fig_ax):
    fig, ax = fig_ax
    container = plot_ci(ax, [1, 2, 3], [1.0, 2.0, 3.0], [0.5, np.nan, 2.0],
                        [1.5, np.nan, 4.0], policy="glft")
    line, caps, (bars,) = container.lines, container.lines[1], container.lines[2]
    assert line[0].get_color() == POLICY_STYLES["glft"].color
    assert len(caps) == 2 and caps[0].get_markersize() > 0
    segments = [s for s in bars.get_segments() if s.size and np.all(np.isfinite(s))]
    assert len(segments) == 2                                   # the NaN interval is not drawn
    assert segments[0][0][1] == 0.5 and segments[0][1][1] == 1.5


def test_bands_are_shaded_in_the_line_colour(fig_ax):
    fig, ax = fig_ax
    line, band = plot_ci(ax, [1, 2, 3], [1.0, 2.0, 3.0], [0.5, 1.5, 2.0], [1.5, 2.5, 4.0],
                         policy="as", kind="band")
    assert line.get_color() == POLICY_STYLES["as"].color
    assert 0.1 < band.get_alpha() < 0.5
    assert np.allclose(band.get_facecolor()[0][:3], matplotlib.colors.to_rgb("#0072B2"))


@pytest.mark.parametrize(("args", "message"), [
    (([1, 2], [1.0, 2.0], [1.5, 1.0], [2.0, 3.0]), "low and high must bracket y"),
    (([1, 2], [1.0, 2.0], [0.5], [2.0, 3.0]), "low must have the shape of x"),
])
def test_bad_intervals_raise(fig_ax, args, message):
    with pytest.raises(ValueError, match=message):
        plot_ci(fig_ax[1], *args)
    with pytest.raises(ValueError, match="kind must be 'bars' or 'band'"):
        plot_ci(fig_ax[1], [1], [1.0], [0.5], [1.5], kind="shade")


# --- labels that do not overlap ---------------------------------------------------------------
def test_spread_labels_solves_small_cases_exactly():
    assert np.allclose(spread_labels([0.0, 0.0, 0.0], 1.0), [-1.0, 0.0, 1.0])
    assert np.allclose(spread_labels([0.1, 0.0, 5.0], 1.0), [0.55, -0.45, 5.0])
    assert np.allclose(spread_labels([3.0, 1.0], 1.0), [3.0, 1.0])     # already apart
    with pytest.raises(ValueError, match="min_gap must be > 0"):
        spread_labels([1.0], 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=12), st.floats(0.1, 10))
def test_spread_labels_keeps_order_and_sum_and_separates_neighbours(positions, gap):
    p = np.array(positions)
    out = spread_labels(p, gap)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(out[order]) >= gap * (1 - 1e-9))
    assert out.sum() == pytest.approx(p.sum(), abs=1e-6 * (1 + np.abs(p).sum()))


def test_line_end_labels_do_not_overlap(fig_ax):
    fig, ax = fig_ax
    x = np.linspace(0, 1, 10)
    ys = [1.0, 1.01, 1.02, 0.99, 1.005]
    for i, y in enumerate(ys):
        ax.plot(x, np.full_like(x, y), **policy_style(f"agent {i}").kwargs(markers=False))
    ax.set_ylim(0, 2)
    label_axes(ax, x=("time", "session"), y=("spread", "price units"))
    label_line_ends(ax, 1.0, ys, [f"agent {i}" for i in range(5)])
    assert figure_problems(fig) == []


def test_crowded_category_labels_are_rotated_until_they_do_not_overlap(fig_ax):
    fig, ax = fig_ax
    names = [f"maker with gamma {g:.3f}" for g in np.linspace(0.01, 1, 8)]
    ax.bar(range(8), np.arange(8.0))
    label_axes(ax, x=("agent", ""), y=("fill share", ""))
    assert category_ticks(ax, names) > 0
    assert figure_problems(fig) == []


# --- the checker ------------------------------------------------------------------------------
def test_the_checker_finds_missing_labels_symlog_and_overlapping_annotations(fig_ax):
    fig, ax = fig_ax
    ax.plot([0, 1], [0, 1])
    ax.set_yscale("symlog")
    ax.annotate("first label", (0.5, 0.5))
    ax.annotate("second label", (0.5, 0.5))
    problems = " | ".join(figure_problems(fig))
    assert "no x label" in problems and "no y label" in problems
    assert "symlog y scale" in problems
    assert "'first label' and 'second label' overlap" in problems


def test_shared_axes_and_figure_labels_count_and_colour_bars_need_a_label():
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
    for ax in (top, bottom):
        ax.plot([0, 1], [0, 1])
    bottom.set_xlabel("time (session)")
    fig.supylabel("inventory (shares)")
    assert figure_problems(fig) == []
    image = top.imshow(np.eye(3))
    fig.colorbar(image, ax=top)
    assert any("colour bar without a label" in p for p in figure_problems(fig))
    plt.close(fig)


def test_the_module_changes_no_global_matplotlib_setting():
    before = dict(matplotlib.rcParams)
    fig, ax = plt.subplots()
    plot_ci(ax, [1, 2], [1.0, 2.0], [0.5, 1.5], [1.5, 2.5], policy="nash", kind="band",
            label="Nash")
    style.legend_outside(ax)
    plt.close(fig)
    assert dict(matplotlib.rcParams) == before
