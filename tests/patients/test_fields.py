"""The Patient field rules of API.md, checked on the schemas alone (no database, no HTTP).

Each value goes through the schema the API uses, and a rejection is rendered with the same
function the error handler uses, so the tests see the `{"field": ["message"]}` a client sees.
"""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.errors import validation_errors
from app.patients.fields import PatientId
from app.patients.schemas import PatientCreate, PatientRead, PatientReplace, PatientUpdate
from tests.contract import (
    BAD_DATE_FORMAT,
    BAD_EMAIL,
    BAD_PHONE,
    BLANK,
    NUL_CHARS,
    NULL,
    REQUIRED,
    RESOURCE_FIELDS,
)

VALID_SSN = "123-45-6789"
EMAIL_254 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
EMAIL_255 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"

# Pydantic's own wording; a client of a DRF API must never see it.
NOT_PLAIN_ENGLISH = re.compile(r"Input should|Value error|String should|pydantic|type=", re.I)


def today() -> date:
    return datetime.now(UTC).date()


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "password": "correct-horse",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_no": "+14155550123",
        "allergies_and_medication": "Penicillin",
        "date_of_birth": "1990-05-17",
        "sex": "F",
    }
    body.update(overrides)
    return body


def patched(**fields: Any) -> dict[str, Any]:
    """What a PATCH with these fields writes."""
    return PatientUpdate.model_validate(fields).model_dump(exclude_unset=True)


def errors(schema: type[PatientUpdate], body: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        schema.model_validate(body)
    rendered = validation_errors(caught.value.errors())
    for messages in rendered.values():
        assert messages
        assert all(isinstance(m, str) and m and not NOT_PLAIN_ENGLISH.search(m) for m in messages)
    return rendered


def patch_errors(**fields: Any) -> dict[str, list[str]]:
    return errors(PatientUpdate, fields)


def assert_rejected(field: str, value: Any, message: str | None = None) -> None:
    rendered = patch_errors(**{field: value})
    assert list(rendered) == [field]
    if message is not None:
        assert rendered[field] == [message]


# --- id -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["p_abc123", "p_000000", "p_zzzzzz", "p_a1b2c3"])
def test_patient_id_accepts_the_pattern(value):
    assert TypeAdapter(PatientId).validate_python(value) == value


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
    ],
)
def test_patient_id_rejects_other_strings(value):
    with pytest.raises(ValidationError):
        TypeAdapter(PatientId).validate_python(value)


def test_id_is_optional_on_create_but_not_null():
    assert PatientCreate.model_validate(create_body()).id is None
    assert PatientCreate.model_validate(create_body(id="p_abc123")).id == "p_abc123"
    assert errors(PatientCreate, create_body(id=None)) == {"id": [NULL]}
    assert list(errors(PatientCreate, create_body(id="p_ABC123"))) == ["id"]


@pytest.mark.parametrize("schema", [PatientReplace, PatientUpdate])
def test_id_is_not_writable_after_create(schema):
    body = {k: v for k, v in create_body(id="p_abc123").items() if k != "password"}
    assert "id" not in schema.model_validate(body).model_dump(exclude_unset=True)


# --- password -------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [8, 9, 63, 64])
def test_password_accepts_8_to_64_characters(length):
    password = ("k3y-" * 16)[:length]
    assert patched(password=password) == {"password": password}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 7, "Ensure this field has at least 8 characters."),
        ("x" * 65, "Ensure this field has no more than 64 characters."),
        ("", None),
        ("secret\x00pw", NUL_CHARS),
        (12345678, None),
        (None, NULL),
        ("password1", "This password is too common."),
        ("QWERTYUIOP", "This password is too common."),
        (" iloveyou ", "This password is too common."),
        ("80215937461", "This password is entirely numeric."),
    ],
    ids=[
        "7",
        "65",
        "empty",
        "nul",
        "number",
        "null",
        "common",
        "common-case",
        "common-spaced",
        "digits",
    ],
)
def test_password_rejects(value, message):
    assert_rejected("password", value, message)


def test_password_is_required_on_create_only():
    body = create_body()
    del body["password"]
    assert errors(PatientCreate, body) == {"password": [REQUIRED]}
    assert "password" not in PatientReplace.model_validate(body).model_dump(exclude_unset=True)


def test_password_error_never_quotes_it():
    password = "Sup3r-Secret-" + "z" * 60
    assert password not in str(patch_errors(password=password))


# --- first_name, last_name ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("J", "J"),
        ("J" * 100, "J" * 100),
        ("  Jane  ", "Jane"),
        ("\tJane\n", "Jane"),
        ("  " + "J" * 100 + "  ", "J" * 100),
        ("Zoë-Ann O'Brien", "Zoë-Ann O'Brien"),
    ],
    ids=["1", "100", "spaces-trimmed", "tab-newline-trimmed", "100-after-trim", "unicode"],
)
def test_name_accepts(field, value, stored):
    assert patched(**{field: value}) == {field: stored}


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", BLANK),
        ("   ", BLANK),
        ("\t\n", BLANK),
        ("J" * 101, "Ensure this field has no more than 100 characters."),
        ("Ja\x00ne", NUL_CHARS),
        (None, NULL),
        (True, None),
        (["Jane"], None),
    ],
    ids=["empty", "spaces", "tab-newline", "101", "nul", "null", "bool", "list"],
)
def test_name_rejects(field, value, message):
    assert_rejected(field, value, message)


# --- phone_no -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        # Canonical (E.164, PHONE_DEFAULT_REGION US): a number no country has is "+" and its
        # digits, never refused.
        ("1" * 9, "+" + "1" * 9),
        ("1" * 15, "+" + "1" * 15),
        ("+" + "1" * 9, "+" + "1" * 9),
        ("+" + "1" * 15, "+" + "1" * 15),
        ("0123456789", "+10123456789"),
        ("  +14155550123  ", "+14155550123"),
        ("4155550123", "+14155550123"),
        ("14155550123", "+14155550123"),
        ("011442071838750", "+442071838750"),
        ("+4402071838750", "+442071838750"),
    ],
    ids=[
        "9",
        "15",
        "plus-9",
        "plus-15",
        "leading-zero",
        "trimmed",
        "national",
        "no-plus",
        "international-prefix",
        "trunk-prefix",
    ],
)
def test_phone_accepts(value, stored):
    assert patched(phone_no=value) == {"phone_no": stored}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 8, BAD_PHONE),
        ("1" * 16, BAD_PHONE),
        ("+" + "1" * 8, BAD_PHONE),
        ("+" + "1" * 16, BAD_PHONE),
        ("++14155550123", BAD_PHONE),
        ("1415555012+", BAD_PHONE),
        ("415-555-0123", BAD_PHONE),
        ("(415) 5550123", BAD_PHONE),
        ("415 555 0123", BAD_PHONE),
        ("41555501x3", BAD_PHONE),
        ("\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff12", BAD_PHONE),
        ("\u0664\u0661\u0665\u0665\u0665\u0665\u0660\u0661\u0662", BAD_PHONE),
        ("+", BAD_PHONE),
        ("", BLANK),
        ("   ", BLANK),
        ("4155550\x00123", NUL_CHARS),
        (None, NULL),
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
        "arabic-digits",
        "plus-only",
        "empty",
        "spaces-only",
        "nul",
        "null",
    ],
)
def test_phone_rejects(value, message):
    assert_rejected("phone_no", value, message)


# --- allergies_and_medication ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [("", ""), ("   ", ""), ("x" * 5000, "x" * 5000), (" Penicillin\n", "Penicillin")],
    ids=["empty", "spaces", "5000", "trimmed"],
)
def test_medical_text_accepts(value, stored):
    assert patched(allergies_and_medication=value) == {"allergies_and_medication": stored}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 5001, "Ensure this field has no more than 5000 characters."),
        ("Penicillin\x00", NUL_CHARS),
        (None, NULL),
    ],
    ids=["5001", "nul", "null"],
)
def test_medical_text_rejects(value, message):
    assert_rejected("allergies_and_medication", value, message)


def test_medical_text_error_never_quotes_it():
    text = "Allergic to peanuts; takes sertraline 50mg. " * 120
    assert "sertraline" not in str(patch_errors(allergies_and_medication=text))


# --- date_of_birth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda: today().isoformat(), id="today"),
        pytest.param(lambda: (today() - timedelta(days=1)).isoformat(), id="yesterday"),
        pytest.param(lambda: "1900-01-01", id="1900-01-01"),
        pytest.param(lambda: "2000-02-29", id="leap-day"),
    ],
)
def test_birth_date_accepts(value):
    text = value()
    assert patched(date_of_birth=text) == {"date_of_birth": date.fromisoformat(text)}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(lambda: (today() + timedelta(days=1)).isoformat(), None, id="tomorrow"),
        pytest.param(lambda: "9999-12-31", None, id="far-future"),
        pytest.param(lambda: "1899-12-31", None, id="1899-12-31"),
        pytest.param(lambda: "0001-01-01", None, id="year-1"),
        pytest.param(lambda: "2021-02-30", None, id="feb-30"),
        pytest.param(lambda: "2023-02-29", None, id="not-a-leap-year"),
        pytest.param(lambda: "2021-13-01", None, id="month-13"),
        pytest.param(lambda: "2021-00-10", None, id="month-0"),
        pytest.param(lambda: "2021-04-31", None, id="april-31"),
        pytest.param(lambda: "17/05/1990", BAD_DATE_FORMAT, id="dd/mm/yyyy"),
        pytest.param(lambda: "1990/05/17", BAD_DATE_FORMAT, id="slashes"),
        pytest.param(lambda: "19900517", BAD_DATE_FORMAT, id="basic-iso"),
        pytest.param(lambda: "1990-05-17T00:00:00", BAD_DATE_FORMAT, id="datetime"),
        pytest.param(lambda: "May 17, 1990", BAD_DATE_FORMAT, id="words"),
        pytest.param(lambda: "", BAD_DATE_FORMAT, id="empty"),
        pytest.param(lambda: 19900517, BAD_DATE_FORMAT, id="number"),
        pytest.param(lambda: None, NULL, id="null"),
    ],
)
def test_birth_date_rejects(value, message):
    assert_rejected("date_of_birth", value(), message)


# --- sex ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["M", "F", "O", "P"])
def test_sex_accepts_the_four_choices(value):
    assert patched(sex=value) == {"sex": value}


@pytest.mark.parametrize("value", ["m", "f", "o", "p", "X", "", "MALE", " M", 1, None])
def test_sex_rejects(value):
    assert_rejected("sex", value, NULL if value is None else None)


# --- ssn ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [(VALID_SSN, VALID_SSN), ("000-00-0000", "000-00-0000"), (" 123-45-6789 ", VALID_SSN)],
    ids=["valid", "zeros", "trimmed"],
)
def test_ssn_accepts(value, stored):
    assert patched(ssn=value) == {"ssn": stored}


@pytest.mark.parametrize(
    "value",
    [
        "123456789",
        "123-45-678",
        "123-45-67890",
        "1234-5-6789",
        "123-456-789",
        "12-345-6789",
        "123 45 6789",
        "abc-de-fghi",
        "\uff11\uff12\uff13-45-6789",
        "123-45-6789\x00",
        "",
        "   ",
        123456789,
    ],
)
def test_ssn_rejects(value):
    assert_rejected("ssn", value)


@pytest.mark.parametrize("value", ["987-65-43210", "987654321", "987 65 4321", "987-65-432x"])
def test_ssn_error_never_quotes_it(value):
    assert value not in str(patch_errors(ssn=value))


def test_ssn_null_clears():
    assert patched(ssn=None) == {"ssn": None}


# --- email ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("jane@example.com", "jane@example.com"),
        ("jane.doe+therapy@mail.example.co.uk", "jane.doe+therapy@mail.example.co.uk"),
        ("  jane@example.com ", "jane@example.com"),
        (EMAIL_254, EMAIL_254),
    ],
    ids=["simple", "plus-subdomain", "trimmed", "254"],
)
def test_email_accepts(value, stored):
    assert len(EMAIL_254) == 254
    assert patched(email=value) == {"email": stored}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("jane", BAD_EMAIL),
        ("jane@", BAD_EMAIL),
        ("@example.com", BAD_EMAIL),
        ("jane@@example.com", BAD_EMAIL),
        ("jane doe@example.com", BAD_EMAIL),
        ("jane@exa mple.com", BAD_EMAIL),
        ("jane..doe@example.com", BAD_EMAIL),
        ("", BAD_EMAIL),
        ("   ", BAD_EMAIL),
        (EMAIL_255, "Ensure this field has no more than 254 characters."),
        ("jane@example.com\x00", NUL_CHARS),
    ],
    ids=[
        "no-at",
        "no-domain",
        "no-local",
        "double-at",
        "space-local",
        "space-domain",
        "double-dot",
        "empty",
        "spaces",
        "255",
        "nul",
    ],
)
def test_email_rejects(value, message):
    assert len(EMAIL_255) == 255
    assert_rejected("email", value, message)


def test_email_null_clears():
    assert patched(email=None) == {"email": None}


# --- address, added_note, about_note --------------------------------------------------------

FREE_TEXT_LIMITS = [("address", 500), ("added_note", 500), ("about_note", 250)]


@pytest.mark.parametrize(("field", "limit"), FREE_TEXT_LIMITS)
@pytest.mark.parametrize(
    ("make", "stored"),
    [
        (lambda n: "x" * n, lambda n: "x" * n),
        (lambda n: "", lambda n: ""),
        (lambda n: " x ", lambda n: "x"),
        (lambda n: None, lambda n: None),
    ],
    ids=["at-limit", "empty", "trimmed", "null-clears"],
)
def test_free_text_accepts(field, limit, make, stored):
    assert patched(**{field: make(limit)}) == {field: stored(limit)}


@pytest.mark.parametrize(("field", "limit"), FREE_TEXT_LIMITS)
def test_free_text_rejects_one_past_the_limit(field, limit):
    assert_rejected(
        field, "x" * (limit + 1), f"Ensure this field has no more than {limit} characters."
    )


@pytest.mark.parametrize(("field", "limit"), FREE_TEXT_LIMITS)
def test_free_text_rejects_nul(field, limit):
    assert_rejected(field, "a\x00b", NUL_CHARS)


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ([], []),
        (["anxiety"], ["anxiety"]),
        (["  anxiety ", "\tgrief\n"], ["anxiety", "grief"]),
        (["x" * 50], ["x" * 50]),
        ([" " + "x" * 50 + " "], ["x" * 50]),
        (["x"], ["x"]),
        (["anxiety", "Anxiety"], ["anxiety", "Anxiety"]),
        ([f"t{i}" for i in range(50)], [f"t{i}" for i in range(50)]),
    ],
    ids=[
        "none",
        "one",
        "trimmed",
        "50-chars",
        "50-after-trim",
        "1-char",
        "case-differs",
        "50-tags",
    ],
)
def test_tags_accept(value, stored):
    assert patched(tags=value) == {"tags": stored}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([""], id="empty-tag"),
        pytest.param(["   "], id="blank-tag"),
        pytest.param(["x" * 51], id="51-chars"),
        pytest.param(["anxiety", "anxiety"], id="duplicate"),
        pytest.param(["anxiety", " anxiety "], id="duplicate-after-trim"),
        pytest.param([f"t{i}" for i in range(51)], id="51-tags"),
        pytest.param(["ok", None], id="null-item"),
        pytest.param(["ok", 5], id="number-item"),
        pytest.param(["ok", True], id="bool-item"),
        pytest.param(["ok", ["nested"]], id="list-item"),
        pytest.param(["ok", {"tag": "x"}], id="object-item"),
        pytest.param(["bad\x00tag"], id="nul"),
        pytest.param("anxiety", id="string-not-list"),
        pytest.param({"anxiety": True}, id="object-not-list"),
        pytest.param(None, id="null"),
    ],
)
def test_tags_reject(value):
    assert_rejected("tags", value, NULL if value is None else None)


def test_tags_limit_messages():
    assert patch_errors(tags=[f"t{i}" for i in range(51)]) == {
        "tags": ["Ensure this field has no more than 50 elements."]
    }
    assert patch_errors(tags=["a", "x" * 51]) == {
        "tags": ["Item 2: Ensure this field has no more than 50 characters."]
    }


# --- the write schemas as a whole -----------------------------------------------------------

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
READ_ONLY = {
    "wallet_balance": "1000.00",
    "sessions": [{"date": "2024-05-01T14:30:00Z"}],
    "profile_picture": "http://evil.example/x.png",
    "created_at": "2000-01-01T00:00:00Z",
    "updated_at": "2000-01-01T00:00:00Z",
}


@pytest.mark.parametrize("field", CREATE_REQUIRED)
def test_create_requires(field):
    body = create_body()
    del body[field]
    assert errors(PatientCreate, body) == {field: [REQUIRED]}


@pytest.mark.parametrize("field", CREATE_REQUIRED)
def test_create_refuses_null_for_required(field):
    assert errors(PatientCreate, create_body(**{field: None})) == {field: [NULL]}


@pytest.mark.parametrize("field", REPLACE_REQUIRED)
def test_replace_requires_all_but_password_and_id(field):
    body = create_body()
    del body["password"], body[field]
    assert errors(PatientReplace, body) == {field: [REQUIRED]}


@pytest.mark.parametrize("field", [*CREATE_REQUIRED, "tags"])
@pytest.mark.parametrize("schema", [PatientReplace, PatientUpdate])
def test_update_refuses_null_for_non_nullable(schema, field):
    body = create_body() if schema is PatientReplace else {}
    body[field] = None
    assert errors(schema, body) == {field: [NULL]}


def test_empty_create_lists_every_required_field():
    assert errors(PatientCreate, {}) == {field: [REQUIRED] for field in CREATE_REQUIRED}


def test_patch_writes_only_what_was_sent():
    assert patched() == {}
    assert patched(first_name="Ann") == {"first_name": "Ann"}
    assert patched(ssn=None, tags=["a"]) == {"ssn": None, "tags": ["a"]}


def test_replace_leaves_omitted_optional_fields_unset():
    body = create_body()
    del body["password"]
    written = PatientReplace.model_validate(body).model_dump(exclude_unset=True)
    assert set(written) == set(REPLACE_REQUIRED)


@pytest.mark.parametrize("schema", [PatientCreate, PatientReplace, PatientUpdate])
def test_read_only_and_unknown_fields_are_ignored(schema):
    body = create_body(**READ_ONLY, is_staff=True, password_hash="x", nickname="JD")
    written = schema.model_validate(body).model_dump(exclude_unset=True)
    assert not set(written) & {*READ_ONLY, "is_staff", "password_hash", "nickname"}


@pytest.mark.parametrize("body", [[], [create_body()], "x", 5, None])
@pytest.mark.parametrize("schema", [PatientCreate, PatientReplace, PatientUpdate])
def test_a_body_that_is_not_an_object_is_a_non_field_error(schema, body):
    assert list(errors(schema, body)) == ["non_field_errors"]


def test_errors_on_several_fields_are_reported_together():
    rendered = errors(
        PatientCreate, create_body(first_name="", sex="x", ssn="1", email="no", tags=[""])
    )
    assert set(rendered) == {"first_name", "sex", "ssn", "email", "tags"}


# --- the read schema ------------------------------------------------------------------------


def stored_patient(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "p_abc123",
        "password_hash": "$argon2id$...",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_no": "+14155550123",
        "allergies_and_medication": "",
        "date_of_birth": date(1990, 5, 17),
        "sex": "F",
        "ssn": None,
        "email": None,
        "address": None,
        "added_note": None,
        "about_note": None,
        "profile_picture": None,
        "tags": [],
        "wallet_balance": Decimal("0"),
        "sessions": [],
        "created_at": datetime(2024, 5, 1, 14, 30, tzinfo=UTC),
        "updated_at": datetime(2024, 5, 1, 14, 30, tzinfo=UTC),
    }
    row.update(overrides)
    return row


def test_read_has_every_field_and_no_password():
    shown = PatientRead.model_validate(stored_patient()).model_dump(mode="json")
    assert set(shown) == RESOURCE_FIELDS
    assert shown["date_of_birth"] == "1990-05-17"
    assert shown["tags"] == []
    assert shown["sessions"] == []


@pytest.mark.parametrize(
    ("balance", "shown"),
    [
        (Decimal("0"), "0.00"),
        (Decimal("0.00"), "0.00"),
        (Decimal("12.5"), "12.50"),
        (Decimal("99999999.99"), "99999999.99"),
    ],
)
def test_read_shows_wallet_balance_as_a_two_place_string(balance, shown):
    row = stored_patient(wallet_balance=balance)
    assert PatientRead.model_validate(row).model_dump(mode="json")["wallet_balance"] == shown
