"""Every field rule of API.md's Patient resource, at its boundaries, through POST, PUT and PATCH.

Also the shape of a patient in a response and of every validation error.
"""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.contract import BAD_PHONE, BLANK, NUL_CHARS, NULL, REQUIRED, RESOURCE_FIELDS
from tests.factories import create_patient, patient_payload, unique_phone

URL = "/api/patients/"
METHODS = ["POST", "PUT", "PATCH"]
UPDATES = ["PUT", "PATCH"]


CREATE_REQUIRED = [
    "password",
    "first_name",
    "last_name",
    "phone_no",
    "allergies_and_medication",
    "date_of_birth",
    "sex",
]
REPLACE_REQUIRED = [f for f in CREATE_REQUIRED if f != "password"]
OPTIONAL_VALUES = {
    "ssn": "123-45-6789",
    "email": "jane@example.com",
    "address": "1 Main St, Springfield",
    "added_note": "Prefers mornings.",
    "about_note": "Runner.",
    "tags": ["anxiety", "grief"],
}

PATIENT_ID = re.compile(r"p_[a-z0-9]{6}")
UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)")
EMAIL_254 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
EMAIL_255 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"

# What an error message must never look like: pydantic's wording, a traceback, SQL.
NOT_FOR_CLIENTS = re.compile(
    r"Input should|Value error|String should|pydantic|type=|Traceback|asyncpg|sqlalchemy"
    r"|violates|constraint|INSERT INTO|UPDATE patients|SELECT ",
    re.I,
)

MISSING = object()


def detail(patient_id: str) -> str:
    return f"{URL}{patient_id}/"


def today() -> date:
    return datetime.now(UTC).date()


async def write(client: httpx.AsyncClient, method: str, **fields: Any) -> httpx.Response:
    """POST a new patient, or PUT/PATCH an existing one, with these fields (MISSING drops one).

    POST and PUT send a full valid body with the fields replaced (PUT without a password unless
    one is given); PATCH sends only the fields.
    """
    if method == "POST":
        body = patient_payload(**fields)
    else:
        patient = await create_patient(client)
        if method == "PUT":
            body = {k: v for k, v in patient_payload(**fields).items() if k != "password"}
            if "password" in fields:
                body["password"] = fields["password"]
        else:
            body = dict(fields)
    body = {k: v for k, v in body.items() if v is not MISSING}
    if method == "POST":
        return await client.post(URL, json=body)
    return await client.request(method, detail(patient["id"]), json=body)


async def assert_saved(
    client: httpx.AsyncClient, response: httpx.Response, method: str, field: str, stored: Any
) -> dict[str, Any]:
    """The write succeeded, answered the value as stored, and reading it back agrees."""
    assert response.status_code == (201 if method == "POST" else 200), response.text
    body: dict[str, Any] = response.json()
    assert body[field] == stored
    again = await client.get(detail(body["id"]))
    assert again.json()[field] == stored
    return body


def assert_error_shape(body: Any) -> None:
    """`{"field": ["message", ...]}`: a dict of non-empty lists of plain-English strings."""
    assert isinstance(body, dict)
    assert body
    for field, messages in body.items():
        assert isinstance(field, str)
        assert isinstance(messages, list)
        assert messages
        for message in messages:
            assert isinstance(message, str)
            assert message.strip()
            assert not NOT_FOR_CLIENTS.search(message), message


def field_errors(response: httpx.Response, *fields: str) -> dict[str, list[str]]:
    """A 400 whose errors are on exactly these fields."""
    assert response.status_code == 400, response.text
    body: dict[str, list[str]] = response.json()
    assert_error_shape(body)
    assert set(body) == set(fields)
    return body


def assert_iso_utc(value: str) -> None:
    assert UTC_TIMESTAMP.fullmatch(value), value
    assert datetime.fromisoformat(value).utcoffset() == timedelta(0)


# --- the patient in a response --------------------------------------------------------------


async def test_created_patient_has_every_field_with_its_defaults(client):
    response = await client.post(URL, json=patient_payload(phone_no="+14155550100"))
    assert response.status_code == 201, response.text
    patient = response.json()
    assert set(patient) == RESOURCE_FIELDS
    assert PATIENT_ID.fullmatch(patient["id"])
    assert patient["first_name"] == "Jane"
    assert patient["last_name"] == "Doe"
    assert patient["phone_no"] == "+14155550100"
    assert patient["allergies_and_medication"] == "Penicillin"
    assert patient["date_of_birth"] == "1990-05-17"
    assert patient["sex"] == "F"
    for optional in ("ssn", "email", "address", "added_note", "about_note", "profile_picture"):
        assert patient[optional] is None
    assert patient["tags"] == []
    assert patient["sessions"] == []
    assert patient["wallet_balance"] == "0.00"
    assert_iso_utc(patient["created_at"])
    assert_iso_utc(patient["updated_at"])
    assert patient["updated_at"] >= patient["created_at"]


async def test_every_read_and_write_shows_the_same_fields(client):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    assert patient["tags"] == ["anxiety", "grief"]
    responses = [
        await client.get(detail(patient["id"])),
        await client.put(detail(patient["id"]), json=patient_payload()),
        await client.patch(detail(patient["id"]), json={"about_note": "Cyclist."}),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert set(response.json()) == RESOURCE_FIELDS
        assert response.json()["wallet_balance"] == "0.00"
    listing = await client.get(URL)
    assert listing.status_code == 200
    (listed,) = listing.json()["results"]
    assert set(listed) == RESOURCE_FIELDS
    assert isinstance(listed["tags"], list)
    assert isinstance(listed["sessions"], list)
    assert_iso_utc(listed["created_at"])
    assert_iso_utc(listed["updated_at"])


# --- id -------------------------------------------------------------------------------------


async def test_generated_ids_match_the_pattern_and_differ(client):
    ids = [(await create_patient(client))["id"] for _ in range(10)]
    assert all(PATIENT_ID.fullmatch(patient_id) for patient_id in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("value", ["p_abc123", "p_000000", "p_zzzzzz"])
async def test_create_with_a_chosen_id(client, value):
    response = await client.post(URL, json=patient_payload(id=value))
    await assert_saved(client, response, "POST", "id", value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("p_ABC123", id="uppercase"),
        pytest.param("P_abc123", id="uppercase-prefix"),
        pytest.param("p_abc12", id="5-chars"),
        pytest.param("p_abc1234", id="7-chars"),
        pytest.param("x_abc123", id="wrong-prefix"),
        pytest.param("p-abc123", id="dash"),
        pytest.param("abc123", id="no-prefix"),
        pytest.param("p_abc-12", id="punctuation"),
        pytest.param("p_abc123\n", id="trailing-newline"),
        pytest.param("", id="empty"),
        pytest.param(123456, id="number"),
    ],
)
async def test_create_rejects_a_malformed_id(client, value):
    field_errors(await client.post(URL, json=patient_payload(id=value)), "id")
    assert (await client.get(URL)).json()["count"] == 0


async def test_create_rejects_a_null_id(client):
    response = await client.post(URL, json=patient_payload(id=None))
    assert field_errors(response, "id") == {"id": [NULL]}


async def test_duplicate_id_is_a_400_on_id_that_shows_nothing_of_the_other_patient(client):
    first = await create_patient(
        client, id="p_abc123", first_name="Zebediah", ssn="987-65-4321", email="zeb@example.com"
    )
    response = await client.post(URL, json=patient_payload(id="p_abc123"))
    errors = field_errors(response, "id")
    assert "already exists" in errors["id"][0]
    for private in ("Zebediah", "987-65-4321", "zeb@example.com", first["phone_no"]):
        assert private not in response.text
    assert (await client.get(detail("p_abc123"))).json() == first


@pytest.mark.parametrize("method", UPDATES)
async def test_id_in_an_update_body_is_ignored(client, method):
    patient = await create_patient(client)
    body = {"id": "p_zzzzzz"} if method == "PATCH" else patient_payload(id="p_zzzzzz")
    response = await client.request(method, detail(patient["id"]), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == patient["id"]
    assert (await client.get(detail(patient["id"]))).status_code == 200
    assert (await client.get(detail("p_zzzzzz"))).status_code == 404


# --- password -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("length", [8, 64])
async def test_password_of_8_to_64_characters_is_accepted_and_never_shown(client, method, length):
    password = ("Pw-" + "x" * 64)[:length]
    response = await write(client, method, password=password)
    assert response.status_code == (201 if method == "POST" else 200), response.text
    assert set(response.json()) == RESOURCE_FIELDS
    assert password not in response.text
    assert "password" not in response.text


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Pw-" + "x" * 4, "Ensure this field has at least 8 characters."),
        ("Pw-" + "x" * 62, "Ensure this field has no more than 64 characters."),
        ("", None),
        ("Pw-xx\x00xxxx", NUL_CHARS),
        (None, NULL),
        (12345678, None),
    ],
    ids=["7", "65", "empty", "nul", "null", "number"],
)
async def test_password_outside_the_rules_is_rejected(client, method, password, message):
    response = await write(client, method, password=password)
    errors = field_errors(response, "password")
    if message is not None:
        assert errors == {"password": [message]}
    if isinstance(password, str) and password:
        assert password not in response.text


async def test_password_is_required_on_create(client):
    body = patient_payload()
    del body["password"]
    response = await client.post(URL, json=body)
    assert field_errors(response, "password") == {"password": [REQUIRED]}


@pytest.mark.parametrize("method", UPDATES)
async def test_password_is_optional_on_update(client, method):
    patient = await create_patient(client)
    body = {"first_name": "Ann"} if method == "PATCH" else patient_payload(first_name="Ann")
    body.pop("password", None)
    response = await client.request(method, detail(patient["id"]), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Ann"


# --- first_name, last_name ------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("J", "J"),
        ("J" * 100, "J" * 100),
        ("  Jane \t", "Jane"),
        ("  " + "J" * 100 + "  ", "J" * 100),
    ],
    ids=["1", "100", "trimmed", "100-after-trim"],
)
async def test_name_accepted(client, method, field, value, stored):
    await assert_saved(client, await write(client, method, **{field: value}), method, field, stored)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", BLANK),
        ("   ", BLANK),
        ("\t\n ", BLANK),
        ("J" * 101, "Ensure this field has no more than 100 characters."),
        (None, NULL),
        (True, None),
        ({"name": "Jane"}, None),
    ],
    ids=["0", "spaces", "whitespace", "101", "null", "bool", "object"],
)
async def test_name_rejected(client, method, field, value, message):
    errors = field_errors(await write(client, method, **{field: value}), field)
    if message is not None:
        assert errors == {field: [message]}


# --- phone_no -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2" * 9, "+" + "2" * 9),
        ("2" * 15, "+" + "2" * 15),
        ("+" + "2" * 9, "+" + "2" * 9),
        ("+" + "2" * 15, "+" + "2" * 15),
        ("  +224155550123 ", "+224155550123"),
    ],
    ids=["9", "15", "plus-9", "plus-15", "trimmed"],
)
async def test_phone_accepted(client, method, value, stored):
    await assert_saved(
        client, await write(client, method, phone_no=value), method, "phone_no", stored
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2" * 8, BAD_PHONE),
        ("2" * 16, BAD_PHONE),
        ("+" + "2" * 8, BAD_PHONE),
        ("+" + "2" * 16, BAD_PHONE),
        ("++24155550123", BAD_PHONE),
        ("2415555012+", BAD_PHONE),
        ("415-555-0123", BAD_PHONE),
        ("(415) 5550123", BAD_PHONE),
        ("415 555 0123", BAD_PHONE),
        ("41555501x3", BAD_PHONE),
        ("\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12", BAD_PHONE),
        ("", BLANK),
        (None, NULL),
        (True, None),
    ],
    ids=[
        "8",
        "16",
        "plus-8",
        "plus-16",
        "double-plus",
        "trailing-plus",
        "dashes",
        "brackets",
        "spaces",
        "letter",
        "fullwidth-digits",
        "empty",
        "null",
        "bool",
    ],
)
async def test_phone_rejected(client, method, value, message):
    errors = field_errors(await write(client, method, phone_no=value), "phone_no")
    if message is not None:
        assert errors == {"phone_no": [message]}


def assert_reveals_nothing_of(
    response: httpx.Response, other: dict[str, Any], *, to_staff: bool = False
) -> None:
    """Nothing of the other patient; staff are told their id (to find or restore them)."""
    fields = ("first_name", "last_name", "ssn", "email", "allergies_and_medication")
    for field in fields if to_staff else ("id", *fields):
        assert other[field] not in response.text, field


async def other_patient(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_patient(
        client,
        first_name="Zebediah",
        last_name="Quimby",
        ssn="987-65-4321",
        email="zeb@example.com",
        allergies_and_medication="Lithium 300mg",
    )


@pytest.mark.parametrize("spacing", ["", "  "])
async def test_duplicate_phone_on_create_is_a_400_on_phone_no(client, spacing):
    other = await other_patient(client)
    response = await client.post(
        URL, json=patient_payload(phone_no=f"{spacing}{other['phone_no']}{spacing}")
    )
    errors = field_errors(response, "phone_no")
    assert errors["phone_no"] == [f"Patient {other['id']} already has this phone number."]
    assert_reveals_nothing_of(response, other, to_staff=True)
    assert (await client.get(URL)).json()["count"] == 1


@pytest.mark.parametrize("method", UPDATES)
async def test_duplicate_phone_on_update_is_a_400_that_changes_nothing(client, method):
    other = await other_patient(client)
    patient = await create_patient(client)
    body = patient_payload(phone_no=other["phone_no"], first_name="Changed")
    if method == "PATCH":
        body = {"phone_no": other["phone_no"], "first_name": "Changed"}
    response = await client.request(method, detail(patient["id"]), json=body)
    errors = field_errors(response, "phone_no")
    assert errors["phone_no"] == [f"Patient {other['id']} already has this phone number."]
    assert_reveals_nothing_of(response, other, to_staff=True)
    assert (await client.get(detail(patient["id"]))).json() == patient


async def test_keeping_ones_own_phone_is_not_a_duplicate(client):
    patient = await create_patient(client)
    response = await client.patch(detail(patient["id"]), json={"phone_no": patient["phone_no"]})
    assert response.status_code == 200, response.text
    response = await client.put(
        detail(patient["id"]), json=patient_payload(phone_no=patient["phone_no"])
    )
    assert response.status_code == 200, response.text


async def test_a_phone_given_up_can_be_taken(client):
    first = await create_patient(client)
    second = await create_patient(client)
    moved = await client.patch(detail(first["id"]), json={"phone_no": unique_phone()})
    assert moved.status_code == 200
    taken = await client.patch(detail(second["id"]), json={"phone_no": first["phone_no"]})
    assert taken.status_code == 200, taken.text
    assert taken.json()["phone_no"] == first["phone_no"]


# --- allergies_and_medication ---------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "stored"),
    [("", ""), ("   ", ""), ("x" * 5000, "x" * 5000), (" Penicillin\n", "Penicillin")],
    ids=["empty", "whitespace", "5000", "trimmed"],
)
async def test_medical_text_accepted(client, method, value, stored):
    response = await write(client, method, allergies_and_medication=value)
    await assert_saved(client, response, method, "allergies_and_medication", stored)


@pytest.mark.parametrize("method", METHODS)
async def test_medical_text_of_5001_characters_is_rejected_without_quoting_it(client, method):
    text = ("Sertraline 50mg daily. " * 218)[:5001]
    response = await write(client, method, allergies_and_medication=text)
    errors = field_errors(response, "allergies_and_medication")
    assert errors == {
        "allergies_and_medication": ["Ensure this field has no more than 5000 characters."]
    }
    assert "Sertraline" not in response.text


# --- date_of_birth --------------------------------------------------------------------------


def resolve(value: Any) -> Any:
    offsets = {"today": 0, "yesterday": -1, "tomorrow": 1}
    if value in offsets:
        return (today() + timedelta(days=offsets[value])).isoformat()
    return value


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", ["today", "yesterday", "1900-01-01", "2000-02-29"])
async def test_birth_date_accepted(client, method, value):
    value = resolve(value)
    response = await write(client, method, date_of_birth=value)
    await assert_saved(client, response, method, "date_of_birth", value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "value",
    [
        "tomorrow",
        "9999-12-31",
        "1899-12-31",
        "0001-01-01",
        "2021-02-30",
        "2023-02-29",
        "2021-04-31",
        "2021-13-01",
        "2021-00-10",
        "17/05/1990",
        "1990/05/17",
        "19900517",
        "1990-05-17T00:00:00",
        "May 17, 1990",
        "",
        19900517,
    ],
)
async def test_birth_date_rejected(client, method, value):
    field_errors(await write(client, method, date_of_birth=resolve(value)), "date_of_birth")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "rule"),
    [("tomorrow", "future"), ("1899-12-31", "1900"), ("17/05/1990", "YYYY-MM-DD")],
)
async def test_birth_date_messages_name_the_rule(client, method, value, rule):
    response = await write(client, method, date_of_birth=resolve(value))
    (message,) = field_errors(response, "date_of_birth")["date_of_birth"]
    assert rule in message


# --- sex ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", ["M", "F", "O", "P"])
async def test_sex_accepted(client, method, value):
    await assert_saved(client, await write(client, method, sex=value), method, "sex", value)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", ["m", "f", "o", "p", "X", "", " M", "MALE", 1, None])
async def test_sex_rejected(client, method, value):
    errors = field_errors(await write(client, method, sex=value), "sex")
    if value is None:
        assert errors == {"sex": [NULL]}


# --- ssn ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "stored"),
    [("123-45-6789", "123-45-6789"), (" 000-00-0000 ", "000-00-0000")],
    ids=["valid", "trimmed"],
)
async def test_ssn_accepted(client, method, value, stored):
    await assert_saved(client, await write(client, method, ssn=value), method, "ssn", stored)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "value",
    [
        "987654321",
        "987-65-432",
        "987-65-43210",
        "9876-5-4321",
        "987-654-321",
        "987 65 4321",
        "abc-de-fghi",
        "\uff19\uff18\uff17-65-4321",
        "",
        "   ",
        987654321,
    ],
)
async def test_ssn_rejected_without_quoting_it(client, method, value):
    response = await write(client, method, ssn=value)
    field_errors(response, "ssn")
    if str(value).strip():
        assert str(value) not in response.text


# --- email ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("jane@example.com", "jane@example.com"),
        ("jane.doe+therapy@mail.example.co.uk", "jane.doe+therapy@mail.example.co.uk"),
        (" jane@example.com ", "jane@example.com"),
        (EMAIL_254, EMAIL_254),
    ],
    ids=["simple", "plus-subdomain", "trimmed", "254"],
)
async def test_email_accepted(client, method, value, stored):
    await assert_saved(client, await write(client, method, email=value), method, "email", stored)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "value",
    [
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane doe@example.com",
        "jane..doe@example.com",
        "",
        "   ",
        EMAIL_255,
        42,
    ],
    ids=[
        "no-at",
        "no-domain",
        "no-local",
        "double-at",
        "space",
        "double-dot",
        "empty",
        "whitespace",
        "255",
        "number",
    ],
)
async def test_email_rejected(client, method, value):
    field_errors(await write(client, method, email=value), "email")


# --- address, added_note, about_note and the other free text --------------------------------

FREE_TEXT_LIMITS = [("address", 500), ("added_note", 500), ("about_note", 250)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("field", "limit"), FREE_TEXT_LIMITS)
async def test_free_text_at_its_limit_is_accepted(client, method, field, limit):
    response = await write(client, method, **{field: "x" * limit})
    await assert_saved(client, response, method, field, "x" * limit)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("field", "limit"), FREE_TEXT_LIMITS)
async def test_free_text_past_its_limit_is_rejected(client, method, field, limit):
    response = await write(client, method, **{field: "x" * (limit + 1)})
    assert field_errors(response, field) == {
        field: [f"Ensure this field has no more than {limit} characters."]
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "field", ["allergies_and_medication", "address", "added_note", "about_note"]
)
async def test_free_text_may_be_an_empty_string(client, method, field):
    await assert_saved(client, await write(client, method, **{field: ""}), method, field, "")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", ["ssn", "email"])
async def test_ssn_and_email_may_not_be_an_empty_string(client, method, field):
    field_errors(await write(client, method, **{field: ""}), field)


# --- null -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", UPDATES)
@pytest.mark.parametrize("field", ["ssn", "email", "address", "added_note", "about_note"])
async def test_null_clears_an_optional_field(client, method, field):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    assert patient[field] is not None
    body = {field: None} if method == "PATCH" else patient_payload(**{field: None})
    response = await client.request(method, detail(patient["id"]), json=body)
    await assert_saved(client, response, method, field, None)


@pytest.mark.parametrize("field", ["ssn", "email", "address", "added_note", "about_note"])
async def test_null_is_accepted_for_an_optional_field_on_create(client, field):
    response = await client.post(URL, json=patient_payload(**{field: None}))
    await assert_saved(client, response, "POST", field, None)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", [*REPLACE_REQUIRED, "tags"])
async def test_null_on_a_required_field_is_rejected(client, method, field):
    response = await write(client, method, **{field: None})
    assert field_errors(response, field) == {field: [NULL]}


async def test_null_password_on_create_is_rejected(client):
    response = await client.post(URL, json=patient_payload(password=None))
    assert field_errors(response, "password") == {"password": [NULL]}


# --- required fields ------------------------------------------------------------------------


@pytest.mark.parametrize("field", CREATE_REQUIRED)
async def test_create_without_a_required_field(client, field):
    response = await write(client, "POST", **{field: MISSING})
    assert field_errors(response, field) == {field: [REQUIRED]}


@pytest.mark.parametrize("field", REPLACE_REQUIRED)
async def test_put_without_a_required_field(client, field):
    patient = await create_patient(client)
    body = patient_payload()
    del body[field]
    response = await client.put(detail(patient["id"]), json=body)
    assert field_errors(response, field) == {field: [REQUIRED]}
    assert (await client.get(detail(patient["id"]))).json() == patient


async def test_create_with_several_missing_fields_reports_each(client):
    response = await client.post(URL, json={"first_name": "Jane", "nickname": "JD"})
    errors = field_errors(response, *(f for f in CREATE_REQUIRED if f != "first_name"))
    assert all(messages == [REQUIRED] for messages in errors.values())


async def test_errors_on_several_fields_are_reported_together(client):
    response = await client.post(
        URL, json=patient_payload(first_name="", sex="x", ssn="1", email="no", tags=[""])
    )
    field_errors(response, "first_name", "sex", "ssn", "email", "tags")


# --- PUT and PATCH --------------------------------------------------------------------------


async def test_put_replaces_every_field_it_is_given(client):
    patient = await create_patient(client)
    body = patient_payload(
        first_name="Ann",
        last_name="Lee",
        allergies_and_medication="",
        date_of_birth="1985-01-02",
        sex="O",
        **OPTIONAL_VALUES,
    )
    response = await client.put(detail(patient["id"]), json=body)
    assert response.status_code == 200, response.text
    shown = response.json()
    expected = {k: v for k, v in body.items() if k != "password"}
    assert {k: shown[k] for k in expected} == expected
    assert (await client.get(detail(patient["id"]))).json() == shown


async def test_put_leaves_omitted_optional_fields_unchanged(client):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    body = patient_payload(first_name="Ann")
    del body["password"]
    response = await client.put(detail(patient["id"]), json=body)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["first_name"] == "Ann"
    assert {k: shown[k] for k in OPTIONAL_VALUES} == OPTIONAL_VALUES


PATCHES = {
    "first_name": "Ann",
    "last_name": "Lee",
    "phone_no": "+449876543210",
    "allergies_and_medication": "None known",
    "date_of_birth": "1985-01-02",
    "sex": "P",
    "ssn": "111-22-3333",
    "email": "ann@example.org",
    "address": "2 High St",
    "added_note": "Call first.",
    "about_note": "Swimmer.",
    "tags": ["sleep"],
}


@pytest.mark.parametrize("field", list(PATCHES))
async def test_patch_changes_only_the_field_sent(client, field):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    response = await client.patch(detail(patient["id"]), json={field: PATCHES[field]})
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown[field] == PATCHES[field]
    unchanged = RESOURCE_FIELDS - {field, "updated_at"}
    assert {k: shown[k] for k in unchanged} == {k: patient[k] for k in unchanged}


async def test_patch_with_several_fields(client):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    changes: dict[str, Any] = {
        "first_name": "Ann",
        "ssn": None,
        "tags": [],
        "password": "new-password-1",
    }
    response = await client.patch(detail(patient["id"]), json=changes)
    assert response.status_code == 200, response.text
    shown = response.json()
    assert (shown["first_name"], shown["ssn"], shown["tags"]) == ("Ann", None, [])
    assert shown["email"] == OPTIONAL_VALUES["email"]
    assert "password" not in shown
    assert "new-password-1" not in response.text


async def test_patch_with_an_empty_object_changes_nothing(client):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    response = await client.patch(detail(patient["id"]), json={})
    assert response.status_code == 200, response.text
    unchanged = RESOURCE_FIELDS - {"updated_at"}
    assert {k: response.json()[k] for k in unchanged} == {k: patient[k] for k in unchanged}


async def test_a_rejected_patch_changes_nothing(client):
    patient = await create_patient(client, **OPTIONAL_VALUES)
    response = await client.patch(detail(patient["id"]), json={"first_name": "Ann", "sex": "x"})
    field_errors(response, "sex")
    assert (await client.get(detail(patient["id"]))).json() == patient


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ([], []),
        (["  anxiety ", "\tgrief\n"], ["anxiety", "grief"]),
        (["x"], ["x"]),
        (["x" * 50], ["x" * 50]),
        ([" " + "x" * 50 + " "], ["x" * 50]),
        (["anxiety", "Anxiety"], ["anxiety", "Anxiety"]),
        ([f"tag-{i}" for i in range(50)], [f"tag-{i}" for i in range(50)]),
    ],
    ids=["none", "trimmed", "1-char", "50-chars", "50-after-trim", "case-differs", "50-tags"],
)
async def test_tags_accepted(client, method, value, stored):
    await assert_saved(client, await write(client, method, tags=value), method, "tags", stored)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param([""], id="empty-tag"),
        pytest.param(["   "], id="blank-tag"),
        pytest.param(["x" * 51], id="51-chars"),
        pytest.param(["anxiety", "anxiety"], id="duplicate"),
        pytest.param(["anxiety", " anxiety\t"], id="duplicate-after-trim"),
        pytest.param([f"tag-{i}" for i in range(51)], id="51-tags"),
        pytest.param(["ok", None], id="null-item"),
        pytest.param(["ok", 5], id="number-item"),
        pytest.param(["ok", True], id="bool-item"),
        pytest.param(["ok", ["nested"]], id="list-item"),
        pytest.param(["ok", {"tag": "x"}], id="object-item"),
        pytest.param("anxiety", id="string-not-list"),
        pytest.param({"anxiety": True}, id="object-not-list"),
    ],
)
async def test_tags_rejected(client, method, value):
    field_errors(await write(client, method, tags=value), "tags")


@pytest.mark.parametrize("method", METHODS)
async def test_51_tags_message(client, method):
    response = await write(client, method, tags=[f"tag-{i}" for i in range(51)])
    assert field_errors(response, "tags") == {
        "tags": ["Ensure this field has no more than 50 elements."]
    }


# --- read-only and unknown fields -----------------------------------------------------------

READ_ONLY_BODIES = [
    pytest.param(
        {
            "wallet_balance": "5000.00",
            "sessions": [{"date": "2024-05-01T14:30:00Z", "notes": "x"}],
            "profile_picture": "http://evil.example/x.png",
            "created_at": "2000-01-01T00:00:00Z",
            "updated_at": "2000-01-01T00:00:00Z",
        },
        id="well-formed",
    ),
    pytest.param(
        {
            "wallet_balance": "lots",
            "sessions": "none",
            "profile_picture": 5,
            "created_at": "yesterday",
            "updated_at": None,
        },
        id="malformed",
    ),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("read_only", READ_ONLY_BODIES)
async def test_read_only_fields_in_a_write_body_are_ignored(client, method, read_only):
    response = await write(client, method, **read_only)
    assert response.status_code == (201 if method == "POST" else 200), response.text
    shown = response.json()
    assert shown["wallet_balance"] == "0.00"
    assert shown["sessions"] == []
    assert shown["profile_picture"] is None
    assert not shown["created_at"].startswith("2000-")
    assert not shown["updated_at"].startswith("2000-")
    assert (await client.get(detail(shown["id"]))).json() == shown


@pytest.mark.parametrize("method", METHODS)
async def test_unknown_fields_are_ignored(client, method):
    unknown = {"is_staff": True, "password_hash": "x", "nickname": "JD", "role": "admin"}
    response = await write(client, method, **unknown)
    assert response.status_code == (201 if method == "POST" else 200), response.text
    assert set(response.json()) == RESOURCE_FIELDS


# --- NUL characters -------------------------------------------------------------------------

NUL_VALUES = {
    "first_name": "Ja\x00ne",
    "last_name": "Do\x00e",
    "phone_no": "+1415\x005550100",
    "allergies_and_medication": "Peni\x00cillin",
    "date_of_birth": "1990-05-17\x00",
    "sex": "F\x00",
    "ssn": "123-45-6789\x00",
    "email": "jane\x00@example.com",
    "address": "1 Main\x00 St",
    "added_note": "\x00",
    "about_note": "run\x00ner",
    "tags": ["anx\x00iety"],
    "password": "correct\x00horse",
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("field", list(NUL_VALUES))
async def test_nul_characters_are_rejected(client, method, field):
    response = await write(client, method, **{field: NUL_VALUES[field]})
    field_errors(response, field)


async def test_nul_in_a_chosen_id_is_rejected(client):
    field_errors(await client.post(URL, json=patient_payload(id="p_abc12\x00")), "id")


# --- bodies that are not a JSON object ------------------------------------------------------


async def request(
    client: httpx.AsyncClient, method: str, *, content: bytes, content_type: str | None
) -> httpx.Response:
    url = URL
    if method != "POST":
        url = detail((await create_patient(client))["id"])
    headers = {"Content-Type": content_type} if content_type else {}
    return await client.request(method, url, content=content, headers=headers)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "content",
    [b"[]", b'[{"first_name": "Jane"}]', b'"Jane"', b"5", b"true", b"null"],
    ids=["empty-list", "list", "string", "number", "bool", "null"],
)
async def test_a_body_that_is_not_an_object_is_a_non_field_error(client, method, content):
    response = await request(client, method, content=content, content_type="application/json")
    field_errors(response, "non_field_errors")


@pytest.mark.parametrize("method", METHODS)
async def test_a_list_body_says_a_dictionary_was_expected(client, method):
    response = await request(client, method, content=b"[]", content_type="application/json")
    (message,) = field_errors(response, "non_field_errors")["non_field_errors"]
    assert "Expected a dictionary" in message


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_an_empty_json_body_is_an_empty_object(client, method):
    # DRF parses an empty body as {}: every required field is then missing.
    response = await request(client, method, content=b"", content_type="application/json")
    required = CREATE_REQUIRED if method == "POST" else REPLACE_REQUIRED
    assert field_errors(response, *required) == {field: [REQUIRED] for field in required}


async def test_an_empty_patch_body_changes_nothing(client):
    patient = await create_patient(client)
    response = await client.patch(
        detail(patient["id"]), content=b"", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == patient["first_name"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "content",
    [
        b'{"first_name": "Jane",',
        b"{'first_name': 'Jane'}",
        b'{"first_name": "Jane"} trailing',
        b"{first_name: Jane}",
        b'{"ssn": "987-65-4321"',
        b'{"first_name": "\xff\xfe"}',
    ],
    ids=["truncated", "single-quotes", "trailing", "unquoted", "truncated-with-ssn", "not-utf8"],
)
async def test_malformed_json_is_a_parse_error(client, method, content):
    response = await request(client, method, content=content, content_type="application/json")
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert body["detail"].startswith("JSON parse error - ")
    assert "987-65-4321" not in response.text


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"first_name=Jane&last_name=Doe", "application/x-www-form-urlencoded"),
        (b'{"first_name": "Jane"}', "text/plain"),
        (b"<patient/>", "application/xml"),
        (
            b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
        ),
        (b'{"first_name": "Jane"}', None),
    ],
    ids=["form", "text", "xml", "multipart", "none"],
)
async def test_a_body_that_is_not_json_is_415(client, method, content, content_type):
    response = await request(client, method, content=content, content_type=content_type)
    assert response.status_code == 415, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str)
    assert body["detail"]


# --- no patient data in error bodies --------------------------------------------------------

SECRETS = {
    "ssn": "987-65-4321",
    "password": "Hunter2-Very-Secret",
    "allergies_and_medication": "Clozapine 200mg nightly",
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "invalid",
    [
        pytest.param({"sex": "x"}, id="other-field-invalid"),
        pytest.param({"first_name": None}, id="other-field-null"),
        pytest.param({"tags": [1]}, id="bad-tag"),
    ],
)
async def test_an_error_never_quotes_the_secrets_sent_with_it(client, method, invalid):
    response = await write(client, method, **SECRETS, **invalid)
    field_errors(response, *invalid)
    for secret in SECRETS.values():
        assert secret not in response.text


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("field", "value", "quoted"),
    [
        ("ssn", "987-65-43219", "987-65-4321"),
        ("ssn", "987654321", "987654321"),
        ("ssn", 987654321, "987654321"),
        ("password", "Hunter2", "Hunter2"),
        ("password", "Hunter2-" + "s" * 60, "Hunter2-"),
        ("password", "Hunter2\x00Secret", "Hunter2"),
        ("allergies_and_medication", "Clozapine " * 501, "Clozapine"),
        ("allergies_and_medication", "Clozapine\x00", "Clozapine"),
        ("allergies_and_medication", ["Clozapine"], "Clozapine"),
    ],
    ids=[
        "ssn-long",
        "ssn-no-dashes",
        "ssn-number",
        "password-short",
        "password-long",
        "password-nul",
        "medical-long",
        "medical-nul",
        "medical-list",
    ],
)
async def test_an_invalid_secret_is_not_quoted_back(client, method, field, value, quoted):
    response = await write(client, method, **{field: value})
    field_errors(response, field)
    assert quoted not in response.text
