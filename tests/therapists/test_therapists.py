"""Therapists as a resource: staff with the therapist role, listed to anyone signed in, renamed
by an admin or by the therapist themself."""

import pytest

from tests.therapists.conftest import staff_id


async def test_the_list_shows_therapists_only_to_anyone_signed_in(
    client, make_therapist, patient_client, engine
):
    first = await make_therapist()
    second = await make_therapist()
    _, patient = await patient_client()

    response = await patient.get("/api/therapists/?ordering=id")

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["count"] == 2
    assert [t["id"] for t in page["results"]] == sorted([first.id, second.id])
    assert set(page["results"][0]) == {"id", "display_name", "is_active", "npi"}
    admin_id = await staff_id(engine, "admin")
    assert admin_id not in [t["id"] for t in page["results"]]


async def test_the_list_filters_on_is_active_and_orders_by_display_name(
    client, make_therapist, engine
):
    first = await make_therapist()
    second = await make_therapist()
    await client.patch(f"/api/therapists/{first.id}/", json={"display_name": "Zed"})
    await client.patch(f"/api/therapists/{second.id}/", json={"display_name": "Abe"})
    async with engine.begin() as connection:
        from sqlalchemy import text

        await connection.execute(
            text("UPDATE staff SET is_active = false WHERE id = :id"), {"id": second.id}
        )

    everyone = (await client.get("/api/therapists/")).json()["results"]
    assert [t["display_name"] for t in everyone] == ["Abe", "Zed"]
    descending = (await client.get("/api/therapists/?ordering=-display_name")).json()["results"]
    assert [t["display_name"] for t in descending] == ["Zed", "Abe"]
    active = (await client.get("/api/therapists/?is_active=true")).json()["results"]
    assert [(t["id"], t["is_active"]) for t in active] == [(first.id, True)]
    inactive = (await client.get("/api/therapists/?is_active=false")).json()["results"]
    assert [(t["id"], t["is_active"]) for t in inactive] == [(second.id, False)]
    assert (await client.get("/api/therapists/?is_active=maybe")).status_code == 400


async def test_read_by_id_is_the_username_until_a_display_name_is_set(
    client, make_therapist, patient_client, engine
):
    therapist = await make_therapist()
    _, patient = await patient_client()

    read = await patient.get(f"/api/therapists/{therapist.id}/")

    assert read.status_code == 200
    assert read.json()["display_name"].startswith("therapist-")
    assert read.json() == {
        "id": therapist.id,
        "display_name": read.json()["display_name"],
        "is_active": True,
        "npi": None,
    }
    admin_id = await staff_id(engine, "admin")
    assert (await client.get(f"/api/therapists/{admin_id}/")).status_code == 404
    assert (await client.get("/api/therapists/999999/")).status_code == 404
    assert (await client.get("/api/therapists/abc/")).status_code == 404
    assert (await client.get("/api/therapists/99999999999/")).status_code == 404


async def test_an_admin_or_the_therapist_themself_renames(
    client, make_therapist, patient_client, engine
):
    therapist = await make_therapist()
    other = await make_therapist()
    _, patient = await patient_client()
    path = f"/api/therapists/{therapist.id}/"

    by_self = await therapist.client.patch(path, json={"display_name": "  Dr. Rivera "})
    assert by_self.status_code == 200, by_self.text
    assert by_self.json()["display_name"] == "Dr. Rivera"
    by_admin = await client.patch(path, json={"display_name": "Dr. R."})
    assert by_admin.json()["display_name"] == "Dr. R."
    assert (await client.patch(path, json={})).json()["display_name"] == "Dr. R."

    assert (await other.client.patch(path, json={"display_name": "X"})).status_code == 403
    assert (await patient.patch(path, json={"display_name": "X"})).status_code == 403
    assert (await client.patch(path, json={"display_name": ""})).json() == {
        "display_name": ["This field may not be blank."]
    }
    assert (await client.patch(path, json={"display_name": None})).status_code == 400
    assert (await client.patch(path, json={"display_name": "x" * 151})).status_code == 400
    admin_id = await staff_id(engine, "admin")
    renamed_admin = await client.patch(f"/api/therapists/{admin_id}/", json={"display_name": "A"})
    assert renamed_admin.status_code == 404
    assert (await client.get(path)).json()["display_name"] == "Dr. R."


async def test_reads_and_writes_are_audited(client, make_therapist, engine):
    from sqlalchemy import text

    therapist = await make_therapist()
    await client.get(f"/api/therapists/{therapist.id}/")
    await client.patch(f"/api/therapists/{therapist.id}/", json={"display_name": "Dr. A"})

    async with engine.connect() as connection:
        actions = (
            await connection.scalars(
                text("SELECT action FROM audit_events WHERE actor = 'admin' ORDER BY id")
            )
        ).all()
    assert "get_therapist" in actions
    assert "update_therapist" in actions


@pytest.mark.parametrize("control", ["\r\n", "\n", "\r", "\t", "\x0b", "\x85", "\u2028", "\x1b"])
async def test_a_display_name_is_one_line_even_for_the_therapist_themself(make_therapist, control):
    therapist = await make_therapist()
    path = f"/api/therapists/{therapist.id}/"
    before = (await therapist.client.get(path)).json()
    name = f"Dr. Rivera{control}X-WR-CALNAME:Evil"
    response = await therapist.client.patch(path, json={"display_name": name})
    assert response.status_code == 400
    assert response.json() == {
        "display_name": [
            "Line breaks, tabs and other control characters are not allowed: "
            f"U+{ord(control[0]):04X}."
        ]
    }
    assert (await therapist.client.get(path)).json() == before


async def test_a_time_off_reason_is_one_line(make_therapist):
    therapist = await make_therapist()
    body = {
        "start": "2030-08-03T00:00:00+02:00",
        "end": "2030-08-04T00:00:00+02:00",
        "reason": "Leave\nBEGIN:VEVENT",
    }
    response = await therapist.client.post(f"/api/therapists/{therapist.id}/time_off/", json=body)
    assert response.status_code == 400
    assert list(response.json()) == ["reason"]


async def test_an_admin_sets_and_clears_the_npi_which_anyone_signed_in_reads(
    client, make_therapist, patient_client
):
    therapist = await make_therapist()
    _, patient = await patient_client()
    path = f"/api/therapists/{therapist.id}/"
    assert (await patient.get(path)).json()["npi"] is None

    set_npi = await client.patch(path, json={"npi": " 1003000126 "})

    assert set_npi.status_code == 200, set_npi.text
    assert set_npi.json()["npi"] == "1003000126"
    assert (await patient.get(path)).json()["npi"] == "1003000126"
    listed = (await patient.get("/api/therapists/")).json()["results"]
    assert [t["npi"] for t in listed] == ["1003000126"]
    renamed = await client.patch(path, json={"display_name": "Dr. N"})
    assert (renamed.json()["display_name"], renamed.json()["npi"]) == ("Dr. N", "1003000126")
    by_self = await therapist.client.patch(path, json={"npi": "1234567893"})
    assert by_self.status_code == 403
    by_self_clear = await therapist.client.patch(path, json={"display_name": "Me", "npi": None})
    assert by_self_clear.status_code == 403
    assert (await client.get(path)).json()["npi"] == "1003000126"
    cleared = await client.patch(path, json={"npi": None})
    assert (cleared.status_code, cleared.json()["npi"]) == (200, None)


@pytest.mark.parametrize(
    ("npi", "message"),
    [
        ("1003000127", "its last digit is not the check digit"),
        ("123456789", "10 digits"),
        ("10030001260", "10 digits"),
        ("100300012a", "10 digits"),
    ],
)
async def test_a_wrong_npi_is_a_400_on_the_field(client, make_therapist, npi, message):
    therapist = await make_therapist()

    response = await client.patch(f"/api/therapists/{therapist.id}/", json={"npi": npi})

    assert response.status_code == 400
    assert list(response.json()) == ["npi"]
    assert message in response.json()["npi"][0]
    assert (await client.get(f"/api/therapists/{therapist.id}/")).json()["npi"] is None
