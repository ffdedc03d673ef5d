"""Booking, reading, listing and changing appointments."""

from decimal import Decimal

from sqlalchemy import text

from tests.appointments.conftest import assert_fee_invoice, body, book, invoices_of
from tests.factories import create_patient

URL = "/api/appointments/"


async def scalar(engine, sql: str, **params):
    async with engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def test_book_read_and_list(client, therapist, patient, engine):
    response = await client.post(URL, json=body(patient["id"], therapist.id, note="First."))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"].endswith(f"/api/appointments/{created['id']}/")
    assert response.headers["ETag"]
    assert created["start"] == "2030-01-07T09:00:00+01:00"
    assert created["end"] == "2030-01-07T09:50:00+01:00"
    assert created["status"] == "booked"
    assert created["outside_availability"] is False
    assert created["series"] is None
    assert created["service"] is None
    assert set(created) == {
        "id",
        "patient",
        "therapist",
        "start",
        "end",
        "kind",
        "status",
        "cancellation_reason",
        "note",
        "series",
        "service",
        "outside_availability",
        "created_at",
        "updated_at",
    }
    read = await client.get(f"{URL}{created['id']}/")
    assert read.status_code == 200
    assert read.json() == created
    assert read.headers["ETag"] == response.headers["ETag"]
    listed = (await client.get(URL, params={"therapist": therapist.id})).json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == created["id"]
    theirs = (await client.get(URL, params={"patient": patient["id"]})).json()
    assert [one["id"] for one in theirs["results"]] == [created["id"]]
    # A booked appointment plans its reminder, due a day before.
    reminder = await scalar(
        engine,
        "SELECT dedupe_key FROM appointment_reminders WHERE appointment_id = :a",
        a=created["id"],
    )
    assert reminder == f"appointment:{created['id']}:1894003200"
    # Every read and write is audited on the patient; a list only when filtered by them.
    actions = await scalar(
        engine,
        "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE patient_id = :p "
        "AND action LIKE '%appointment%'",
        p=patient["id"],
    )
    assert actions == "create_appointment,get_appointment,list_appointments"
    lists = await scalar(
        engine,
        "SELECT string_agg(coalesce(patient_id, '-'), ',' ORDER BY id) FROM audit_events "
        "WHERE action = 'list_appointments'",
    )
    assert lists == f"-,{patient['id']}"


async def test_times_are_checked(client, therapist, patient):
    naive = await client.post(
        URL, json=body(patient["id"], therapist.id, start="2030-01-07T09:00:00")
    )
    assert naive.status_code == 400
    assert "time zone offset" in naive.json()["start"][0]
    backwards = await client.post(
        URL, json=body(patient["id"], therapist.id, end="2030-01-07T08:00:00+01:00")
    )
    assert backwards.json() == {"end": ["The end must be after the start."]}
    short = await client.post(
        URL, json=body(patient["id"], therapist.id, end="2030-01-07T09:04:00+01:00")
    )
    assert short.json() == {"end": ["An appointment lasts 5 to 480 minutes."]}
    number = await client.post(URL, json=body(patient["id"], therapist.id, start=1893999600))
    assert number.status_code == 400


async def test_availability_and_parties(client, therapist, patient, engine):
    early = await client.post(
        URL,
        json=body(
            patient["id"],
            therapist.id,
            start="2030-01-07T07:00:00+01:00",
            end="2030-01-07T07:50:00+01:00",
        ),
    )
    assert early.status_code == 400
    assert early.json() == {
        "start": ["The therapist does not work at that time (their weekly hours)."]
    }
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO therapist_time_off (therapist_id, starts_at, ends_at) VALUES "
                "(:t, '2030-01-08 00:00+01', '2030-01-09 00:00+01')"
            ),
            {"t": therapist.id},
        )
    off = await client.post(
        URL,
        json=body(
            patient["id"],
            therapist.id,
            start="2030-01-08T10:00:00+01:00",
            end="2030-01-08T10:30:00+01:00",
        ),
    )
    assert off.json() == {"start": ["The therapist is on time off at that time."]}
    overridden = await client.post(
        URL,
        json=body(
            patient["id"],
            therapist.id,
            start="2030-01-08T10:00:00+01:00",
            end="2030-01-08T10:30:00+01:00",
            override_availability=True,
        ),
    )
    assert overridden.status_code == 201
    assert overridden.json()["outside_availability"] is True
    action = await scalar(
        engine,
        "SELECT action FROM audit_events WHERE patient_id = :p AND status_code = 201"
        " ORDER BY id DESC LIMIT 1",
        p=patient["id"],
    )
    assert action == "create_appointment:override_availability"
    by_therapist = await therapist.client.post(
        URL, json=body(patient["id"], therapist.id, override_availability=True)
    )
    assert by_therapist.status_code == 403
    nobody = await client.post(URL, json=body("p_zzzzzz", 999999))
    assert nobody.status_code == 400
    assert set(nobody.json()) == {"therapist", "patient"}


async def test_an_overlap_is_a_409_naming_the_other(client, therapist, patient):
    first = await book(client, patient["id"], therapist.id)
    other = await create_patient(client)
    clash = await client.post(
        URL,
        json=body(
            other["id"],
            therapist.id,
            start="2030-01-07T09:30:00+01:00",
            end="2030-01-07T10:30:00+01:00",
        ),
    )
    assert clash.status_code == 409
    assert clash.json() == {
        "detail": f"The therapist already has appointment {first['id']} at that time.",
        "conflicting_appointment": first["id"],
    }
    # Touching is not overlapping.
    await book(
        client,
        other["id"],
        therapist.id,
        start="2030-01-07T09:50:00+01:00",
        end="2030-01-07T10:40:00+01:00",
    )


async def test_transitions_fulfilled_records_the_session(client, therapist, patient):
    created = await book(client, patient["id"], therapist.id)
    url = f"{URL}{created['id']}/"
    wrong = await client.patch(url, json={"status": "checked-in"})
    assert wrong.status_code == 200
    illegal = await client.patch(url, json={"status": "booked"})
    assert illegal.status_code == 400
    assert "cannot become booked" in illegal.json()["status"][0]
    done = await client.patch(url, json={"status": "fulfilled"})
    assert done.status_code == 200
    sessions = (await client.get(f"/api/patients/{patient['id']}/")).json()["sessions"]
    assert len(sessions) == 1
    assert sessions[0]["appointment"] == created["id"]
    assert sessions[0]["duration_minutes"] == 50
    assert sessions[0]["therapist"] == therapist.username
    assert sessions[0]["date"].startswith("2030-01-07T08:00:00")
    final = await client.patch(url, json={"status": "cancelled"})
    assert final.status_code == 400
    assert "final" in final.json()["status"][0]


async def test_if_match_and_no_delete(client, therapist, patient):
    created = await book(client, patient["id"], therapist.id)
    url = f"{URL}{created['id']}/"
    stale = await client.patch(url, json={"note": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    etag = (await client.get(url)).headers["ETag"]
    fresh = await client.patch(url, json={"note": "x"}, headers={"If-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != etag
    assert (await client.delete(url)).status_code == 405
    assert (await client.get(f"{URL}999999/")).status_code == 404


async def test_reschedule_checks_and_plans_a_new_reminder(client, therapist, patient, engine):
    created = await book(client, patient["id"], therapist.id)
    other = await book(
        client,
        patient["id"],
        therapist.id,
        start="2030-01-07T11:00:00+01:00",
        end="2030-01-07T11:50:00+01:00",
    )
    url = f"{URL}{created['id']}/"
    clash = await client.patch(
        url, json={"start": "2030-01-07T11:30:00+01:00", "end": "2030-01-07T12:00:00+01:00"}
    )
    assert clash.status_code == 409
    assert clash.json()["conflicting_appointment"] == other["id"]
    moved = await client.patch(
        url, json={"start": "2030-01-07T13:00:00+01:00", "end": "2030-01-07T13:50:00+01:00"}
    )
    assert moved.status_code == 200
    assert moved.json()["start"] == "2030-01-07T13:00:00+01:00"
    reminders = await scalar(
        engine,
        "SELECT count(*) FROM appointment_reminders WHERE appointment_id = :a",
        a=created["id"],
    )
    assert reminders == 2


async def test_proposed_then_booked_plans_the_reminder(client, therapist, patient, engine):
    created = await book(client, patient["id"], therapist.id, status="proposed")
    query = "SELECT count(*) FROM appointment_reminders WHERE appointment_id = :a"
    assert await scalar(engine, query, a=created["id"]) == 0
    await client.patch(f"{URL}{created['id']}/", json={"status": "booked"})
    assert await scalar(engine, query, a=created["id"]) == 1


async def test_noshow_issues_its_fee_as_an_invoice(app, client, therapist, patient, monkeypatch):
    monkeypatch.setattr(app.state.settings, "noshow_fee", Decimal("30.00"))
    # The wallet holds less than the fee: it is not touched, the fee is owed in full.
    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "20.00"})
    created = await book(client, patient["id"], therapist.id)
    response = await client.patch(f"{URL}{created['id']}/", json={"status": "noshow"})
    assert response.status_code == 200
    (invoice,) = await invoices_of(client, patient["id"])
    assert_fee_invoice(invoice, "noshow_fee", "30.00", created["id"])
    balance = (await client.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"]
    assert balance == "20.00"
    wallet = (await client.get(f"/api/patients/{patient['id']}/wallet_transactions/")).json()
    assert [row["amount"] for row in wallet["results"]] == ["20.00"]
    # Noshow again changes nothing, and bills nothing twice.
    again = await client.patch(f"{URL}{created['id']}/", json={"status": "noshow"})
    assert again.status_code == 200
    assert await invoices_of(client, patient["id"]) == [invoice]


async def test_a_noshow_fee_of_0_issues_no_invoice(app, client, therapist, patient, monkeypatch):
    monkeypatch.setattr(app.state.settings, "noshow_fee", Decimal("0.00"))
    created = await book(client, patient["id"], therapist.id)
    response = await client.patch(f"{URL}{created['id']}/", json={"status": "noshow"})
    assert response.status_code == 200
    assert await invoices_of(client, patient["id"]) == []


async def test_late_staff_cancellation_bills_unless_waived(
    app, client, therapist, patient, monkeypatch
):
    monkeypatch.setattr(app.state.settings, "late_cancellation_fee", Decimal("10.00"))
    monkeypatch.setattr(app.state.settings, "cancellation_notice_hours", 1_000_000)
    await client.post(f"/api/patients/{patient['id']}/update_wallet/", json={"amount": "50.00"})
    first = await book(client, patient["id"], therapist.id)
    second = await book(
        client,
        patient["id"],
        therapist.id,
        start="2030-01-07T12:00:00+01:00",
        end="2030-01-07T12:50:00+01:00",
    )
    charged = await client.post(f"{URL}{first['id']}/cancel/", json={"reason": "Ill."})
    assert charged.status_code == 200
    assert charged.json()["status"] == "cancelled"
    assert charged.json()["cancellation_reason"] == "Ill."
    waived = await client.post(f"{URL}{second['id']}/cancel/", json={"waive_fee": True})
    assert waived.status_code == 200
    # One invoice, for the first; the wallet untouched.
    (invoice,) = await invoices_of(client, patient["id"])
    assert_fee_invoice(invoice, "late_cancellation_fee", "10.00", first["id"])
    balance = (await client.get(f"/api/patients/{patient['id']}/")).json()["wallet_balance"]
    assert balance == "50.00"
    again = await client.post(f"{URL}{first['id']}/cancel/", json={})
    assert again.status_code == 400
    assert await invoices_of(client, patient["id"]) == [invoice]


async def test_a_late_cancellation_fee_of_0_issues_no_invoice(
    app, client, therapist, patient, monkeypatch
):
    monkeypatch.setattr(app.state.settings, "late_cancellation_fee", Decimal("0.00"))
    monkeypatch.setattr(app.state.settings, "cancellation_notice_hours", 1_000_000)
    created = await book(client, patient["id"], therapist.id)
    cancelled = await client.post(f"{URL}{created['id']}/cancel/", json={})
    assert cancelled.status_code == 200
    assert await invoices_of(client, patient["id"]) == []


async def test_roles(client, therapist, make_therapist, patient, patient_client):
    other_therapist = await make_therapist()
    mine = await book(therapist.client, patient["id"], therapist.id)
    refused = await therapist.client.post(
        URL,
        json=body(
            patient["id"],
            other_therapist.id,
            start="2030-01-07T15:00:00+01:00",
            end="2030-01-07T15:30:00+01:00",
        ),
    )
    assert refused.status_code == 403
    theirs = await book(
        client,
        patient["id"],
        other_therapist.id,
        start="2030-01-07T16:00:00+01:00",
        end="2030-01-07T16:30:00+01:00",
    )
    assert (await therapist.client.get(f"{URL}{theirs['id']}/")).status_code == 200
    change = await therapist.client.patch(f"{URL}{theirs['id']}/", json={"note": "x"})
    assert change.status_code == 403
    own = await therapist.client.patch(f"{URL}{mine['id']}/", json={"note": "x"})
    assert own.status_code == 200

    other = await create_patient(client)
    foreign = await book(
        client,
        other["id"],
        therapist.id,
        start="2030-01-08T09:00:00+01:00",
        end="2030-01-08T09:30:00+01:00",
    )
    me = await patient_client(patient["id"])
    listed = (await me.get(URL)).json()
    assert {row["patient"] for row in listed["results"]} == {patient["id"]}
    assert listed["count"] == 2
    assert (await me.get(URL, params={"patient": other["id"]})).json()["count"] == 0
    assert (await me.get(f"{URL}{foreign['id']}/")).status_code == 403
    assert (await me.patch(f"{URL}{mine['id']}/", json={"note": "x"})).status_code == 403
    booked = await me.post(
        URL,
        json=body(
            None, therapist.id, start="2030-01-09T09:00:00+01:00", end="2030-01-09T09:30:00+01:00"
        ),
    )
    assert booked.status_code == 201
    assert booked.json()["patient"] == patient["id"]
    for_other = await me.post(URL, json=body(other["id"], therapist.id))
    assert for_other.status_code == 403
    waive = await me.post(f"{URL}{mine['id']}/cancel/", json={"waive_fee": True})
    assert waive.status_code == 403
    cancelled = await me.post(f"{URL}{mine['id']}/cancel/", json={"reason": "Busy."})
    assert cancelled.status_code == 200
    assert (await me.post(f"{URL}{foreign['id']}/cancel/", json={})).status_code == 403


async def test_a_patient_cannot_cancel_late(
    app, client, therapist, patient, patient_client, monkeypatch
):
    monkeypatch.setattr(app.state.settings, "cancellation_notice_hours", 1_000_000)
    created = await book(client, patient["id"], therapist.id)
    me = await patient_client(patient["id"])
    late = await me.post(f"{URL}{created['id']}/cancel/", json={})
    assert late.status_code == 400
    assert late.json() == {
        "non_field_errors": [
            "Appointments can be cancelled up to 1000000 hours before they start; "
            "call the practice."
        ]
    }


async def test_list_filters_and_ordering(client, therapist, patient):
    ids = []
    for hour in (13, 9, 11):
        created = await book(
            client,
            patient["id"],
            therapist.id,
            start=f"2030-01-07T{hour:02d}:00:00+01:00",
            end=f"2030-01-07T{hour:02d}:30:00+01:00",
        )
        ids.append(created["id"])
    await client.post(f"{URL}{ids[0]}/cancel/", json={})
    by_start = (await client.get(URL)).json()["results"]
    assert [row["id"] for row in by_start] == [ids[1], ids[2], ids[0]]
    newest = (await client.get(URL, params={"ordering": "-created_at"})).json()["results"]
    assert [row["id"] for row in newest] == [ids[2], ids[1], ids[0]]
    booked = (await client.get(URL, params={"status": "booked"})).json()
    assert booked["count"] == 2
    both = (await client.get(URL, params=[("status", "booked"), ("status", "cancelled")])).json()
    assert both["count"] == 3
    window = await client.get(
        URL,
        params={
            "start_after": "2030-01-07T10:00:00+01:00",
            "start_before": "2030-01-07T12:00:00+01:00",
        },
    )
    assert [row["id"] for row in window.json()["results"]] == [ids[2]]
    naive = await client.get(URL, params={"start_after": "2030-01-07T10:00:00"})
    assert naive.status_code == 400


async def test_a_retried_booking_is_replayed(client, therapist, patient):
    headers = {"Idempotency-Key": '"book-once"'}
    payload = body(patient["id"], therapist.id)
    first = await client.post(URL, json=payload, headers=headers)
    again = await client.post(URL, json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert (await client.get(URL)).json()["count"] == 1


async def test_an_inactive_therapist_takes_no_bookings(client, therapist, patient, engine):
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE id = :t"), {"t": therapist.id}
        )
    response = await client.post(URL, json=body(patient["id"], therapist.id))
    assert response.status_code == 400
    assert response.json() == {"therapist": ["No active therapist has this id."]}


async def test_a_patient_gets_404_for_a_missing_appointment(client, patient, patient_client):
    me = await patient_client(patient["id"])
    assert (await me.get(f"{URL}999999/")).status_code == 404
    assert (await me.get(f"{URL}not-a-number/")).status_code == 404
