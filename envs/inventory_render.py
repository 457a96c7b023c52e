"""Pure-numpy drawing of the inventory chart, so that recording videos stays cheap
(no matplotlib figure per frame)."""

from __future__ import annotations

from collections.abc import Iterable

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

FRAME_SHAPE = (2 * PANEL_PX + 3 * MARGIN_PX, DAYS_SHOWN * DAY_PX + 2 * MARGIN_PX, 3)


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
    frame = np.empty(FRAME_SHAPE, dtype=np.uint8)
    frame[:] = BACKGROUND
    stock = np.fromiter(stock, dtype=float)
    n = min(len(stock), DAYS_SHOWN)
    top0, bot0 = MARGIN_PX, 2 * MARGIN_PX + PANEL_PX
    left = MARGIN_PX
    width = DAYS_SHOWN * DAY_PX
    for y0 in (top0, bot0):  # panel frames
        frame[y0, left : left + width] = GRID
        frame[y0 + PANEL_PX - 1, left : left + width] = GRID
    for week in range(0, DAYS_SHOWN, 7):  # weekly grid lines
        frame[top0 : bot0 + PANEL_PX, left + week * DAY_PX] = GRID
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
