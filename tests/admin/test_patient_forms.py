"""Detail page and forms: the API's schemas validate, errors sit next to their fields."""

import io
import re
from typing import Any

import pytest
from PIL import Image

from tests.admin.conftest import audit_rows, field_errors
from tests.factories import create_patient
from tests.mail.smtp import mail_text

pytestmark = pytest.mark.usefixtures("anonymous")

PHONE_RULE = "Phone number must be 9-15 digits, optionally starting with +."


def edit_form(patient: dict[str, Any], **changes: str) -> dict[str, str]:
    """The edit form as a browser submits it, with some fields changed."""
    form = {
        "first_name": patient["first_name"],
        "last_name": patient["last_name"],
        "date_of_birth": patient["date_of_birth"],
        "sex": patient["sex"],
        "ssn": patient["ssn"] or "",
        "phone_no": patient["phone_no"],
        "email": patient["email"] or "",
        "address": patient["address"] or "",
        "allergies_and_medication": patient["allergies_and_medication"],
        "added_note": patient["added_note"] or "",
        "about_note": patient["about_note"] or "",
        "tags": "\n".join(patient["tags"]),
        "password": "",
        "save": "Save",
    }
    form.update(changes)
    return form


async def test_the_detail_page_groups_the_fields(admin_login, client):
    patient = await create_patient(
        client, ssn="123-45-6789", email="jane@example.com", tags=["anxiety"]
    )
    staff = await admin_login("therapist")
    response = await staff.get(f"/admin/patient/details/{patient['id']}")
    assert response.status_code == 200
    html = response.text
    sections = re.findall(r'data-section="([a-z]+)"', html)
    assert sections == ["identity", "contact", "medical", "notes", "finance", "history"]
    for value in ("123-45-6789", "jane@example.com", "Penicillin", "anxiety", "0.00"):
        assert value in html
    details = html[html.index('id="patient-details"') :]  # not the menu's "Change password"
    assert "password" not in details.lower().replace("new password", "")
    assert 'id="patient-no-picture"' in html


async def test_the_edit_form_groups_the_fields(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    html = (await staff.get(f"/admin/patient/edit/{patient['id']}")).text
    groups = re.findall(r'data-group="([a-z]+)"', html)
    assert groups == ["identity", "contact", "medical", "notes", "login", "finance", "history"]
    assert 'id="phone_no"' in html
    assert f'value="{patient["phone_no"]}"' in html
    assert 'name="wallet_balance"' not in html  # the wallet is never edited in the form
    assert 'type="password" value=""' in html  # the password is never shown


async def test_an_invalid_phone_number_is_shown_next_to_the_field(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    response = await staff.post(
        f"/admin/patient/edit/{patient['id']}",
        data=edit_form(patient, phone_no="12-abc", first_name="Changed"),
    )
    assert response.status_code == 400
    assert field_errors(response.text, "phone_no") == [PHONE_RULE]
    assert field_errors(response.text, "first_name") == []
    assert 'class="form-control is-invalid" id="phone_no"' in response.text
    unchanged = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert unchanged == patient


async def test_every_rule_comes_from_the_api_schema(admin_login, client):
    patient = await create_patient(client)
    staff = await admin_login()
    response = await staff.post(
        f"/admin/patient/edit/{patient['id']}",
        data=edit_form(
            patient,
            first_name=" ",
            date_of_birth="2999-01-01",
            sex="X",
            ssn="123456789",
            email="not-an-email",
            about_note="x" * 251,
            tags="sad\nsad",
            password="short",
        ),
    )
    assert response.status_code == 400
    html = response.text
    assert field_errors(html, "first_name") == ["This field may not be blank."]
    assert field_errors(html, "date_of_birth") == ["Date of birth cannot be in the future."]
    assert field_errors(html, "sex") == ["Must be one of 'M', 'F', 'O' or 'P'."]
    assert field_errors(html, "ssn") == ["SSN must be in the format 123-45-6789."]
    assert field_errors(html, "email") == ["Enter a valid email address."]
    assert field_errors(html, "about_note") == [
        "Ensure this field has no more than 250 characters."
    ]
    assert field_errors(html, "tags") == ["Tags must be unique (after trimming)."]
    assert field_errors(html, "password") == ["Ensure this field has at least 8 characters."]
    assert (await client.get(f"/api/patients/{patient['id']}/")).json() == patient


async def test_a_valid_edit_is_saved_and_audited(admin_login, client, engine, login):
    patient = await create_patient(client, email="old@example.com", ssn="123-45-6789")
    staff = await admin_login("therapist", "rivera")
    response = await staff.post(
        f"/admin/patient/edit/{patient['id']}",
        data=edit_form(
            patient,
            first_name=" Janet ",
            phone_no="+15550001111",
            email="",
            ssn="",
            tags="anxiety\n sleep \n\n",
            password="a-new-password",
            wallet_balance="999.00",
        ),
    )
    assert response.status_code == 302, response.text
    saved = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert saved["first_name"] == "Janet"
    assert saved["phone_no"] == "+15550001111"
    assert saved["email"] is None
    assert saved["ssn"] is None
    assert saved["tags"] == ["anxiety", "sleep"]
    assert saved["wallet_balance"] == "0.00"  # not a form field: ignored
    assert await login(patient["id"], "a-new-password")
    rows = await audit_rows(engine, "admin_update_patient")
    assert [(r["actor"], r["patient_id"], r["outcome"]) for r in rows] == [
        ("rivera", patient["id"], "success")
    ]


async def test_a_blank_password_keeps_the_old_one(admin_login, client, login):
    patient = await create_patient(client, password="the-old-password")
    staff = await admin_login()
    response = await staff.post(
        f"/admin/patient/edit/{patient['id']}", data=edit_form(patient, last_name="Roe")
    )
    assert response.status_code == 302
    assert await login(patient["id"], "the-old-password")


async def test_a_taken_phone_number_is_shown_next_to_the_field(admin_login, client, engine):
    first = await create_patient(client)
    second = await create_patient(client)
    staff = await admin_login()
    national = first["phone_no"].removeprefix("+1")  # the same number, as the form compares it
    response = await staff.post(
        f"/admin/patient/edit/{second['id']}", data=edit_form(second, phone_no=national)
    )
    assert response.status_code == 400
    assert field_errors(response.text, "phone_no") == [
        f"Patient {first['id']} already has this phone number."
    ]
    assert (await client.get(f"/api/patients/{second['id']}/")).json() == second
    rows = await audit_rows(engine, "admin_update_patient")
    assert [(r["patient_id"], r["outcome"], r["status_code"]) for r in rows] == [
        (second["id"], "invalid", 400)
    ]


async def test_create_uses_the_create_schema(admin_login, client, engine):
    staff = await admin_login()
    form = {
        "id": "",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": "1990-12-10",
        "sex": "F",
        "phone_no": "+15551234567",
        "allergies_and_medication": "",
        "tags": "",
        "password": "",
        "save": "Save",
    }
    refused = await staff.post("/admin/patient/create", data=form)
    assert refused.status_code == 400
    assert field_errors(refused.text, "password") == ["This field is required."]
    created = await staff.post("/admin/patient/create", data={**form, "password": "ada-password"})
    assert created.status_code == 302, created.text
    page = (await client.get("/api/patients/", params={"name": "lovelace"})).json()
    assert page["count"] == 1
    assert page["results"][0]["allergies_and_medication"] == ""
    rows = await audit_rows(engine, "admin_create_patient")
    assert [(r["patient_id"], r["outcome"]) for r in rows] == [
        (None, "invalid"),
        (page["results"][0]["id"], "success"),
    ]
    bad_id = await staff.post(
        "/admin/patient/create",
        data={**form, "id": "P_NOPE", "password": "ada-password", "phone_no": "+15557654321"},
    )
    assert field_errors(bad_id.text, "id") == [
        'Patient id must be "p_" followed by 6 lowercase letters or digits.'
    ]


async def test_detail_reads_are_audited(admin_login, client, engine):
    patient = await create_patient(client)
    staff = await admin_login("therapist", "rivera")
    assert (await staff.get(f"/admin/patient/details/{patient['id']}")).status_code == 200
    assert (await staff.get(f"/admin/patient/edit/{patient['id']}")).status_code == 200
    assert (await staff.get("/admin/patient/details/p_zzzzzz")).status_code == 404
    rows = await audit_rows(engine, "admin_get_patient")
    assert [(r["actor"], r["patient_id"], r["outcome"]) for r in rows] == [
        ("rivera", patient["id"], "success"),
        ("rivera", patient["id"], "success"),
        ("rivera", "p_zzzzzz", "not_found"),
    ]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def test_the_picture_is_shown_in_the_detail_view(admin_login, client, anonymous, engine):
    patient = await create_patient(client)
    uploaded = await client.put(
        f"/api/patients/{patient['id']}/profile_picture/",
        files={"file": ("me.png", png(), "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    staff = await admin_login("therapist", "rivera")
    html = (await staff.get(f"/admin/patient/details/{patient['id']}")).text
    match = re.search(r'<img id="patient-picture" src="([^"]+)"', html)
    assert match is not None
    assert match.group(1) == f"http://testserver/admin/patient/picture/{patient['id']}"
    image = await staff.get(match.group(1))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (32, 24)
    assert "no-store" in image.headers["cache-control"]
    assert (await anonymous.get(match.group(1))).status_code == 302  # login first
    assert (await staff.get("/admin/patient/picture/p_zzzzzz")).status_code == 404
    rows = await audit_rows(engine, "admin_get_picture")
    assert [(r["patient_id"], r["outcome"]) for r in rows] == [
        (patient["id"], "success"),
        ("p_zzzzzz", "not_found"),
    ]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/patient/details/%00", 404),
        ("/admin/patient/edit/%00", 404),
        ("/admin/patient/details/p_zzzzzz", 404),
        ("/admin/patient/picture/..%2F..%2Fetc%2Fpasswd", 404),
        ("/admin/audit-event/details/abc", 404),
        ("/admin/audit-event/details/99999999999999999999999", 404),
        ("/admin/patient/export/csv", 403),  # export is off: a list of PHI in one file
        ("/admin/audit-event/export/json", 403),
    ],
)
async def test_bad_urls_are_not_server_errors(admin_login, path, status):
    staff = await admin_login()
    response = await staff.get(path)
    assert response.status_code == status, response.text


async def test_files_named_by_text_columns_are_never_served(admin_login, client):
    # sqladmin serves the file a column names; a patient's address could name any file.
    patient = await create_patient(client, address="pyproject.toml")
    staff = await admin_login()
    for route in ("download", "preview"):
        response = await staff.get(f"/admin/patient/{patient['id']}/address/{route}/")
        assert response.status_code == 404
        assert "[project]" not in response.text


async def test_a_password_set_in_the_admin_is_announced_to_the_patient(
    admin_login, client, app_inbox
):
    """Issue 22: the admin's edit form is one more way staff set a patient's password."""
    patient = await create_patient(client, email="jane.announce@example.com")
    staff = await admin_login("therapist")
    unchanged = await staff.post(
        f"/admin/patient/edit/{patient['id']}", data=edit_form(patient, first_name="Janet")
    )
    assert unchanged.status_code == 302, unchanged.text
    assert app_inbox.messages == []
    response = await staff.post(
        f"/admin/patient/edit/{patient['id']}",
        data=edit_form(patient, password="a-new-password"),
    )
    assert response.status_code == 302, response.text
    [mail] = app_inbox.messages
    assert app_inbox.recipients == [["jane.announce@example.com"]]
    assert mail["Subject"] == "Your TherapyConnect password was changed"
    assert "by a member of the practice's staff" in mail_text(mail)
    assert "a-new-password" not in mail.as_string()
