from typing import Annotated

from fastapi import Depends, Request

from app.auth.dependencies import CallerDep
from app.core.dependencies import SettingsDep
from app.pictures.service import PictureService
from app.pictures.stores import PictureStore


async def _picture_store(request: Request) -> PictureStore:
    """The app's one picture store (a shared folder or S3), made in create_app."""
    store: PictureStore = request.app.state.pictures
    return store


PictureStoreDep = Annotated[PictureStore, Depends(_picture_store)]


async def _picture_service(
    caller: CallerDep, store: PictureStoreDep, settings: SettingsDep
) -> PictureService:
    return PictureService(caller.work, store, settings)


PictureServiceDep = Annotated[PictureService, Depends(_picture_service)]
