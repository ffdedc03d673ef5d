"""Hostile input: whatever a client sends gets a 4xx in the contract's format, never a 500, and a
refused write changes nothing.

Bodies nested past the parser's depth, lone surrogates (a JSON "\\ud800" escape decodes to a str
that no database driver can encode), NUL characters, huge strings and numbers, wrong types, in
every field of every JSON endpoint, in every list and audit query parameter, in the patient id of
the path, and in the login forms.
"""

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.fields import DATETIME_RANGE
from tests.admin.conftest import log_in as admin_log_in
from tests.conftest import STAFF_PASSWORD
from tests.contract import BAD_DATE_FORMAT, BAD_PHONE, NUL_CHARS
from tests.factories import create_patient, patient_payload

URL = "/api/patients/"
JSON = {"content-type": "application/json"}
PATIENT_PASSWORD = "correct-horse"  # tests.factories' default

NOT_A_STRING = "Not a valid string."
NOT_A_LIST = "Expected a list of items."
DATETIME_FORMAT = "Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."
SEX_CHOICES = "Must be one of 'M', 'F', 'O' or 'P'."
BAD_SSN = "SSN must be in the format 123-45-6789."
BAD_EMAIL = "Enter a valid email address."
BAD_ID = 'Patient id must be "p_" followed by 6 lowercase letters or digits.'
NOT_A_NUMBER = "A valid number is required."
NOT_AN_INTEGER = "A valid integer is required."
AMOUNT_FORMAT = (
    "Enter the amount in plain digits, with an optional leading minus and at most 2 decimal "
    "places, e.g. 25.50 or -10."
)
TOO_MUCH = "Ensure this value is less than or equal to 1000000."
TOO_LITTLE = "Ensure this value is greater than or equal to -1000000."
SURROGATE = "Surrogate characters are not allowed."
TOO_DEEP = {"detail": "JSON parse error - Arrays and objects are nested too deeply."}
NOT_FOUND = {"detail": "Not found."}
INVALID_PAGE = {"detail": "Invalid page."}
BAD_CREDENTIALS = {"detail": "No active account found with the given credentials."}
BAD_TOKEN = {"detail": "Given token not valid or expired."}


def surrogate(code_point: int = 0xD800) -> str:
    return f"{SURROGATE[:-1]}: U+{code_point:X}."


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


def escaped(body: Any) -> bytes:
    """JSON with every non-ASCII character escaped: a lone surrogate becomes `\\udXXX`."""
    return json.dumps(body).encode()


def raw_utf8(body: Any) -> bytes:
    """JSON whose lone surrogates are raw UTF-8 bytes, which Python's JSON decoder lets through."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def short(value: Any) -> str:
    """A test id that stays readable however long the value."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


def detail(patient_id: str) -> str:
    return f"{URL}{patient_id}/"


def action(patient_id: str, name: str) -> str:
    return f"{URL}{patient_id}/{name}/"


async def patient_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM patients"))
    assert isinstance(count, int)
    return count


async def stored(client: httpx.AsyncClient, patient_id: str) -> dict[str, Any]:
    response = await client.get(detail(patient_id))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# Each JSON endpoint with a valid body: (method, path after the patient's detail URL, body).
JSON_ENDPOINTS = [
    ("PUT", "", {k: v for k, v in patient_payload().items() if k != "password"}),
    ("PATCH", "", {"first_name": "Janet"}),
    ("POST", "add_tag/", {"tag": "anxiety"}),
    ("POST", "remove_tag/", {"tag": "anxiety"}),
    ("POST", "add_session/", {"date": "2024-05-01T14:30:00Z"}),
    ("POST", "update_wallet/", {"amount": "1.00"}),
]
ENDPOINT_IDS = [f"{method} {suffix or 'detail'}" for method, suffix, _ in JSON_ENDPOINTS]


# --- nesting past the parser's depth ----------------------------------------------------------

DEEP_BODIES = [b"[" * 100_000, b'{"a":' * 20_000, b'{"first_name": ' + b"[" * 100_000]


@pytest.mark.parametrize("body", DEEP_BODIES, ids=["arrays", "objects", "in-a-field"])
async def test_deeply_nested_json_creates_nothing(client, engine, body):
    response = await client.post(URL, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == TOO_DEEP
    assert await patient_count(engine) == 0


@pytest.mark.parametrize(("method", "suffix", "_valid"), JSON_ENDPOINTS, ids=ENDPOINT_IDS)
async def test_deeply_nested_json_changes_nothing(client, method, suffix, _valid):
    patient = await create_patient(client, tags=["anxiety"])
    response = await client.request(
        method, detail(patient["id"]) + suffix, content=b"[" * 100_000, headers=JSON
    )
    assert response.status_code == 400
    assert response.json() == TOO_DEEP
    assert await stored(client, patient["id"]) == patient


async def test_deeply_nested_json_from_a_patient_is_a_parse_error(app, client, login):
    patient = await create_patient(client)
    token = await login(patient["id"], PATIENT_PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    ) as own:
        response = await own.patch(detail(patient["id"]), content=b"[" * 100_000, headers=JSON)
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


async def test_nesting_the_parser_accepts_is_an_error_on_the_field(client, engine):
    nested: Any = "Jane"
    for _ in range(300):
        nested = [nested]
    response = await client.post(URL, json=patient_payload(first_name=nested, tags=nested))
    assert response.status_code == 400
    assert response.json() == {"first_name": [NOT_A_STRING], "tags": [f"Item 1: {NOT_A_STRING}"]}
    assert await patient_count(engine) == 0


# --- lone surrogates --------------------------------------------------------------------------

# What a lone surrogate in each writable field of a patient gets.
SURROGATE_ERRORS = {
    "first_name": [surrogate()],
    "last_name": [surrogate()],
    "phone_no": [surrogate()],
    "allergies_and_medication": [surrogate()],
    "date_of_birth": [BAD_DATE_FORMAT],
    "sex": [SURROGATE],
    "ssn": [surrogate()],
    "email": [surrogate()],
    "address": [surrogate()],
    "added_note": [surrogate()],
    "about_note": [surrogate()],
    "tags": [f"Item 1: {surrogate()}"],
    "password": [surrogate()],
    "id": [BAD_ID],
}


def with_surrogate(field: str) -> Any:
    value = "Jan\ud800e"
    return [value] if field == "tags" else value


@pytest.mark.parametrize("field", list(SURROGATE_ERRORS))
async def test_a_lone_surrogate_in_any_field_creates_nothing(client, engine, field):
    for encode in (escaped, raw_utf8):
        body = encode(patient_payload(**{field: with_surrogate(field)}))
        response = await client.post(URL, content=body, headers=JSON)
        assert response.status_code == 400
        assert response.json() == {field: SURROGATE_ERRORS[field]}
    assert await patient_count(engine) == 0


@pytest.mark.parametrize("field", [f for f in SURROGATE_ERRORS if f != "id"])
async def test_a_lone_surrogate_in_any_field_changes_nothing(client, field):
    patient = await create_patient(client)
    body = raw_utf8({field: with_surrogate(field)})
    response = await client.patch(detail(patient["id"]), content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {field: SURROGATE_ERRORS[field]}
    assert await stored(client, patient["id"]) == patient


@pytest.mark.parametrize("code_point", [0xD800, 0xDBFF, 0xDC00, 0xDFFF])
async def test_every_lone_surrogate_is_named(client, engine, code_point):
    body = escaped(patient_payload(address=f"1 Main St{chr(code_point)}"))
    response = await client.post(URL, content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"address": [surrogate(code_point)]}


async def test_an_escaped_surrogate_pair_is_one_character_and_accepted(client):
    body = b'{"first_name": "Jane \\ud83d\\ude00"}'
    patient = await create_patient(client)
    response = await client.patch(detail(patient["id"]), content=body, headers=JSON)
    assert response.status_code == 200
    assert response.json()["first_name"] == "Jane \U0001f600"


@pytest.mark.parametrize(
    ("suffix", "body", "errors"),
    [
        ("add_tag", {"tag": "a\ud800"}, {"tag": [surrogate()]}),
        ("remove_tag", {"tag": "a\udfff"}, {"tag": [surrogate(0xDFFF)]}),
        ("add_session", {"date": "2024-05-01T14:30:00Z\ud800"}, {"date": [surrogate()]}),
        (
            "add_session",
            {"date": "2024-05-01T14:30:00Z", "therapist": "Dr. \ud800"},
            {"therapist": [surrogate()]},
        ),
        (
            "add_session",
            {"date": "2024-05-01T14:30:00Z", "notes": "\udc00 notes"},
            {"notes": [surrogate(0xDC00)]},
        ),
        ("update_wallet", {"amount": "1\ud800"}, {"amount": [NOT_A_NUMBER]}),
    ],
)
async def test_a_lone_surrogate_in_an_action_changes_nothing(client, suffix, body, errors):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], suffix), content=escaped(body), headers=JSON)
    assert response.status_code == 400
    assert response.json() == errors
    assert await stored(client, patient["id"]) == patient


async def test_a_lone_surrogate_in_an_ignored_key_is_ignored(client):
    patient = await create_patient(client)
    body = escaped({"\ud800": "x", "first_name": "Janet"})
    response = await client.patch(detail(patient["id"]), content=body, headers=JSON)
    assert response.status_code == 200
    assert response.json()["first_name"] == "Janet"


# --- NUL characters in the actions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "body", "field"),
    [
        ("add_tag", {"tag": "anx\x00iety"}, "tag"),
        ("remove_tag", {"tag": "\x00"}, "tag"),
        ("add_session", {"date": "2024-05-01T14:30:00Z", "therapist": "Dr.\x00Who"}, "therapist"),
    ],
)
async def test_nul_in_an_action_changes_nothing(client, suffix, body, field):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], suffix), json=body)
    assert response.status_code == 400
    assert response.json() == {field: [NUL_CHARS]}
    assert await stored(client, patient["id"]) == patient


# --- huge values ------------------------------------------------------------------------------

HUGE = "x" * 100_000
HUGE_ERRORS = {
    "first_name": [too_long(100)],
    "last_name": [too_long(100)],
    "phone_no": [BAD_PHONE],
    "allergies_and_medication": [too_long(5000)],
    "date_of_birth": [BAD_DATE_FORMAT],
    "sex": [SEX_CHOICES],
    "ssn": [BAD_SSN],
    "email": [too_long(254)],
    "address": [too_long(500)],
    "added_note": [too_long(500)],
    "about_note": [too_long(250)],
    "tags": [f"Item 1: {too_long(50)}"],
    "password": [too_long(64)],
    "id": [BAD_ID],
}


@pytest.mark.parametrize("field", list(HUGE_ERRORS))
async def test_a_huge_string_in_any_field_creates_nothing(client, engine, field):
    response = await client.post(
        URL, json=patient_payload(**{field: [HUGE] if field == "tags" else HUGE})
    )
    assert response.status_code == 400
    assert response.json() == {field: HUGE_ERRORS[field]}
    assert await patient_count(engine) == 0


async def test_a_huge_number_of_tags_creates_nothing(client, engine):
    response = await client.post(URL, json=patient_payload(tags=[f"t{i}" for i in range(10_000)]))
    assert response.status_code == 400
    assert response.json() == {"tags": ["Ensure this field has no more than 50 elements."]}
    assert await patient_count(engine) == 0


@pytest.mark.parametrize(
    ("suffix", "body", "errors"),
    [
        ("add_tag", {"tag": HUGE}, {"tag": [too_long(50)]}),
        ("remove_tag", {"tag": HUGE}, {"tag": [too_long(50)]}),
        ("add_session", {"date": HUGE}, {"date": [DATETIME_FORMAT]}),
        (
            "add_session",
            {"date": "2024-05-01T14:30:00Z", "notes": HUGE},
            {"notes": [too_long(2000)]},
        ),
        (
            "add_session",
            {"date": "2024-05-01T14:30:00Z", "therapist": HUGE},
            {"therapist": [too_long(100)]},
        ),
        (
            "update_wallet",
            {"amount": "9" * 50_000},
            {"amount": ["Ensure this value is less than or equal to 1000000."]},
        ),
    ],
)
async def test_a_huge_value_in_an_action_changes_nothing(client, suffix, body, errors):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], suffix), json=body)
    assert response.status_code == 400
    assert response.json() == errors
    assert await stored(client, patient["id"]) == patient


# --- numbers and dates out of range -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        (b'{"amount": "NaN"}', {"amount": [NOT_A_NUMBER]}),
        (b'{"amount": "sNaN"}', {"amount": [NOT_A_NUMBER]}),
        (b'{"amount": "-Infinity"}', {"amount": [NOT_A_NUMBER]}),
        (b'{"amount": NaN}', {"amount": [NOT_A_NUMBER]}),
        (b'{"amount": 1e400}', {"amount": [AMOUNT_FORMAT]}),
        (b'{"amount": "1e999999999"}', {"amount": [AMOUNT_FORMAT]}),
        (b'{"amount": "1e-999999999"}', {"amount": [AMOUNT_FORMAT]}),
        (b'{"amount": "-0.00"}', {"amount": ["Amount must not be zero."]}),
        (b'{"amount": "' + b"9" * 5000 + b'"}', {"amount": [TOO_MUCH]}),
        (b'{"amount": -' + b"9" * 5000 + b".5}", {"amount": [TOO_LITTLE]}),
    ],
)
async def test_numbers_out_of_range_leave_the_wallet_alone(client, raw, errors):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "update_wallet"), content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json() == errors
    assert await stored(client, patient["id"]) == patient


async def test_an_integer_past_pythons_digit_limit_is_refused_by_the_fields_rule(client):
    patient = await create_patient(client)
    raw = b'{"amount": ' + b"1" * 5000 + b"}"
    response = await client.post(action(patient["id"], "update_wallet"), content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"amount": [TOO_MUCH]}
    assert await stored(client, patient["id"]) == patient


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        (b'"duration_minutes": 1e400', {"duration_minutes": [NOT_A_NUMBER]}),
        (
            b'"duration_minutes": ' + b"9" * 4000,
            {"duration_minutes": ["Ensure this value is less than or equal to 480."]},
        ),
        (b'"duration_minutes": "9e9"', {"duration_minutes": [NOT_AN_INTEGER]}),
        (  # past Python's limit of digits for int()
            b'"duration_minutes": ' + b"9" * 5000,
            {"duration_minutes": ["Ensure this value is less than or equal to 480."]},
        ),
    ],
)
async def test_huge_durations_add_no_session(client, raw, errors):
    patient = await create_patient(client)
    body = b'{"date": "2024-05-01T14:30:00Z", ' + raw + b"}"
    response = await client.post(action(patient["id"], "add_session"), content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == errors
    assert await stored(client, patient["id"]) == patient


@pytest.mark.parametrize(
    "date",
    [
        "9999-12-31T23:59:59-23:59",  # past the last datetime once converted to UTC
        "0001-01-01T00:00:00+23:59",  # before the first
        "9999-12-31T23:00:00-01:00",
        "3000-01-01T00:00:00Z",  # past the years the API takes (app.core.fields)
        "1899-12-31T23:59:59Z",
    ],
)
async def test_a_session_date_out_of_range_adds_no_session(client, date):
    patient = await create_patient(client)
    response = await client.post(action(patient["id"], "add_session"), json={"date": date})
    assert response.status_code == 400
    assert response.json() == {"date": [DATETIME_RANGE]}
    assert await stored(client, patient["id"]) == patient


async def test_the_extreme_dates_that_fit_are_stored(client):
    patient = await create_patient(client)
    for date, stored_as in [
        ("2999-12-31T23:59:59-14:00", "3000-01-01T13:59:59Z"),
        ("1900-01-01T00:00:00+14:00", "1899-12-31T10:00:00Z"),
    ]:
        response = await client.post(action(patient["id"], "add_session"), json={"date": date})
        assert response.status_code == 200
        assert response.json()["sessions"][-1]["date"] == stored_as


# --- wrong types ------------------------------------------------------------------------------

WRONG_TYPES = [123, 1.5, True, {}, {"a": "b"}, [["x"]]]
STRING_FIELDS = [
    "id",
    "password",
    "first_name",
    "last_name",
    "phone_no",
    "allergies_and_medication",
    "ssn",
    "email",
    "address",
    "added_note",
    "about_note",
]


def wrong_type_error(field: str, value: Any) -> list[str]:
    if field == "date_of_birth":
        return [BAD_DATE_FORMAT]
    if field == "sex":
        return [SEX_CHOICES]
    if field == "tags":
        return [f"Item 1: {NOT_A_STRING}"] if isinstance(value, list) else [NOT_A_LIST]
    return [NOT_A_STRING]


@pytest.mark.parametrize("field", [*STRING_FIELDS, "date_of_birth", "sex", "tags"])
async def test_a_wrong_type_in_any_field_creates_nothing(client, engine, field):
    for value in WRONG_TYPES:
        response = await client.post(URL, json=patient_payload(**{field: value}))
        assert response.status_code == 400
        assert response.json() == {field: wrong_type_error(field, value)}, value
    assert await patient_count(engine) == 0


@pytest.mark.parametrize(
    ("suffix", "field", "valid", "message"),
    [
        ("add_tag", "tag", {}, NOT_A_STRING),
        ("remove_tag", "tag", {}, NOT_A_STRING),
        ("add_session", "date", {}, DATETIME_FORMAT),
        ("add_session", "therapist", {"date": "2024-05-01T14:30:00Z"}, NOT_A_STRING),
        ("add_session", "notes", {"date": "2024-05-01T14:30:00Z"}, NOT_A_STRING),
    ],
)
async def test_a_wrong_type_in_an_action_changes_nothing(client, suffix, field, valid, message):
    patient = await create_patient(client)
    for value in WRONG_TYPES:
        response = await client.post(action(patient["id"], suffix), json={**valid, field: value})
        assert response.status_code == 400
        assert response.json() == {field: [message]}, value
    assert await stored(client, patient["id"]) == patient


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration_minutes", True, NOT_AN_INTEGER),
        ("duration_minutes", 1.5, NOT_AN_INTEGER),
        ("duration_minutes", [], NOT_AN_INTEGER),
        ("duration_minutes", {}, NOT_AN_INTEGER),
        ("amount", True, NOT_A_NUMBER),
        ("amount", [], NOT_A_NUMBER),
        ("amount", {"a": 1}, NOT_A_NUMBER),
    ],
)
async def test_a_wrong_type_of_number_changes_nothing(client, field, value, message):
    patient = await create_patient(client)
    suffix, body = (
        ("add_session", {"date": "2024-05-01T14:30:00Z", field: value})
        if field == "duration_minutes"
        else ("update_wallet", {field: value})
    )
    response = await client.post(action(patient["id"], suffix), json=body)
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert await stored(client, patient["id"]) == patient


@pytest.mark.parametrize(("method", "suffix", "_valid"), JSON_ENDPOINTS, ids=ENDPOINT_IDS)
async def test_a_body_that_is_not_an_object_changes_nothing(client, method, suffix, _valid):
    patient = await create_patient(client)
    not_objects: list[Any] = [[], [{}], "x", 1, True]
    for body in not_objects:
        response = await client.request(method, detail(patient["id"]) + suffix, json=body)
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    assert await stored(client, patient["id"]) == patient


# --- unicode that the rules allow -------------------------------------------------------------

FRIENDLY_UNICODE = {
    "first_name": "\u0645\u0631\u064a\u0645",  # Arabic, right to left
    "last_name": "Zo\u0065\u0301 \u202eevil\u202c",  # a combining accent and an RTL override
    "allergies_and_medication": "\U0001f468\u200d\U0001f469\u200d\U0001f467 \u200b\ufeff",
    "address": "\u05e8\u05d7\u05d5\u05d1 1, \u05ea\u05dc \u05d0\u05d1\u05d9\u05d1",
    "added_note": "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
    "about_note": "\ufdfd \u0e01\u0e34\u0e4a",
    "email": "\u00fcser@\u00e9xample.com",
    "tags": ["\U0001f9e0", "e\u0301", "\u200d"],
}


async def test_unicode_the_rules_allow_is_stored_exactly(client):
    response = await client.post(URL, json=patient_payload(**FRIENDLY_UNICODE))
    assert response.status_code == 201, response.text
    patient = response.json()
    for field, value in FRIENDLY_UNICODE.items():
        assert patient[field] == value
    assert await stored(client, patient["id"]) == patient


async def test_a_name_is_counted_in_characters_not_bytes(client, engine):
    emoji = "\U0001f600"
    response = await client.post(URL, json=patient_payload(first_name=emoji * 100))
    assert response.status_code == 201
    assert response.json()["first_name"] == emoji * 100
    response = await client.post(URL, json=patient_payload(first_name=emoji * 101))
    assert response.status_code == 400
    assert response.json() == {"first_name": [too_long(100)]}
    assert await patient_count(engine) == 1


# --- any JSON at all: never a 500 -------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
WRITABLE = [*STRING_FIELDS[1:], "date_of_birth", "sex", "tags"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.dictionaries(st.sampled_from(WRITABLE), JSON_VALUES, max_size=4))
async def test_any_json_patch_is_saved_or_refused_field_by_field(client, body):
    patient = await create_patient(client)
    response = await client.patch(detail(patient["id"]), content=raw_utf8(body), headers=JSON)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        errors = response.json()
        assert set(errors) <= set(body)
        assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)
        assert await stored(client, patient["id"]) == patient
    else:
        assert await stored(client, patient["id"]) == response.json()


# --- query parameters of the list --------------------------------------------------------------

LONG = "a" * 255
MANY_WORDS = " ".join(["a"] * 20_000)


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"name": "Ja\x00ne"}, {"name": [NUL_CHARS]}),
        ({"phone": "415\x00"}, {"phone": [NUL_CHARS]}),
        ({"email": "\x00@example.com"}, {"email": [NUL_CHARS]}),
        ({"tag": "anx\x00iety"}, {"tag": [f"Item 1: {NUL_CHARS}"]}),
        ({"sex": "F\x00"}, {"sex": [SEX_CHOICES]}),
        ({"name": LONG}, {"name": [too_long(254)]}),
        ({"name": MANY_WORDS}, {"name": [too_long(254)]}),
        ({"phone": "5" * 255}, {"phone": [too_long(254)]}),
        ({"email": LONG}, {"email": [too_long(254)]}),
        ({"tag": LONG}, {"tag": [f"Item 1: {too_long(254)}"]}),
        ({"sex": LONG}, {"sex": [SEX_CHOICES]}),
        (
            [("tag", f"t{i}") for i in range(51)],
            {"tag": ["Ensure this field has no more than 50 elements."]},
        ),
        (
            [("tag", f"t{i}") for i in range(5000)],
            {"tag": ["Ensure this field has no more than 50 elements."]},
        ),
    ],
    ids=short,
)
async def test_hostile_list_filters_are_a_400_on_the_filter(client, params, errors):
    await create_patient(client)
    response = await client.get(URL, params=params)
    assert response.status_code == 400
    assert response.json() == errors


@pytest.mark.parametrize(
    "params",
    [
        {"name": " ".join(["a"] * 127)},  # the most words a name filter may have
        {"name": "\u202e\u200b\U0001f600e\u0301"},
        {"name": "%_\\"},
        {"phone": "\u0664\u0661\u0665"},  # Arabic-Indic digits are not phone digits
        {"email": "\U0001f600" * 254},
        [("tag", f"t{i}") for i in range(50)],
        {"ordering": "\x00"},
        {"ordering": "," * 10_000},
        {"ordering": "-" * 10_000},
        {"ordering": "first_name\x00,\U0001f600"},
        {"page_size": "\x00"},
        {"page_size": "9" * 5000},
        {"page_size": "-1"},
        {"page_size": "\u0663"},
    ],
    ids=short,
)
async def test_odd_list_parameters_that_cannot_harm_are_answered(client, params):
    await create_patient(client)
    response = await client.get(URL, params=params)
    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "results"}


@pytest.mark.parametrize(
    "query", ["name=%ED%A0%80", "name=%FF%FE", "email=%C0%80", "tag=%ED%B0%80"]
)
async def test_percent_encoded_invalid_utf8_in_a_filter_matches_nothing(client, query):
    await create_patient(client, email="jane@example.com", tags=["anxiety"])
    response = await client.get(f"{URL}?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == 0


@pytest.mark.parametrize("page", ["\x00", "-1", "0", "1e3", "\u0663", "last\x00", "9" * 5000, "%"])
async def test_a_hostile_page_number_is_an_invalid_page(client, page):
    await create_patient(client)
    response = await client.get(URL, params={"page": page})
    assert response.status_code == 404
    assert response.json() == INVALID_PAGE


# --- the patient id in the path ---------------------------------------------------------------

HOSTILE_IDS = [
    "%00",
    "p_abc12%00",
    "p_abc123%00",
    "%ED%A0%80",
    "p_%F0%9F%98%80",
    "p_" + "a" * 5000,
    "p_abc%D9%A1%D9%A2%D9%A3",  # Arabic-Indic digits one, two, three
    "P_ABC123",
    "p_abc123%20",
    "%20p_abc123",
    "p_abc123%0A",
    "..%2F..%2Fetc",
]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "add_tag/"),
        ("POST", "update_wallet/"),
        ("GET", "profile_picture/"),
    ],
)
async def test_a_hostile_patient_id_is_not_found(client, method, suffix):
    patient = await create_patient(client, id="p_abc123")
    body = {"tag": "x", "amount": "1.00", **patient_payload()} if method != "GET" else None
    for patient_id in HOSTILE_IDS:
        response = await client.request(method, f"{URL}{patient_id}/{suffix}", json=body)
        assert response.status_code == 404, patient_id
        assert response.json() == NOT_FOUND
    assert await stored(client, patient["id"]) == patient


# --- the login forms --------------------------------------------------------------------------


@pytest.fixture
async def accounts(client: httpx.AsyncClient) -> dict[str, str]:
    """A staff member named "admin" (the `client` fixture's) and a patient."""
    patient = await create_patient(client, phone_no="+14155550999")
    return {"patient_id": patient["id"], "phone_no": patient["phone_no"]}


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("\x00", STAFF_PASSWORD),
        ("admin\x00", STAFF_PASSWORD),
        ("\x00admin", STAFF_PASSWORD),
        ("{patient_id}\x00", PATIENT_PASSWORD),
        ("{phone_no}\x00", PATIENT_PASSWORD),
        ("admin", "\x00"),
        ("admin", STAFF_PASSWORD + "\x00"),
        ("a" * 200_000, "x"),
        ("admin", "x" * 200_000),
        ("\u202eadmin", STAFF_PASSWORD),
        ("\U0001f600", "\U0001f600"),
        ("%", "%"),
    ],
    ids=short,
)
async def test_a_hostile_login_is_refused_like_any_wrong_one(
    anonymous, accounts, username, password
):
    response = await anonymous.post(
        "/api/auth/token/", data={"username": username.format(**accounts), "password": password}
    )
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"username=%ED%A0%80&password=x", "application/x-www-form-urlencoded"),
        (b"username=\xff\xfe\x00&password=\xed\xa0\x80", "application/x-www-form-urlencoded"),
        (
            b"username=admin%00&password=" + STAFF_PASSWORD.encode(),
            "application/x-www-form-urlencoded",
        ),
        (
            b'--XX\r\nContent-Disposition: form-data; name="username"\r\n\r\n'
            b"\xed\xa0\x80\xff\x00\r\n"
            b'--XX\r\nContent-Disposition: form-data; name="password"\r\n\r\n\x00\r\n--XX--\r\n',
            "multipart/form-data; boundary=XX",
        ),
    ],
)
async def test_a_login_form_of_invalid_utf8_or_nul_is_refused(
    anonymous, accounts, content, content_type
):
    response = await anonymous.post(
        "/api/auth/token/", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS


async def test_the_account_still_logs_in_after_hostile_attempts(anonymous, accounts, login):
    for username in ("admin\x00", accounts["patient_id"] + "\x00"):
        response = await anonymous.post(
            "/api/auth/token/", data={"username": username, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 401
    assert await login("admin", STAFF_PASSWORD)
    assert await login(accounts["patient_id"], PATIENT_PASSWORD)


@pytest.mark.parametrize("username", ["admin\x00", "\x00", "a" * 100_000])
async def test_a_hostile_admin_login_is_refused(app, client, username):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as browser:
        response = await admin_log_in(browser, username, STAFF_PASSWORD)
        assert response.status_code == 400
        assert "Invalid credentials." in response.text
        assert (await browser.get("/admin/")).status_code == 302  # not logged in


@pytest.mark.parametrize(
    "token",
    [b"\xff\xfe", b"\x01\x02", b"a.b.c", b"\xe9" * 10, b"e30." * 1000, b"Bearer Bearer"],
    ids=short,
)
async def test_a_hostile_bearer_token_is_refused(anonymous, token):
    response = await anonymous.get(URL, headers={"authorization": b"Bearer " + token})
    assert response.status_code == 401
    assert response.json() == BAD_TOKEN


# --- query parameters of the audit trail ------------------------------------------------------


@pytest.mark.parametrize("name", ["patient", "actor", "action"])
async def test_nul_in_an_audit_filter_is_a_400(client, name):
    response = await client.get("/api/audit/", params={name: "a\x00b"})
    assert response.status_code == 400
    assert response.json() == {name: [NUL_CHARS]}


@pytest.mark.parametrize(
    "params",
    [
        {"patient": "p_" + "a" * 30_000},
        {"actor": "\u202e\U0001f600"},
        {"action": "%_\\"},
        {"patient": "%ED%A0%80"},
        {"page_size": "\x00"},
        {"page_size": "9" * 5000},
    ],
    ids=short,
)
async def test_odd_audit_parameters_are_answered(client, params):
    response = await client.get("/api/audit/", params=params)
    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "results"}


@pytest.mark.parametrize("page", ["\x00", "\U0001f600", "-1", "9" * 5000])
async def test_a_hostile_audit_page_is_an_invalid_page(client, page):
    response = await client.get("/api/audit/", params={"page": page})
    assert response.status_code == 404
    assert response.json() == INVALID_PAGE
