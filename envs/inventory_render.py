"""Pure-numpy drawing of the inventory chart, so that recording videos stays cheap: the labels
and the legend are drawn once (matplotlib, one figure per process) into a template that every
frame copies; the bars are numpy slices."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

DAYS_SHOWN = 60
DAY_PX = 6
PANEL_PX = 90
MARGIN_PX = 8
BACKGROUND = (255, 255, 255)
GRID = (225, 225, 225)
STOCK = (40, 110, 200)
CAPACITY = (150, 150, 150)
ORDERS = (60, 170, 80)
DEMAND = (220, 80, 60)
LOST = (120, 20, 20)

LEGEND_PX = 18  # the legend's band above the panels
LABEL_PX = 52  # the axis labels' band left of the panels
AXIS_PX = 16  # the time axis' label below the panels
TOP0 = LEGEND_PX
BOT0 = TOP0 + PANEL_PX + MARGIN_PX
LEFT = LABEL_PX
FRAME_SHAPE = (BOT0 + PANEL_PX + AXIS_PX, LABEL_PX + DAYS_SHOWN * DAY_PX + MARGIN_PX, 3)


@lru_cache(maxsize=1)
def template() -> np.ndarray:
    """The frame without data: legend, axis labels, panel frames and weekly grid lines."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w, _ = FRAME_SHAPE
    fig = Figure(figsize=(w / 100, h / 100), dpi=100, facecolor="white")
    canvas = FigureCanvasAgg(fig)

    def text(x: float, y: float, s: str, color: tuple = (0, 0, 0), **kw: object) -> None:
        rgb = tuple(c / 255 for c in color)
        fig.text(x / w, 1 - y / h, s, color=rgb, fontsize=6.5, va="center", **kw)

    x = LEFT
    for label, color in (
        ("stock", STOCK),
        ("capacity", CAPACITY),
        ("ordered", ORDERS),
        ("demand", DEMAND),
        ("lost sales", LOST),
    ):
        text(x, LEGEND_PX / 2, "■ " + label, color)
        x += 18 + 6.5 * len(label)
    text(4, TOP0 + PANEL_PX / 2, "stock\n(units)")
    text(4, BOT0 + PANEL_PX / 2, "units\nper day")
    text(LEFT, BOT0 + PANEL_PX + AXIS_PX / 2, f"days: the last {DAYS_SHOWN}, grid lines weekly")
    canvas.draw()
    frame = np.array(canvas.buffer_rgba())[..., :3]
    width = DAYS_SHOWN * DAY_PX
    for y0 in (TOP0, BOT0):  # panel frames
        frame[y0, LEFT : LEFT + width] = GRID
        frame[y0 + PANEL_PX - 1, LEFT : LEFT + width] = GRID
    for week in range(0, DAYS_SHOWN, 7):  # weekly grid lines
        frame[TOP0 : BOT0 + PANEL_PX, LEFT + week * DAY_PX] = GRID
    frame.setflags(write=False)
    return frame


def _bar_heights(values: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(values / max(scale, 1e-9) * (PANEL_PX - 2)), 0, PANEL_PX - 2).astype(int)


def draw_chart(
    stock: Iterable[int],
    orders: Iterable[int],
    demand: Iterable[int],
    lost: Iterable[int],
    capacity: int,
    demand_scale: float,
) -> np.ndarray:
    """Draw the last DAYS_SHOWN days as an HxWx3 uint8 frame.

    Top panel: end-of-day stock (blue) against capacity (grey line). Bottom panel, per day:
    units ordered (green, left half) and demand (red, right half, lost part dark).
    """
    frame = template().copy()
    stock = np.fromiter(stock, dtype=float)
    n = min(len(stock), DAYS_SHOWN)
    top0, bot0, left, width = TOP0, BOT0, LEFT, DAYS_SHOWN * DAY_PX
    if n == 0:
        return frame
    stock_h = _bar_heights(stock[-n:], max(capacity, 1))
    order_h = _bar_heights(np.fromiter(orders, dtype=float)[-n:], demand_scale)
    demand_h = _bar_heights(np.fromiter(demand, dtype=float)[-n:], demand_scale)
    lost_h = _bar_heights(np.fromiter(lost, dtype=float)[-n:], demand_scale)
    frame[top0 + 1, left : left + width] = CAPACITY
    top_base, bot_base = top0 + PANEL_PX - 1, bot0 + PANEL_PX - 1
    for i in range(n):
        x = left + i * DAY_PX
        half = DAY_PX // 2
        frame[top_base - stock_h[i] : top_base, x : x + DAY_PX - 1] = STOCK
        frame[bot_base - order_h[i] : bot_base, x : x + half] = ORDERS
        frame[bot_base - demand_h[i] : bot_base, x + half : x + DAY_PX - 1] = DEMAND
        frame[
            bot_base - demand_h[i] : bot_base - demand_h[i] + lost_h[i], x + half : x + DAY_PX - 1
        ] = LOST
    return frame
