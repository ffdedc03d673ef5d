"""A patient's questionnaire results on their admin page: each instrument they answered charted
over time with its severity bands (an SVG drawn by the server, inline: the admin's CSP lets it
through), the latest score and band, response and remission. Read through MeasureService in its
own audited unit of work, so the API's rule holds: admins and the treating therapist only."""

from dataclasses import dataclass, field

from markupsafe import Markup
from starlette.requests import Request

from app.admin.services import AdminServices, signed_in
from app.audit.actions import Action
from app.core.errors import PermissionDenied
from app.measures.chart import trend_svg
from app.measures.instruments import Instrument
from app.measures.schemas import TrendRead
from app.measures.service import MeasureService


@dataclass(frozen=True)
class Chart:
    instrument: Instrument
    svg: Markup
    responses: int
    first: int
    latest: int
    band: str
    change: int
    response: bool
    remission: bool | None  # None: the instrument defines no remission
    latest_at: str


@dataclass(frozen=True)
class Measures:
    """The page's Measures section: `readable` False when the staff member may not read them."""

    readable: bool
    charts: list[Chart] = field(default_factory=list)


def _chart(found: Instrument, trend: TrendRead, services: AdminServices) -> Chart:
    zone = services.settings.clinic_zone
    latest = trend.points[-1]
    return Chart(
        instrument=found,
        svg=Markup(trend_svg(found, trend.points, zone)),  # noqa: S704 - every text escaped
        responses=len(trend.points),
        first=trend.points[0].total,
        latest=latest.total,
        band=latest.band,
        change=latest.total - trend.points[0].total,
        response=trend.response,
        remission=None if found.scoring.remission_below is None else trend.remission,
        latest_at=f"{latest.at.astimezone(zone):%Y-%m-%d %H:%M}",
    )


async def patient_measures(services: AdminServices, request: Request, patient_id: str) -> Measures:
    """The patient's charts, audited as a read of their measures (a refusal as denied)."""
    try:
        async with services.work(request, Action.ADMIN_GET_PATIENT_MEASURES, patient_id) as work:
            trends = await MeasureService(work, services.settings).trends(
                patient_id, signed_in(request)
            )
    except PermissionDenied:
        return Measures(readable=False)
    return Measures(
        readable=True, charts=[_chart(found, trend, services) for found, trend in trends]
    )
