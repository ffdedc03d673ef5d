"""Fifty bookings at once of overlapping times: PostgreSQL lets exactly one commit."""

import asyncio

from tests.appointments.conftest import body
from tests.factories import create_patient


async def test_fifty_concurrent_overlapping_bookings_one_wins(client, therapist):
    patients = [await create_patient(client) for _ in range(5)]

    async def attempt(n: int):
        minute = n % 40
        return await client.post(
            "/api/appointments/",
            json=body(
                patients[n % 5]["id"],
                therapist.id,
                start=f"2030-01-07T10:{minute:02d}:00+01:00",
                end=f"2030-01-07T11:{minute:02d}:00+01:00",
            ),
        )

    responses = await asyncio.gather(*(attempt(n) for n in range(50)))

    codes = sorted(response.status_code for response in responses)
    assert codes == [201] + [409] * 49, [
        r.text for r in responses if r.status_code not in (201, 409)
    ]
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["conflicting_appointment"] == winner["id"]
    listed = (await client.get("/api/appointments/", params={"therapist": therapist.id})).json()
    assert listed["count"] == 1
