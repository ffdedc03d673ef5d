"""Absolute URLs in response bodies, as DRF builds them from the request."""

from contextvars import ContextVar

from fastapi import Request

_base_url: ContextVar[str] = ContextVar("base_url", default="/")


async def remember_base_url(request: Request) -> None:
    """A router dependency: async, so the value is visible while the response is serialized."""
    _base_url.set(str(request.base_url))


def profile_picture_url(patient_id: str) -> str:
    return f"{_base_url.get()}api/patients/{patient_id}/profile_picture/"
