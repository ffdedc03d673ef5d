"""Therapists' calendar feeds: made, rotated, revoked, read by a calendar app."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar

from tests.factories import create_patient


async def _staff_id(app: FastAPI, username: str) -> int:
    async with app.state.database.connection() as connection:
        staff_id: int = await connection.fetchval(
            "SELECT id FROM staff WHERE username = $1", username
        )
    return staff_id


@pytest.fixture
async def therapist(app: FastAPI, staff_client: Any) -> tuple[httpx.AsyncClient, int]:
    username = f"rivera-{uuid.uuid4().hex[:6]}"
    session = await staff_client("therapist", username)
    staff_id = await _staff_id(app, username)
    async with app.state.database.connection() as connection:
        await connection.execute(
            "UPDATE staff SET display_name = 'Dr. Rivera' WHERE id = $1", staff_id
        )
    return session, staff_id


async def _book(
    app: FastAPI, patient: str, therapist: int, starts_at: datetime, **values: Any
) -> int:
    async with app.state.database.connection() as connection:
        appointment: int = await connection.fetchval(
            "INSERT INTO appointments (patient_id, therapist_id, starts_at, ends_at, kind, status,"
            " note, created_by) VALUES ($1, $2, $3, $4, $5, $6, NULL, 'test') RETURNING id",
            patient,
            therapist,
            starts_at,
            starts_at + timedelta(minutes=50),
            values.get("kind", "in_person"),
            values.get("status", "booked"),
        )
    return appointment


def _path(url: str) -> str:
    assert url.startswith("http://testserver/api/calendars/")
    assert url.endswith(".ics")
    return url.removeprefix("http://testserver")


async def test_a_therapist_subscribes_to_their_own_feed(app, client, anonymous, therapist):
    session, therapist_id = therapist
    patient = await create_patient(client, first_name="Janeza", last_name="Doerina")
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    booked = await _book(app, patient["id"], therapist_id, soon, kind="video")
    cancelled = await _book(
        app, patient["id"], therapist_id, soon + timedelta(hours=2), status="cancelled"
    )
    proposed = await _book(
        app, patient["id"], therapist_id, soon + timedelta(hours=4), status="proposed"
    )
    await _book(app, patient["id"], therapist_id, soon - timedelta(days=40))  # too long ago
    await _book(app, patient["id"], therapist_id, soon + timedelta(days=400))  # too far ahead

    made = await session.post(f"/api/therapists/{therapist_id}/calendar/")
    assert made.status_code == 201, made.text
    feed = await anonymous.get(_path(made.json()["url"]))
    assert feed.status_code == 200, feed.text
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert feed.headers["cache-control"] == "private, no-store"

    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["X-WR-CALNAME"]) == "TherapyConnect: Dr. Rivera"
    events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {
        f"appointment-{booked}@therapyconnect",
        f"appointment-{cancelled}@therapyconnect",
        f"appointment-{proposed}@therapyconnect",
    }
    first = events[f"appointment-{booked}@therapyconnect"]
    assert first.decoded("DTSTART") == soon
    assert first.decoded("DTSTART").tzinfo is not None
    assert b"DTSTART:" + soon.strftime("%Y%m%dT%H%M%SZ").encode() in feed.content
    assert first.decoded("DTEND") == soon + timedelta(minutes=50)
    assert str(first["SUMMARY"]) == f"Video appointment: {patient['id']}"
    assert str(first["STATUS"]) == "CONFIRMED"
    assert first.decoded("SEQUENCE") > 0
    assert str(events[f"appointment-{cancelled}@therapyconnect"]["STATUS"]) == "CANCELLED"
    assert str(events[f"appointment-{proposed}@therapyconnect"]["STATUS"]) == "TENTATIVE"
    assert b"Janeza" not in feed.content
    assert b"Doerina" not in feed.content
    assert b"Penicillin" not in feed.content


async def test_patients_names_appear_only_when_the_setting_allows(
    app, client, anonymous, therapist, settings, monkeypatch
):
    session, therapist_id = therapist
    patient = await create_patient(client, first_name="Janeza", last_name="Doerina")
    await _book(app, patient["id"], therapist_id, datetime.now(UTC) + timedelta(days=1))
    monkeypatch.setattr(app.state.settings, "calendar_feed_patient_names", True)
    url = (await session.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]
    [event] = Calendar.from_ical((await anonymous.get(_path(url))).content).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Appointment (in person): Janeza Doerina"


async def test_a_new_url_revokes_the_old_one(client, anonymous, therapist):
    session, therapist_id = therapist
    old = (await session.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]
    assert (await anonymous.get(_path(old))).status_code == 200
    new = (await client.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]  # admin
    assert new != old
    assert (await anonymous.get(_path(old))).json() == {"detail": "Not found."}
    assert (await anonymous.get(_path(old))).status_code == 404
    assert (await anonymous.get(_path(new))).status_code == 200


async def test_delete_revokes_the_feed(anonymous, therapist):
    session, therapist_id = therapist
    url = (await session.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]
    assert (await session.delete(f"/api/therapists/{therapist_id}/calendar/")).status_code == 204
    assert (await anonymous.get(_path(url))).status_code == 404
    # Again: nothing to revoke is no error.
    assert (await session.delete(f"/api/therapists/{therapist_id}/calendar/")).status_code == 204


async def test_only_admins_and_the_therapist_themself_manage_a_feed(
    app, client, anonymous, staff_client, therapist, login
):
    _, therapist_id = therapist
    other = await staff_client("therapist")
    for method in ("post", "delete"):
        answer = await getattr(other, method)(f"/api/therapists/{therapist_id}/calendar/")
        assert answer.status_code == 403
        assert answer.json() == {"detail": "You do not have permission to perform this action."}
    await create_patient(client, id="p_cal001", password="patient-pass-1")
    token = await login("p_cal001", "patient-pass-1")
    headers = {"Authorization": f"Bearer {token}"}
    answer = await anonymous.post(f"/api/therapists/{therapist_id}/calendar/", headers=headers)
    assert answer.status_code == 403
    assert (await anonymous.post(f"/api/therapists/{therapist_id}/calendar/")).status_code == 401
    assert (await client.post(f"/api/therapists/{therapist_id}/calendar/")).status_code == 201
    assert (await client.delete(f"/api/therapists/{therapist_id}/calendar/")).status_code == 204


async def test_a_feed_of_no_therapist_is_not_found(app, client):
    assert (await client.post("/api/therapists/999999/calendar/")).status_code == 404
    admin_id = await _staff_id(app, "admin")  # staff, but no therapist
    assert (await client.post(f"/api/therapists/{admin_id}/calendar/")).status_code == 404


@pytest.mark.parametrize("secret", ["A" * 43, "short", "A" * 42 + "!"])
async def test_an_unknown_secret_is_not_found(anonymous, secret):
    answer = await anonymous.get(f"/api/calendars/{secret}.ics")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not found."}


async def test_feed_reads_are_audited(app, client, anonymous, therapist):
    session, therapist_id = therapist
    url = (await session.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]
    await anonymous.get(_path(url))
    await anonymous.get("/api/calendars/" + "B" * 43 + ".ics")
    async with app.state.database.connection() as connection:
        rows = await connection.fetch(
            "SELECT actor, actor_kind, action, status_code FROM audit_events"
            " WHERE action IN ('get_calendar_feed', 'create_calendar_feed') ORDER BY id"
        )
    assert [dict(row) for row in rows][-3:] == [
        {
            "actor": (await _username(app, therapist_id)),
            "actor_kind": "staff",
            "action": "create_calendar_feed",
            "status_code": 201,
        },
        {
            "actor": f"calendar_feed:{therapist_id}",
            "actor_kind": "calendar_feed",
            "action": "get_calendar_feed",
            "status_code": 200,
        },
        {
            "actor": "calendar_feed",
            "actor_kind": "calendar_feed",
            "action": "get_calendar_feed",
            "status_code": 404,
        },
    ]


async def _username(app: FastAPI, staff_id: int) -> str:
    async with app.state.database.connection() as connection:
        name: str = await connection.fetchval("SELECT username FROM staff WHERE id = $1", staff_id)
    return name


@pytest.mark.parametrize("control", ["\r\n", "\n", "\r", "\t", "\x1b\x7f", "\u2028"])
async def test_a_name_stored_before_the_one_line_rule_never_breaks_the_feed(
    app, client, anonymous, therapist, control, monkeypatch
):
    """Rows written before names were held to one line: the feed reads them, one line each."""
    session, therapist_id = therapist
    patient = await create_patient(client, first_name="Janeza", last_name="Doerina")
    async with app.state.database.connection() as connection:
        await connection.execute(
            "UPDATE staff SET display_name = $1 WHERE id = $2",
            f"Dr. Rivera{control}END:VCALENDAR",
            therapist_id,
        )
        await connection.execute(
            "UPDATE patients SET last_name = $1 WHERE id = $2", f"Doe{control}rina", patient["id"]
        )
    await _book(app, patient["id"], therapist_id, datetime.now(UTC) + timedelta(days=1))
    monkeypatch.setattr(app.state.settings, "calendar_feed_patient_names", True)
    url = (await session.post(f"/api/therapists/{therapist_id}/calendar/")).json()["url"]
    feed = await anonymous.get(_path(url))
    assert feed.status_code == 200, feed.text
    calendar = Calendar.from_ical(feed.content)
    assert str(calendar["X-WR-CALNAME"]) == "TherapyConnect: Dr. Rivera END:VCALENDAR"
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Appointment (in person): Janeza Doe rina"
    assert feed.content.split(b"\r\n").count(b"END:VCALENDAR") == 1
