"""bench/ceiling.py, the framework's ceiling of `make bench-one-core`, answers a read by id as the
service does, with the service's own statement: the same body, the same audit event."""

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from app.core.config import Settings
from bench.capture import capture
from bench.ceiling import Statement, create_ceiling
from bench.common import operations
from tests.conftest import ADMIN_USERNAME, STAFF_PASSWORD
from tests.factories import create_patient
from tests.images import blank_png


async def test_the_ceiling_answers_the_services_body_with_its_statement(
    client: httpx.AsyncClient, settings: Settings, app: FastAPI
):
    patient = await create_patient(
        client, ssn="123-45-6789", email="ceiling@example.org", tags=["anxiety"]
    )
    pid = patient["id"]
    session = {"date": "2026-12-01T10:00:00Z", "therapist": "Dr Rivera", "notes": "Talked."}
    assert (await client.post(f"/api/patients/{pid}/add_session/", json=session)).is_success
    image = ("p.png", blank_png("RGB", 8), "image/png")
    picture = await client.put(f"/api/patients/{pid}/profile_picture/", files={"file": image})
    assert picture.is_success, picture.text
    get = next(op for op in operations("ann", "555", "smith") if op.key == "get")
    steps = await capture(
        settings,
        [get],
        username=ADMIN_USERNAME,
        password=STAFF_PASSWORD,
        patient_id=pid,
        phone="+19990000000",
    )
    statement = Statement.captured(steps["get"])
    assert "INSERT INTO audit_events" in statement.sql  # the caller, the read and the event

    service = await client.get(f"/api/patients/{pid}/")
    ceiling = create_ceiling(settings, steps["get"])
    async with ceiling.router.lifespan_context(ceiling):
        transport = httpx.ASGITransport(app=ceiling)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=client.headers
        ) as bare:
            answer = await bare.get(f"/api/patients/{pid}/")
            missing = await bare.get("/api/patients/p_zzzzzz/")
            forged = await bare.get(
                f"/api/patients/{pid}/", headers={"Authorization": "Bearer x.y.z"}
            )

    assert service.status_code == answer.status_code == 200
    assert answer.json() == service.json()
    assert answer.json()["sessions"][0]["notes"] == "Talked."
    assert answer.json()["ssn"] == "123-45-6789"
    assert answer.json()["profile_picture"].startswith("http://testserver/api/patients/")
    assert (missing.status_code, forged.status_code) == (404, 401)
    async with app.state.engine.connect() as connection:
        events = await connection.execute(
            text(
                "SELECT actor, actor_kind, action, client_address, outcome, status_code"
                " FROM audit_events WHERE patient_id = :pid AND action = 'get_patient'"
            ),
            {"pid": pid},
        )
        rows = [tuple(row) for row in events]
    # The service's read, the capture's warm-up and captured reads, and the ceiling's.
    assert len(rows) == 4
    assert len(set(rows)) == 1, rows
