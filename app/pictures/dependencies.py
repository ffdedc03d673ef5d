import asyncio
from typing import Annotated

from fastapi import Depends, Request

from app.auth.dependencies import Caller
from app.core.config import Settings
from app.pictures.service import PictureService
from app.pictures.stores import PictureStore


async def _picture_store(request: Request) -> PictureStore:
    """The app's one picture store (a shared folder or S3), made in create_app."""
    store: PictureStore = request.app.state.pictures
    return store


PictureStoreDep = Annotated[PictureStore, Depends(_picture_store)]


async def _document_store(request: Request) -> PictureStore:
    """The store of patients' documents: the picture store's kind, under its own folder."""
    store: PictureStore = request.app.state.documents
    return store


DocumentStoreDep = Annotated[PictureStore, Depends(_document_store)]


def picture_service(caller: Caller) -> PictureService:
    """The caller's picture service, over the app's one store and decode slots."""
    state = caller.request.app.state
    settings: Settings = state.settings
    store: PictureStore = state.pictures
    decodes: asyncio.Semaphore = state.picture_decodes
    return PictureService(caller.work, store, settings, decodes)
