"""Small server-side SVG charts (no script, no external asset): lines over time, bars with a line."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 220, 70, 16, 16, 36
COLORS = ("#1f5f99", "#c0392b", "#2e8b57", "#8e44ad")


def _scale(values: Sequence[float | None]) -> tuple[float, float]:
    known = [v for v in values if v is not None]
    low, high = min([*known, 0.0]), max([*known, 0.0])
    return (low, high if high > low else low + 1.0)


def number(value: float, decimals: int, decimal_comma: bool = True) -> str:
    """``12 345,67`` (Polish: non-breaking-space groups, comma) or ``12,345.67``."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u00a0").replace(".", ",") if decimal_comma else text


def _axis(low: float, high: float, decimal_comma: bool) -> list[str]:
    out = []
    decimals = 0 if high - low >= 20 else 1 if high - low >= 2 else 2
    for i in range(5):
        value = low + (high - low) * i / 4
        y = PAD_T + (HEIGHT - PAD_T - PAD_B) * (1 - i / 4)
        out.append(f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        label = number(value, decimals, decimal_comma)
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{escape(label)}</text>')
    return out


def _x(i: int, n: int) -> float:
    """The centre of the i-th of n bands: bars stay inside the plot, points line up with them."""
    return PAD_L + (WIDTH - PAD_L - PAD_R) * (i + 0.5) / max(n, 1)


def _y(v: float, low: float, high: float) -> float:
    return PAD_T + (HEIGHT - PAD_T - PAD_B) * (1 - (v - low) / (high - low))


def _x_labels(labels: Sequence[str]) -> list[str]:
    n = len(labels)
    step = max(1, n // 6)
    return [f'<text x="{_x(i, n):.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-size="11">{escape(label)}</text>'
            for i, label in enumerate(labels) if i % step == 0 or i == n - 1]


def _legend(names: Sequence[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        x = PAD_L + i * 150
        out.append(f'<rect x="{x}" y="{HEIGHT - 8}" width="10" height="4" fill="{COLORS[i % len(COLORS)]}"/>')
        out.append(f'<text x="{x + 14}" y="{HEIGHT - 3}" font-size="11">{escape(name)}</text>')
    return out


def _svg(body: list[str], title: str, chart_id: str) -> str:
    return (f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT + 8}" width="{WIDTH}" height="{HEIGHT + 8}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _polyline(color: str, points: Sequence[str]) -> str:
    return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>'


def lines(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal | None]]],
          chart_id: str = "chart", decimal_comma: bool = True) -> str:
    """One polyline per series (``None``: no value, the line breaks), a point per label."""
    values = [None if v is None else float(v) for _, vs in series for v in vs]
    low, high = _scale(values)
    body = _axis(low, high, decimal_comma)
    n = len(labels)
    for k, (_, vs) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        segment: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                if len(segment) > 1:
                    body.append(_polyline(color, segment))
                segment = []
                continue
            point = f"{_x(i, n):.1f},{_y(float(v), low, high):.1f}"
            segment.append(point)
            body.append(f'<circle cx="{point.split(",")[0]}" cy="{point.split(",")[1]}" r="3" fill="{color}"/>')
        if len(segment) > 1:
            body.append(_polyline(color, segment))
    return _svg(body + _x_labels(labels) + _legend([name for name, _ in series]), title, chart_id)


def bars_and_line(title: str, labels: Sequence[str], bars: tuple[str, Sequence[float]],
                  line: tuple[str, Sequence[float]], chart_id: str = "chart", decimal_comma: bool = True) -> str:
    """Bars (e.g. run durations, left scale) with a line (e.g. written counts, scaled to the same height)."""
    n = len(labels)
    low, high = _scale(list(bars[1]))
    body = _axis(low, high, decimal_comma)
    width = max(2.0, (WIDTH - PAD_L - PAD_R) / max(n, 1) * 0.6)
    for i, v in enumerate(bars[1]):
        y = _y(v, low, high)
        body.append(f'<rect x="{_x(i, n) - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                    f'height="{HEIGHT - PAD_B - y:.1f}" fill="{COLORS[0]}" opacity="0.7"/>')
    lo2, hi2 = _scale(list(line[1]))
    points = " ".join(f"{_x(i, n):.1f},{_y(v, lo2, hi2):.1f}" for i, v in enumerate(line[1]))
    if n > 1:
        body.append(f'<polyline fill="none" stroke="{COLORS[1]}" stroke-width="2" points="{points}"/>')
    for i, v in enumerate(line[1]):
        body.append(f'<circle cx="{_x(i, n):.1f}" cy="{_y(v, lo2, hi2):.1f}" r="3" fill="{COLORS[1]}">'
                    f'<title>{v:g}</title></circle>')
    right = (f'<text x="{WIDTH - PAD_R}" y="{PAD_T - 4}" text-anchor="end" font-size="11">'
             f'{escape(line[0])}: max {hi2:g}</text>')
    return _svg([*body, right, *_x_labels(labels), *_legend([bars[0], line[0]])], title, chart_id)
