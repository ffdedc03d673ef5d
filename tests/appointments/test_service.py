"""An appointment names its billable service: on a booking, a series and a PATCH; none (null),
a missing or a deleted service is a 400 on `service`; a PATCH follows the appointment's rules
(who, If-Match, the final statuses); every read answers it."""

from typing import Any

import httpx
import pytest

from app.appointments.service import NO_SERVICE
from tests.appointments.conftest import Therapist, body, book, insert_appointment
from tests.appointments.test_series import series
from tests.requests.test_work import statements  # noqa: F401 - a fixture

URL = "/api/appointments/"
SERVICES = "/api/billable-services/"
NOT_A_SERVICE = {"service": [NO_SERVICE]}


async def add_service(client: httpx.AsyncClient, code: str = "90834") -> int:
    answer = await client.post(
        SERVICES,
        json={"code": code, "name": "Psychotherapy", "duration_minutes": 45, "price": "120.00"},
    )
    assert answer.status_code == 201, answer.text
    service_id: int = answer.json()["id"]
    return service_id


async def deleted_service(client: httpx.AsyncClient) -> int:
    service_id = await add_service(client, "90837")
    assert (await client.delete(f"{SERVICES}{service_id}/")).status_code == 204
    return service_id


async def test_a_booking_names_its_service_and_every_read_answers_it(client, therapist, patient):
    service_id = await add_service(client)

    created = await book(client, patient["id"], therapist.id, service=service_id)

    assert created["service"] == service_id
    read = await client.get(f"{URL}{created['id']}/")
    assert read.json() == created
    listed = (await client.get(URL, params={"patient": patient["id"]})).json()
    assert [row["service"] for row in listed["results"]] == [service_id]


async def test_naming_a_service_costs_no_round_trip(
    client,
    therapist,
    patient,
    statements,  # noqa: F811
):
    service_id = await add_service(client)
    await statements.cleared()
    await book(client, patient["id"], therapist.id)
    without = list(await statements.settled())
    await statements.cleared()
    later = {"start": "2030-01-07T11:00:00+01:00", "end": "2030-01-07T11:50:00+01:00"}
    created = await book(client, patient["id"], therapist.id, service=service_id, **later)
    named = list(await statements.settled())
    await statements.cleared()
    await client.get(f"{URL}{created['id']}/")
    read = list(await statements.settled())

    assert len(named) == len(without), named
    assert sum("billable_services" in sent for sent in named) == 1
    assert read
    assert not any("billable_services" in sent for sent in read)


async def test_a_booking_without_a_service_names_none(client, therapist, patient):
    assert (await book(client, patient["id"], therapist.id))["service"] is None
    later = body(patient["id"], therapist.id, service=None)
    later.update(start="2030-01-07T11:00:00+01:00", end="2030-01-07T11:50:00+01:00")
    answer = await client.post(URL, json=later)
    assert answer.status_code == 201, answer.text
    assert answer.json()["service"] is None


async def test_a_patient_booking_for_themself_may_name_a_service(
    client, therapist, patient, patient_client
):
    service_id = await add_service(client)
    own = await patient_client(patient["id"])

    created = await book(own, None, therapist.id, service=service_id)

    assert created["service"] == service_id


@pytest.mark.parametrize("which", ["missing", "deleted"])
async def test_a_missing_or_deleted_service_is_a_400_and_books_nothing(
    client, therapist, patient, which
):
    service_id = 987654321 if which == "missing" else await deleted_service(client)

    answer = await client.post(URL, json=body(patient["id"], therapist.id, service=service_id))

    assert answer.status_code == 400
    assert answer.json() == NOT_A_SERVICE
    listed = (await client.get(URL, params={"patient": patient["id"]})).json()
    assert listed["count"] == 0


@pytest.mark.parametrize(
    "value", [0, -1, 2**63, True, "3", "abc", 1.5], ids=lambda value: repr(value)
)
async def test_a_service_that_is_not_an_id_is_a_400(client, therapist, patient, value):
    answer = await client.post(URL, json=body(patient["id"], therapist.id, service=value))

    assert answer.status_code == 400
    assert list(answer.json()) == ["service"]


async def test_the_therapist_and_patient_are_named_before_the_service(client, patient):
    answer = await client.post(URL, json=body(patient["id"], 999999, service=987654321))

    assert answer.status_code == 400
    assert answer.json() == {"therapist": ["No active therapist has this id."]}


async def test_a_patch_sets_changes_and_clears_the_service(client, therapist, patient):
    first, second = await add_service(client), await add_service(client, "90837")
    created = await book(client, patient["id"], therapist.id)
    path = f"{URL}{created['id']}/"

    named = await client.patch(path, json={"service": first})
    changed = await client.patch(path, json={"service": second})
    cleared = await client.patch(path, json={"service": None})

    assert [named.status_code, changed.status_code, cleared.status_code] == [200, 200, 200]
    assert [named.json()["service"], changed.json()["service"]] == [first, second]
    assert cleared.json() == {
        **created,
        "service": None,
        "updated_at": cleared.json()["updated_at"],
    }
    assert named.headers["ETag"] != cleared.headers["ETag"]
    assert (await client.get(path)).json()["service"] is None


async def test_a_patch_without_service_keeps_it(client, therapist, patient):
    service_id = await add_service(client)
    created = await book(client, patient["id"], therapist.id, service=service_id)

    answer = await client.patch(f"{URL}{created['id']}/", json={"note": "Longer session."})

    assert answer.status_code == 200, answer.text
    assert answer.json()["service"] == service_id


@pytest.mark.parametrize("which", ["missing", "deleted"])
async def test_a_patch_to_a_missing_or_deleted_service_is_a_400_and_changes_nothing(
    client, therapist, patient, which
):
    service_id = await add_service(client)
    created = await book(client, patient["id"], therapist.id, service=service_id)
    path = f"{URL}{created['id']}/"
    other = 987654321 if which == "missing" else await deleted_service(client)

    answer = await client.patch(path, json={"service": other, "note": "changed"})

    assert answer.status_code == 400
    assert answer.json() == NOT_A_SERVICE
    assert (await client.get(path)).json() == created


async def test_a_service_deleted_since_stays_named_and_may_be_sent_again(
    client, therapist, patient
):
    service_id = await add_service(client)
    created = await book(client, patient["id"], therapist.id, service=service_id)
    path = f"{URL}{created['id']}/"
    assert (await client.delete(f"{SERVICES}{service_id}/")).status_code == 204

    read = await client.get(path)
    unchanged = await client.patch(path, json={"service": service_id, "note": "Same service."})

    assert read.json()["service"] == service_id
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["service"] == service_id


@pytest.mark.parametrize("status", ["arrived", "checked-in"])
async def test_a_service_changes_until_the_appointment_is_final(
    client, engine, therapist, patient, status
):
    service_id = await add_service(client)
    appointment = await insert_appointment(
        engine,
        patient["id"],
        therapist.id,
        status,
        "2030-01-07T09:00:00+01:00",
        "2030-01-07T09:50:00+01:00",
    )

    answer = await client.patch(f"{URL}{appointment}/", json={"service": service_id})

    assert answer.status_code == 200, answer.text
    assert answer.json()["service"] == service_id


async def test_fulfilling_and_naming_the_service_at_once(client, therapist, patient):
    service_id = await add_service(client)
    created = await book(client, patient["id"], therapist.id)

    answer = await client.patch(
        f"{URL}{created['id']}/", json={"status": "fulfilled", "service": service_id}
    )

    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["service"]) == ("fulfilled", service_id)


@pytest.mark.parametrize("status", ["fulfilled", "cancelled", "noshow", "entered-in-error"])
async def test_a_final_appointment_keeps_its_service(client, engine, therapist, patient, status):
    service_id = await add_service(client)
    appointment = await insert_appointment(
        engine,
        patient["id"],
        therapist.id,
        status,
        "2030-01-07T09:00:00+01:00",
        "2030-01-07T09:50:00+01:00",
    )
    path = f"{URL}{appointment}/"

    refused = await client.patch(path, json={"service": service_id})
    unchanged = await client.patch(path, json={"service": None})

    assert refused.status_code == 400
    assert refused.json() == {
        "service": [f"The service of an appointment that is {status} cannot change."]
    }
    assert unchanged.status_code == 200  # null is what it names already: no change
    assert (await client.get(path)).json()["service"] is None


async def test_another_therapists_appointment_and_a_patient_may_not_change_the_service(
    client, make_therapist, patient, patient_client
):
    service_id = await add_service(client)
    mine: Therapist = await make_therapist()
    theirs: Therapist = await make_therapist()
    created = await book(client, patient["id"], theirs.id)
    path = f"{URL}{created['id']}/"
    own = await patient_client(patient["id"])

    by_another = await mine.client.patch(path, json={"service": service_id})
    by_the_patient = await own.patch(path, json={"service": service_id})
    by_their_therapist = await theirs.client.patch(path, json={"service": service_id})

    assert [by_another.status_code, by_the_patient.status_code] == [403, 403]
    assert by_their_therapist.status_code == 200, by_their_therapist.text
    assert by_their_therapist.json()["service"] == service_id


async def test_a_stale_if_match_changes_no_service(client, therapist, patient):
    service_id = await add_service(client)
    created = await book(client, patient["id"], therapist.id)
    path = f"{URL}{created['id']}/"

    stale = await client.patch(path, json={"service": service_id}, headers={"If-Match": '"1"'})

    assert stale.status_code == 412
    assert (await client.get(path)).json()["service"] is None


async def test_a_series_gives_its_service_to_every_occurrence(client, therapist, patient):
    service_id = await add_service(client)

    answer = await client.post(
        f"{URL}series/", json=series(patient["id"], therapist.id, service=service_id)
    )

    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["service"] == service_id
    assert {row["service"] for row in created["appointments"]} == {service_id}
    read = (await client.get(f"{URL}series/{created['id']}/")).json()
    assert read["service"] == service_id
    assert {row["service"] for row in read["appointments"]} == {service_id}


async def test_a_series_without_a_service_names_none(client, therapist, patient):
    answer = await client.post(f"{URL}series/", json=series(patient["id"], therapist.id))

    assert answer.status_code == 201, answer.text
    assert answer.json()["service"] is None
    assert {row["service"] for row in answer.json()["appointments"]} == {None}


@pytest.mark.parametrize("which", ["missing", "deleted"])
async def test_a_series_of_a_missing_or_deleted_service_is_a_400_and_books_nothing(
    client, therapist, patient, which
):
    service_id = 987654321 if which == "missing" else await deleted_service(client)

    answer = await client.post(
        f"{URL}series/", json=series(patient["id"], therapist.id, service=service_id)
    )

    assert answer.status_code == 400
    assert answer.json() == NOT_A_SERVICE
    listed: dict[str, Any] = (await client.get(URL, params={"patient": patient["id"]})).json()
    assert listed["count"] == 0
