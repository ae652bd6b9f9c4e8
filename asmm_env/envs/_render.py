"""Pictures of an episode for ``render_mode="rgb_array"``: the mid with the agent's quotes and
fills, and the inventory, for one path. Drawn with matplotlib's Agg canvas (no window, no
pyplot state), so it works headless and inside SB3's ``make_vec_env`` video wrappers."""

from __future__ import annotations

import numpy as np


class PathTrace:
    """What one path did, step by step: time, mid, bid, ask, inventory and fills."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float, float, float, float]] = []

    def clear(self) -> None:
        self.rows.clear()

    def add(self, t: float, mid: float, bid: float, ask: float, inventory: float,
            bought: float, sold: float) -> None:
        self.rows.append((t, mid, bid, ask, inventory, bought, sold))

    def to_rgb(self, title: str = "", size: tuple[int, int] = (640, 400)) -> np.ndarray:
        """The trace as an RGB array of shape (height, width, 3), uint8."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(size[0] / 80, size[1] / 80), dpi=80)
        canvas = FigureCanvasAgg(fig)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
        if self.rows:
            t, mid, bid, ask, q, bought, sold = np.array(self.rows).T
            top.plot(t, mid, color="black", lw=1, label="mid")
            top.plot(t, bid, color="tab:green", lw=0.8, label="bid")
            top.plot(t, ask, color="tab:red", lw=0.8, label="ask")
            top.scatter(t[bought > 0], bid[bought > 0], color="tab:green", s=8, marker="^")
            top.scatter(t[sold > 0], ask[sold > 0], color="tab:red", s=8, marker="v")
            bottom.step(t, q, where="post", color="tab:blue")
            top.legend(loc="upper left", fontsize=7)
        top.set_ylabel("price")
        top.set_title(title, fontsize=9)
        bottom.set_ylabel("inventory")
        bottom.set_xlabel("time")
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
