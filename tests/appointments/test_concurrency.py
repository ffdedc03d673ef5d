"""Fifty bookings at once of overlapping times: PostgreSQL lets exactly one commit.

The requests race through an app of their own whose pool holds ten connections: fifty requests
in flight, ten transactions at a time on separate connections (and no more of the server's
connections than that, which other suites on the same server may be using)."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from tests.appointments.conftest import body
from tests.factories import create_patient


@pytest.fixture
async def small_pool_app(settings: Settings) -> AsyncIterator[FastAPI]:
    small = settings.model_copy(update={"db_pool_size": 10, "db_max_overflow": 0})
    application = create_app(small)
    async with application.router.lifespan_context(application):
        yield application


async def test_fifty_concurrent_overlapping_bookings_one_wins(client, therapist, small_pool_app):
    patients = [await create_patient(client) for _ in range(5)]
    racer = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=small_pool_app),
        base_url="http://testserver",
        headers={"Authorization": client.headers["Authorization"]},
    )

    async def attempt(n: int) -> httpx.Response:
        minute = n % 40
        return await racer.post(
            "/api/appointments/",
            json=body(
                patients[n % 5]["id"],
                therapist.id,
                start=f"2030-01-07T10:{minute:02d}:00+01:00",
                end=f"2030-01-07T11:{minute:02d}:00+01:00",
            ),
        )

    async with racer:
        responses = await asyncio.gather(*(attempt(n) for n in range(50)))

    codes = sorted(response.status_code for response in responses)
    unexpected = [r.text for r in responses if r.status_code not in (201, 409)]
    assert codes == [201] + [409] * 49, unexpected
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["conflicting_appointment"] == winner["id"]
    listed = (await client.get("/api/appointments/", params={"therapist": therapist.id})).json()
    assert listed["count"] == 1
