"""The trend chart: an SVG that parses, with the instrument's bands, a circle per response placed
by its date and score, accessible text, and every text escaped."""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.measures import chart
from app.measures.instruments import Instrument, instruments

SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Point:
    at: datetime
    total: int


def phq9() -> Instrument:
    return instruments()["phq9"]


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it


def circles(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}circle")


def at(day: int) -> datetime:
    return datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=day)


def test_the_chart_has_a_fixed_size_and_is_accessible():
    root = parsed(chart.trend_svg(phq9(), [Point(at(0), 12)]))

    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("640", "260")
    assert root.get("role") == "img"
    assert root.get("aria-label") == "PHQ-9 over time"
    assert root.findtext(f"{SVG}title") == "PHQ-9 over time"
    description = root.findtext(f"{SVG}desc")
    assert description is not None
    assert "1 response from 2026-01-01 to 2026-01-01" in description
    assert "the latest 12 of 27 (Moderate)" in description


def test_each_band_is_a_stripe_with_its_label_mildest_at_the_bottom():
    instrument = phq9()
    root = parsed(chart.trend_svg(instrument, [Point(at(0), 3), Point(at(7), 21)]))

    bands = root.findall(f".//{SVG}g[@class='band']")
    assert [band.get("data-band") for band in bands] == [band.id for band in instrument.bands]
    assert [band.findtext(f"{SVG}text") for band in bands] == [
        band.label for band in instrument.bands
    ]
    label_xs = [float(band.find(f"{SVG}text").get("x", "")) for band in bands]  # type: ignore[union-attr]
    assert all(x > chart.LEFT + chart.PLOT_WIDTH for x in label_xs)  # clear of the points
    stripes = [band.find(f"{SVG}rect") for band in bands]
    tops = [float(stripe.get("y", "")) for stripe in stripes if stripe is not None]
    assert tops == sorted(tops, reverse=True)  # minimal lowest, severe highest
    bottom = chart.TOP + chart.PLOT_HEIGHT
    first, last = stripes[0], stripes[-1]
    assert first is not None
    assert last is not None
    assert float(first.get("y", "")) + float(first.get("height", "")) == bottom
    assert float(last.get("y", "")) == chart.TOP
    fills = [stripe.get("fill") for stripe in stripes if stripe is not None]
    assert fills[0] == chart.BAND_COLOURS[0]
    assert fills[-1] == chart.BAND_COLOURS[-1]
    assert len(set(fills)) == len(fills)


def test_a_point_per_response_the_maximum_at_the_top_zero_at_the_bottom():
    points = [Point(at(0), 27), Point(at(14), 0), Point(at(28), 13)]
    root = parsed(chart.trend_svg(phq9(), points))

    found = circles(root)
    assert len(found) == 3
    xs = [float(circle.get("cx", "")) for circle in found]
    ys = [float(circle.get("cy", "")) for circle in found]
    assert ys[0] == chart.TOP
    assert ys[1] == chart.TOP + chart.PLOT_HEIGHT
    assert abs(ys[2] - (chart.TOP + chart.PLOT_HEIGHT * 14 / 27)) < 0.1
    assert xs == [chart.FIRST_X, (chart.FIRST_X + chart.LAST_X) / 2, chart.LAST_X]
    assert chart.LEFT < xs[0] < xs[-1] < chart.LEFT + chart.PLOT_WIDTH
    line = root.find(f".//{SVG}polyline")
    assert line is not None
    assert len(line.get("points", "").split()) == 3
    assert [circle.findtext(f"{SVG}title") for circle in found] == [
        "2026-01-01: 27 (Severe)",
        "2026-01-15: 0 (Minimal)",
        "2026-01-29: 13 (Moderate)",
    ]


def test_points_are_drawn_oldest_first_whatever_their_order():
    root = parsed(chart.trend_svg(phq9(), [Point(at(9), 20), Point(at(0), 5)]))

    assert [circle.get("data-score") for circle in circles(root)] == ["5", "20"]


def test_one_response_sits_in_the_middle_with_no_line():
    root = parsed(chart.trend_svg(phq9(), [Point(at(0), 8)]))

    (circle,) = circles(root)
    assert float(circle.get("cx", "")) == (chart.FIRST_X + chart.LAST_X) / 2
    assert root.find(f".//{SVG}polyline") is None


def test_ticks_mark_the_band_boundaries_and_the_dates_in_the_zone_given():
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # already 2 March in Berlin
    root = parsed(
        chart.trend_svg(phq9(), [Point(at(0), 1), Point(late, 2)], ZoneInfo("Europe/Berlin"))
    )

    scores = root.find(f".//{SVG}g[@class='score-ticks']")
    dates = root.find(f".//{SVG}g[@class='date-ticks']")
    assert scores is not None
    assert dates is not None
    assert [text.text for text in scores.findall(f"{SVG}text")] == [
        "0",
        "5",
        "10",
        "15",
        "20",
        "27",
    ]
    labels = [text.text for text in dates.findall(f"{SVG}text")]
    assert labels[0] == "2026-01-01"
    assert labels[-1] == "2026-03-02"
    assert len(labels) == chart.MAX_DATE_TICKS


def test_no_points_says_so():
    svg = chart.trend_svg(phq9(), [])
    root = parsed(svg)

    assert circles(root) == []
    assert root.findtext(f".//{SVG}text[@class='empty']") == "No responses yet"
    assert root.get("role") == "img"


def test_every_text_is_escaped():
    instrument = phq9()
    hostile = instrument.model_copy(
        update={
            "name": "P<&>\"'",
            "bands": tuple(
                band.model_copy(update={"label": f"<script>{band.label}</script>&"})
                for band in instrument.bands
            ),
        }
    )

    svg = chart.trend_svg(hostile, [Point(at(0), 4), Point(at(1), 22)])
    root = parsed(svg)

    assert "<script>" not in svg
    assert root.get("aria-label") == "P<&>\"' over time"
    labels = [band.findtext(f"{SVG}text") for band in root.findall(f".//{SVG}g[@class='band']")]
    assert labels[0] == "<script>Minimal</script>&"
    circle_titles = [circle.findtext(f"{SVG}title") for circle in circles(root)]
    assert circle_titles[1] == "2026-01-02: 22 (<script>Severe</script>&)"


def test_no_script_and_no_style_attribute_for_the_admin_csp():
    svg = chart.trend_svg(phq9(), [Point(at(0), 4), Point(at(1), 22)])

    assert not re.search(r"<script|\bstyle=|<style|\bon\w+=|href=", svg)
