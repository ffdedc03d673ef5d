from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.pagination import PageParam, PageRequest, PageSizeParam
from app.core.config import Settings
from app.core.errors import NotFound, UnsupportedMediaType
from app.db.session import get_session
from app.repositories.patient import PatientRepository
from app.schemas.fields import PATIENT_ID_RE
from app.schemas.patient import PatientListQuery

SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _patient_repository(session: SessionDep) -> PatientRepository:
    return PatientRepository(session)


def _page_request(
    settings: SettingsDep, page: PageParam = None, page_size: PageSizeParam = None
) -> PageRequest:
    return PageRequest.parse(
        page, page_size, default_size=settings.page_size_default, max_size=settings.page_size_max
    )


async def _json_body(request: Request) -> None:
    """A body that is not JSON is a 415, as DRF's parser negotiation answers."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    if media_type or await request.body():
        shown = media_type or "(none)"
        raise UnsupportedMediaType(f'Unsupported media type "{shown}" in request.')


def _patient_id(
    patient_id: Annotated[
        str, Path(description="Patient id, e.g. p_a1b2c3.", examples=["p_a1b2c3"])
    ],
) -> str:
    """An id that cannot exist is simply not found; it never reaches the database."""
    if not PATIENT_ID_RE.fullmatch(patient_id):
        raise NotFound
    return patient_id


PatientIdDep = Annotated[str, Depends(_patient_id)]
PatientRepoDep = Annotated[PatientRepository, Depends(_patient_repository)]
PageRequestDep = Annotated[PageRequest, Depends(_page_request)]
PatientListQueryDep = Annotated[PatientListQuery, Query()]
JsonBody = Depends(_json_body)
