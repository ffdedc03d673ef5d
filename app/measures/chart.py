"""A patient's totals on one instrument as an SVG chart, drawn by the server: time across, the
score up, the instrument's severity bands as shaded stripes. No script, no style attribute, no
external font or file, so the admin's Content-Security-Policy lets it through inline. Pure: the
same points always draw the same chart."""

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Protocol

from app.measures.instruments import Instrument

WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 44, 118, 14, 34  # margins: the ticks' labels, the bands' on the right
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
INSET = 12  # the first and last response stand clear of the axes
FIRST_X = LEFT + INSET
LAST_X = LEFT + PLOT_WIDTH - INSET
MAX_DATE_TICKS = 5
POINT_RADIUS = 4
NO_RESPONSES = "No responses yet"
# Light to dark along the bands, mildest first; an instrument with fewer bands takes a spread.
BAND_COLOURS = ("#dff2dc", "#eef5d0", "#fdf0cc", "#fbdcc2", "#f6c9c6")
LINE_COLOUR = "#1f4e79"
TEXT_COLOUR = "#333333"
FONT = "sans-serif"


class Point(Protocol):
    @property
    def at(self) -> datetime: ...

    @property
    def total(self) -> int: ...


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def band_colour(index: int, count: int) -> str:
    """The fill of the `index`th of `count` bands, mildest first."""
    if count <= 1:
        return BAND_COLOURS[0]
    return BAND_COLOURS[round(index * (len(BAND_COLOURS) - 1) / (count - 1))]


def y_of(instrument: Instrument, score: float) -> float:
    """The score's height in the chart: the instrument's maximum at the top of the plot, its
    minimum at the bottom."""
    low, high = instrument.scoring.min, instrument.scoring.max
    return TOP + (high - score) / (high - low) * PLOT_HEIGHT


def _x_of(moment: datetime, first: datetime, last: datetime) -> float:
    span = (last - first).total_seconds()
    if span <= 0:
        return (FIRST_X + LAST_X) / 2
    return FIRST_X + (moment - first).total_seconds() / span * (LAST_X - FIRST_X)


def _day(moment: datetime, zone: tzinfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d}"


def _open(instrument: Instrument, description: str) -> list[str]:
    chart_id = f"chart-{instrument.id}"
    title = f"{instrument.name} over time"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_text(title)}" '
        f'aria-describedby="{chart_id}-desc" class="measure-chart" id="{chart_id}" '
        f'data-instrument="{_text(instrument.id)}" font-family="{FONT}" font-size="11">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
        f'<desc id="{chart_id}-desc">{_text(description)}</desc>',
    ]


def _bands(instrument: Instrument) -> list[str]:
    parts = ['<g class="bands">']
    count = len(instrument.bands)
    for index, band in enumerate(instrument.bands):
        # A band of whole scores reaches halfway to its neighbours, so the stripes meet.
        top = y_of(instrument, min(band.max + 0.5, instrument.scoring.max))
        bottom = y_of(instrument, max(band.min - 0.5, instrument.scoring.min))
        parts.append(
            f'<g class="band" data-band="{_text(band.id)}">'
            f'<rect x="{LEFT}" y="{_num(top)}" width="{PLOT_WIDTH}" '
            f'height="{_num(bottom - top)}" fill="{band_colour(index, count)}"/>'
            f'<text x="{LEFT + PLOT_WIDTH + 6}" y="{_num((top + bottom) / 2 + 4)}" '
            f'fill="{TEXT_COLOUR}">{_text(band.label)}</text></g>'
        )
    parts.append("</g>")
    return parts


def _score_ticks(instrument: Instrument) -> list[str]:
    values = sorted({band.min for band in instrument.bands} | {instrument.scoring.max})
    parts = ['<g class="score-ticks" text-anchor="end">']
    for value in values:
        y = _num(y_of(instrument, value))
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y}" x2="{LEFT}" y2="{y}" stroke="{TEXT_COLOUR}"/>'
            f'<text x="{LEFT - 7}" y="{y}" dy="4" fill="{TEXT_COLOUR}">{value}</text>'
        )
    parts.append("</g>")
    return parts


def _date_ticks(moments: Sequence[datetime], zone: tzinfo) -> list[str]:
    first, last = moments[0], moments[-1]
    if first == last:
        ticks = [first]
    else:
        steps = MAX_DATE_TICKS - 1
        ticks = [first + (last - first) * step / steps for step in range(steps + 1)]
    parts = ['<g class="date-ticks" text-anchor="middle">']
    shown: set[str] = set()
    bottom = TOP + PLOT_HEIGHT
    for moment in ticks:
        label = _day(moment, zone)
        if label in shown:
            continue
        shown.add(label)
        x = _num(_x_of(moment, first, last))
        parts.append(
            f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="{TEXT_COLOUR}"/>'
            f'<text x="{x}" y="{bottom + 17}" fill="{TEXT_COLOUR}">{_text(label)}</text>'
        )
    parts.append("</g>")
    return parts


def _axes() -> str:
    bottom = TOP + PLOT_HEIGHT
    return (
        f'<path class="axes" d="M{LEFT} {TOP}V{bottom}H{LEFT + PLOT_WIDTH}" fill="none" '
        f'stroke="{TEXT_COLOUR}"/>'
    )


def trend_svg(instrument: Instrument, points: Sequence[Point], zone: tzinfo = UTC) -> str:
    """The points (oldest first) over the instrument's bands, dates in `zone`; a chart that
    says "No responses yet" when there are none."""
    ordered = sorted(points, key=lambda point: point.at)
    if not ordered:
        parts = _open(instrument, f"{instrument.name}: {NO_RESPONSES.lower()}.")
        parts += [
            f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
            f'fill="#f7f7f7" stroke="#cccccc"/>',
            f'<text x="{WIDTH / 2:g}" y="{HEIGHT / 2:g}" text-anchor="middle" font-size="14" '
            f'fill="{TEXT_COLOUR}" class="empty">{NO_RESPONSES}</text>',
            "</svg>",
        ]
        return "".join(parts)
    first, last = ordered[0].at, ordered[-1].at
    latest = ordered[-1]
    description = (
        f"{instrument.name} totals, {len(ordered)} "
        f"response{'s' if len(ordered) != 1 else ''} from {_day(first, zone)} to "
        f"{_day(last, zone)}; the latest {latest.total} of {instrument.scoring.max} "
        f"({instrument.band_for(latest.total).label})."
    )
    coordinates = [
        (_x_of(point.at, first, last), y_of(instrument, point.total)) for point in ordered
    ]
    parts = _open(instrument, description)
    parts += _bands(instrument)
    parts.append(_axes())
    parts += _score_ticks(instrument)
    parts += _date_ticks([point.at for point in ordered], zone)
    if len(coordinates) > 1:
        joined = " ".join(f"{_num(x)},{_num(y)}" for x, y in coordinates)
        parts.append(
            f'<polyline class="line" points="{joined}" fill="none" stroke="{LINE_COLOUR}" '
            'stroke-width="2" stroke-linejoin="round"/>'
        )
    parts.append('<g class="points">')
    for point, (x, y) in zip(ordered, coordinates, strict=True):
        label = f"{_day(point.at, zone)}: {point.total} ({instrument.band_for(point.total).label})"
        parts.append(
            f'<circle class="point" cx="{_num(x)}" cy="{_num(y)}" r="{POINT_RADIUS}" '
            f'fill="{LINE_COLOUR}" stroke="#ffffff" stroke-width="1.5" '
            f'data-score="{point.total}"><title>{_text(label)}</title></circle>'
        )
    parts += ["</g>", "</svg>"]
    return "".join(parts)
