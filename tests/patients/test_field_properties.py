"""Properties of the field rules (app/patients/fields.py, app/core/fields.py) and the schemas
built from them, checked on generated input: what a rule accepts is stored as the rule says, what
it refuses gets the rule's message, and no input at all raises anything but a ValidationError.

Every rejection is rendered with the function the error handler uses, so the messages are the
ones a client reads.
"""

import contextlib
import re
import string
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.core.errors import validation_errors
from app.core.fields import DATETIME_RANGE
from app.core.phones import canonical_phone
from app.models.patient import PATIENT_ID as PATIENT_ID_RE
from app.models.patient import PHONE_NO as PHONE_RE
from app.patients.fields import SSN_RE
from app.patients.schemas import (
    PatientCreate,
    PatientListQuery,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
)
from app.wallet.schemas import WalletUpdate
from tests.contract import BAD_DATE_FORMAT, BAD_EMAIL, BAD_PHONE, BLANK, NUL_CHARS

FAST = settings(max_examples=150, deadline=None)

BAD_SSN = "SSN must be in the format 123-45-6789."
BAD_ID = 'Patient id must be "p_" followed by 6 lowercase letters or digits.'
NOT_UNIQUE = "Tags must be unique (after trimming)."
TOO_MANY_PLACES = "Ensure that there are no more than 2 decimal places."
DATETIME_FORMAT = "Datetime has wrong format. Use ISO 8601, e.g. 2024-05-01T14:30:00Z."
# Pydantic's own wording, a traceback's, or a stored value: never in a message to a client.
NOT_PLAIN_ENGLISH = re.compile(r"Input should|Value error|String should|pydantic|type=|Traceback")

# Any character at all, lone surrogates and NUL included.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=80)
# Characters a free-text field may hold: no NUL, no surrogate, no control character but line
# breaks and tabs.
STORABLE_CHAR = st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from("\t\n\r")
# Characters a one-line field may hold: no control character, no line or paragraph separator.
LINE_CHAR = st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.decimals()
    | ANY_TEXT
    | st.sampled_from(["", " ", "M", "2024-05-01", "2024-05-01T14:30:00Z", "+14155550123"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=3)
    ),
    max_leaves=10,
)


# Only ever compared with the names of the orderable columns: never sent to the database.
NEVER_STORED = {"ordering"}


def too_long(limit: int) -> str:
    return f"Ensure this field has no more than {limit} characters."


def today() -> date:
    return datetime.now(UTC).date()


def outcome(schema: type[BaseModel], body: Any) -> tuple[BaseModel | None, dict[str, list[str]]]:
    """The validated model, or None and the `{"field": ["message"]}` a client would get."""
    try:
        return schema.model_validate(body), {}
    except ValidationError as error:
        rendered = validation_errors(error.errors())
    assert rendered
    for messages in rendered.values():
        assert messages
        for message in messages:
            assert isinstance(message, str)
            assert message.strip()
            assert not NOT_PLAIN_ENGLISH.search(message), message
    return None, rendered


def patched(**fields: Any) -> dict[str, Any]:
    """What a PATCH with these fields writes (asserting it is accepted)."""
    model, errors = outcome(PatientUpdate, fields)
    assert model is not None, errors
    return model.model_dump(exclude_unset=True)


def patch_errors(**fields: Any) -> dict[str, list[str]]:
    model, errors = outcome(PatientUpdate, fields)
    assert model is None, f"accepted {fields!r}"
    return errors


def assert_storable(value: Any) -> None:
    """What PostgreSQL can hold: text without NUL that encodes as UTF-8."""
    if isinstance(value, str):
        assert "\x00" not in value
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_storable(key)
            assert_storable(item)
    elif isinstance(value, list):
        for item in value:
            assert_storable(item)


# --- any input at all -------------------------------------------------------------------------

SCHEMAS = [
    PatientCreate,
    PatientReplace,
    PatientUpdate,
    SessionCreate,
    TagAction,
    WalletUpdate,
    PatientListQuery,
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
@FAST
@given(data=st.data())
def test_any_input_is_accepted_storable_or_refused_in_plain_english(schema, data):
    fields = list(schema.model_fields)
    body = data.draw(
        st.dictionaries(st.sampled_from(fields) | ANY_TEXT, JSON_VALUES, max_size=len(fields))
        | JSON_VALUES
    )
    model, errors = outcome(schema, body)
    if model is None:
        assert set(errors) <= {*fields, "non_field_errors"}
        return
    assert_storable(model.model_dump(mode="json", exclude=NEVER_STORED))


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.__name__)
@FAST
@given(data=st.data())
def test_any_text_in_any_field_is_accepted_storable_or_refused_on_that_field(schema, data):
    field = data.draw(st.sampled_from(list(schema.model_fields)))
    value = data.draw(ANY_TEXT | st.lists(ANY_TEXT, max_size=3))
    model, errors = outcome(schema, {field: value})
    if model is None:
        assert set(errors) <= {*schema.model_fields, "non_field_errors"}
        return
    assert_storable(model.model_dump(mode="json", exclude=NEVER_STORED))


@FAST
@given(
    text=st.builds(
        lambda before, bad, after: before + bad + after,
        ANY_TEXT,
        st.just("\x00") | st.characters(categories=["Cs"]),
        ANY_TEXT,
    ),
    field=st.sampled_from(["first_name", "address", "email", "ssn", "phone_no", "tags"]),
)
def test_nul_or_a_lone_surrogate_is_always_refused(text, field):
    errors = patch_errors(**{field: [text] if field == "tags" else text})
    prefix = "Item 1: " if field == "tags" else ""
    surrogates = re.findall("[\ud800-\udfff]", text)
    if surrogates:
        message = f"Surrogate characters are not allowed: U+{ord(surrogates[0]):X}."
    else:
        message = NUL_CHARS
    assert errors == {field: [prefix + message]}


# --- phone numbers ----------------------------------------------------------------------------

PHONES = st.from_regex(PHONE_RE, fullmatch=True)


@FAST
@given(
    phone=PHONES,
    before=st.sampled_from(["", " ", "\t", "\u3000"]),
    after=st.sampled_from(["", " \n"]),
)
def test_a_phone_matching_the_rule_is_stored_trimmed_and_canonical(phone, before, after):
    assert patched(phone_no=before + phone + after) == {"phone_no": canonical_phone(phone)}


@FAST
@given(text=st.text(LINE_CHAR, max_size=20))
@example(text="+123456789012345 6")
@example(text="12345678")
@example(text="1234567890123456")
@example(text="++123456789")
@example(text="\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")  # Arabic-Indic digits
def test_any_other_phone_is_refused_with_the_rule(text):
    assume(not PHONE_RE.fullmatch(text.strip()))
    expected = BLANK if not text.strip() else BAD_PHONE
    assert patch_errors(phone_no=text) == {"phone_no": [expected]}


# --- ssn and patient id -----------------------------------------------------------------------


@FAST
@given(ssn=st.from_regex(SSN_RE, fullmatch=True))
def test_an_ssn_matching_the_rule_is_stored(ssn):
    assert patched(ssn=f" {ssn} ") == {"ssn": ssn}


@FAST
@given(text=st.text(LINE_CHAR | st.sampled_from("0123456789-"), max_size=14))
@example(text="123-45-678")
@example(text="123456789")
@example(text="\uff11\uff12\uff13-45-6789")  # fullwidth digits
def test_any_other_ssn_is_refused_with_the_rule(text):
    assume(not SSN_RE.fullmatch(text.strip()))
    assert patch_errors(ssn=text) == {"ssn": [BAD_SSN]}


@FAST
@given(patient_id=st.from_regex(PATIENT_ID_RE, fullmatch=True))
def test_a_patient_id_matching_the_rule_is_kept(patient_id):
    model, _ = outcome(PatientCreate, create_body(id=patient_id))
    assert model is not None
    assert model.model_dump()["id"] == patient_id


@FAST
@given(text=st.text(STORABLE_CHAR | st.sampled_from("p_abc123"), max_size=10))
@example(text="p_abc123\n")
@example(text=" p_abc123")
def test_any_other_patient_id_is_refused_with_the_rule(text):
    assume(not PATIENT_ID_RE.fullmatch(text))
    _, errors = outcome(PatientCreate, create_body(id=text))
    assert errors == {"id": [BAD_ID]}


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "password": "correct-horse",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_no": "+14155550123",
        "allergies_and_medication": "",
        "date_of_birth": "1990-05-17",
        "sex": "F",
    }
    body.update(overrides)
    return body


# --- names and free text ----------------------------------------------------------------------


@FAST
@given(text=st.text(LINE_CHAR, max_size=120))
def test_a_name_is_trimmed_and_holds_1_to_100_characters(text):
    trimmed = text.strip()
    if not trimmed:
        assert patch_errors(first_name=text) == {"first_name": [BLANK]}
    elif len(trimmed) > 100:
        assert patch_errors(first_name=text) == {"first_name": [too_long(100)]}
    else:
        assert patched(first_name=text) == {"first_name": trimmed}


@FAST
@given(
    field_and_limit=st.sampled_from(
        [
            ("allergies_and_medication", 5000),
            ("address", 500),
            ("added_note", 500),
            ("about_note", 250),
        ]
    ),
    length=st.integers(0, 5200),
    padding=st.sampled_from(["", "  ", "\n"]),
)
def test_free_text_may_be_empty_and_is_capped_after_trimming(field_and_limit, length, padding):
    field, limit = field_and_limit
    value = padding + "\u00e9" * length + padding
    if length > limit:
        assert patch_errors(**{field: value}) == {field: [too_long(limit)]}
    else:
        assert patched(**{field: value}) == {field: "\u00e9" * length}


# Control characters: C0, DEL, C1; and the Unicode line and paragraph separators.
CONTROL = st.characters(categories=["Cc", "Zl", "Zp"], exclude_characters="\x00")
ONE_LINE_FIELDS = ["first_name", "last_name", "reason"]
MULTILINE_FIELDS = ["allergies_and_medication", "address", "added_note", "about_note"]


@FAST
@given(control=CONTROL, field=st.sampled_from(ONE_LINE_FIELDS))
@example(control="\n", field="first_name")
@example(control="\r", field="last_name")
@example(control="\t", field="reason")
@example(control="\u2028", field="first_name")
@example(control="\x85", field="first_name")
def test_a_one_line_field_refuses_every_control_character(control, field):
    errors = patch_errors(**{field: f"Ann{control}Lee"})
    assert errors == {
        field: [
            f"Line breaks, tabs and other control characters are not allowed: U+{ord(control):04X}."
        ]
    }


@FAST
@given(
    control=st.characters(categories=["Cc"], exclude_characters="\x00\t\n\r"),
    field=st.sampled_from(MULTILINE_FIELDS),
)
@example(control="\x07", field="address")
@example(control="\x1b", field="allergies_and_medication")
@example(control="\x7f", field="added_note")
def test_free_text_keeps_line_breaks_and_tabs_and_refuses_other_controls(control, field):
    kept = "Line one\r\n\tLine two\nLine\u2028three"
    assert patched(**{field: kept}) == {field: kept}
    errors = patch_errors(**{field: f"a{control}b"})
    assert errors == {
        field: [
            "Control characters other than line breaks and tabs are not allowed: "
            f"U+{ord(control):04X}."
        ]
    }


@FAST
@given(length=st.integers(0, 80))
def test_a_password_holds_8_to_64_characters_untrimmed(length):
    password = " " + "\U0001f511" * length
    size = length + 1
    if 8 <= size <= 64:
        assert patched(password=password) == {"password": password}
    else:
        message = "Ensure this field has at least 8 characters." if size < 8 else too_long(64)
        assert patch_errors(password=password) == {"password": [message]}


# --- email ------------------------------------------------------------------------------------

LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=63)


@FAST
@given(
    local=st.text(string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=64),
    labels=st.lists(LABEL, min_size=1, max_size=5),
)
def test_an_email_is_valid_up_to_254_characters(local, labels):
    assume(not local.startswith(".") and not local.endswith(".") and ".." not in local)
    email = f"{local}@{'.'.join(labels)}.com"
    if len(email) > 254:
        assert patch_errors(email=email) == {"email": [too_long(254)]}
    else:
        assert patched(email=email) == {"email": email}


@FAST
@given(text=st.text(LINE_CHAR, max_size=40))
@example(text="jane@")
@example(text="@example.com")
@example(text="jane@@example.com")
@example(text="jane example@example.com")
def test_text_without_a_single_at_and_a_dotted_domain_is_not_an_email(text):
    assume(text.strip().count("@") != 1 or "." not in text.partition("@")[2])
    assert patch_errors(email=text) == {"email": [BAD_EMAIL]}


# --- tags -------------------------------------------------------------------------------------

TAG_TEXT = st.text(string.ascii_letters + " ", max_size=55)


@FAST
@given(tags=st.lists(TAG_TEXT, max_size=55))
def test_tags_are_trimmed_1_to_50_characters_unique_and_at_most_50(tags):
    trimmed = [t.strip() for t in tags]
    model, errors = outcome(PatientUpdate, {"tags": tags})
    if len(tags) > 50:
        assert errors == {"tags": ["Ensure this field has no more than 50 elements."]}
        return
    item_errors = [
        f"Item {i}: " + (BLANK if not t else too_long(50))
        for i, t in enumerate(trimmed, start=1)
        if not t or len(t) > 50
    ]
    if item_errors:
        assert model is None
        assert errors["tags"] == list(dict.fromkeys(item_errors))
    elif len(set(trimmed)) != len(trimmed):
        assert errors == {"tags": [NOT_UNIQUE]}
    else:
        assert model is not None
        assert model.model_dump(exclude_unset=True) == {"tags": trimmed}


@FAST
@given(tag=st.text(string.ascii_letters, min_size=1, max_size=48), spaces=st.text(" ", max_size=3))
def test_tags_equal_after_trimming_are_duplicates(tag, spaces):
    assert patch_errors(tags=[tag, spaces + tag + spaces]) == {"tags": [NOT_UNIQUE]}


@FAST
@given(tag=TAG_TEXT)
def test_an_action_tag_is_trimmed_1_to_50_characters(tag):
    model, errors = outcome(TagAction, {"tag": tag})
    trimmed = tag.strip()
    if not trimmed:
        assert errors == {"tag": [BLANK]}
    elif len(trimmed) > 50:
        assert errors == {"tag": [too_long(50)]}
    else:
        assert model is not None
        assert model.model_dump() == {"tag": trimmed}


# --- wallet amounts ---------------------------------------------------------------------------

CENTS = st.integers(-100_000_000, 100_000_000)


@FAST
@given(cents=CENTS, as_number=st.booleans())
def test_an_amount_of_whole_cents_within_a_million_is_accepted_unless_zero(cents, as_number):
    amount = Decimal(cents) / 100
    sent: Any = float(amount) if as_number else str(amount)
    model, errors = outcome(WalletUpdate, {"amount": sent})
    if cents == 0:
        assert errors == {"amount": ["Amount must not be zero."]}
    else:
        assert isinstance(model, WalletUpdate)
        assert model.amount == amount
        assert model.amount.as_tuple().exponent == -2


@FAST
@given(cents=st.integers(100_000_001, 10**15), negative=st.booleans())
def test_an_amount_beyond_a_million_is_refused(cents, negative):
    amount = Decimal(-cents if negative else cents) / 100
    message = (
        "Ensure this value is greater than or equal to -1000000."
        if negative
        else "Ensure this value is less than or equal to 1000000."
    )
    assert outcome(WalletUpdate, {"amount": str(amount)})[1] == {"amount": [message]}


@FAST
@given(
    value=st.decimals(
        min_value=-1_000_000, max_value=1_000_000, allow_nan=False, allow_infinity=False
    )
)
def test_an_amount_with_more_than_2_decimal_places_is_refused(value):
    assume(value != value.quantize(Decimal("0.01")))
    sent = format(value, "f")
    assert outcome(WalletUpdate, {"amount": sent})[1] == {"amount": [TOO_MANY_PLACES]}


@FAST
@given(
    value=st.sampled_from(["NaN", "-NaN", "sNaN", "Infinity", "-inf", "1,5", "0x10", "1e"])
    | st.text(string.printable, max_size=10)
)
def test_an_amount_that_is_not_a_finite_number_is_refused(value):
    with contextlib.suppress(ArithmeticError):  # not a number at all
        assume(not Decimal(value).is_finite())
    assert outcome(WalletUpdate, {"amount": value})[1] == {
        "amount": ["A valid number is required."]
    }


# --- dates ------------------------------------------------------------------------------------


@FAST
@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date.today() - timedelta(days=1)))
def test_a_birth_date_from_1900_to_today_is_stored(day):
    assert patched(date_of_birth=day.isoformat()) == {"date_of_birth": day}


@FAST
@given(day=st.dates(max_value=date(1899, 12, 31)))
def test_a_birth_date_before_1900_is_refused(day):
    assume(len(day.isoformat()) == 10)
    errors = patch_errors(date_of_birth=day.isoformat())
    assert errors == {"date_of_birth": ["Date of birth cannot be before 1900-01-01."]}


@FAST
@given(day=st.dates(min_value=date.today() + timedelta(days=2)))
def test_a_birth_date_in_the_future_is_refused(day):
    assume(len(day.isoformat()) == 10)
    errors = patch_errors(date_of_birth=day.isoformat())
    assert errors == {"date_of_birth": ["Date of birth cannot be in the future."]}


@FAST
@given(text=st.text(STORABLE_CHAR, max_size=12))
@example(text="1990-5-17")
@example(text="17/05/1990")
@example(text="1990-05-17T00:00")
def test_a_birth_date_not_written_yyyy_mm_dd_is_refused(text):
    assume(not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text))
    assert patch_errors(date_of_birth=text) == {"date_of_birth": [BAD_DATE_FORMAT]}


@FAST
@given(year=st.integers(1900, 9999), month=st.integers(1, 12), day=st.integers(29, 31))
def test_a_day_that_does_not_exist_is_refused(year, month, day):
    try:
        date(year, month, day)
    except ValueError:
        errors = patch_errors(date_of_birth=f"{year:04d}-{month:02d}-{day:02d}")
        assert errors == {"date_of_birth": ["Enter a valid date."]}


OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@FAST
@given(moment=st.datetimes(timezones=st.just(UTC) | OFFSETS))
@example(moment=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))))
@example(moment=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
@example(moment=datetime(2999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))))
@example(moment=datetime(1900, 1, 1, tzinfo=timezone(timedelta(hours=14))))
def test_a_session_date_is_the_same_instant_in_utc_or_out_of_range(moment):
    model, errors = outcome(SessionCreate, {"date": moment.isoformat()})
    if not 1900 <= moment.year <= 2999:
        assert errors == {"date": [DATETIME_RANGE]}
        return
    assert isinstance(model, SessionCreate)
    assert model.date == moment.astimezone(UTC)
    assert model.date.utcoffset() == timedelta(0)


@FAST
@given(moment=st.datetimes())
def test_a_session_date_without_an_offset_is_utc(moment):
    model, errors = outcome(SessionCreate, {"date": moment.isoformat()})
    if not 1900 <= moment.year <= 2999:
        assert errors == {"date": [DATETIME_RANGE]}
        return
    assert isinstance(model, SessionCreate)
    assert model.date == moment.replace(tzinfo=UTC)


@FAST
@given(value=st.integers() | st.floats() | st.booleans() | st.lists(st.integers(), max_size=2))
def test_a_session_date_that_is_not_a_string_is_refused(value):
    assert outcome(SessionCreate, {"date": value})[1] == {"date": [DATETIME_FORMAT]}


@FAST
@given(minutes=st.integers(-(10**20), 10**20))
def test_a_duration_is_1_to_480_minutes(minutes):
    model, errors = outcome(
        SessionCreate, {"date": "2024-05-01T14:30:00Z", "duration_minutes": minutes}
    )
    if 1 <= minutes <= 480:
        assert isinstance(model, SessionCreate)
        assert model.duration_minutes == minutes
    elif minutes < 1:
        assert errors == {"duration_minutes": ["Ensure this value is greater than or equal to 1."]}
    else:
        assert errors == {"duration_minutes": ["Ensure this value is less than or equal to 480."]}


# --- list filters -----------------------------------------------------------------------------


@FAST
@given(text=st.text(STORABLE_CHAR, max_size=300), field=st.sampled_from(["name", "phone", "email"]))
def test_a_list_filter_is_at_most_254_characters(text, field):
    model, errors = outcome(PatientListQuery, {field: text})
    if len(text.strip()) > 254:
        assert errors == {field: [too_long(254)]}
    else:
        assert isinstance(model, PatientListQuery)
        assert getattr(model, field) == text.strip()


@FAST
@given(tags=st.lists(st.text(string.ascii_letters, max_size=5), max_size=60))
def test_a_list_filters_by_at_most_50_tags(tags):
    model, errors = outcome(PatientListQuery, {"tag": tags})
    if len(tags) > 50:
        assert errors == {"tag": ["Ensure this field has no more than 50 elements."]}
    else:
        assert isinstance(model, PatientListQuery)
        assert model.tag == [t for t in tags if t]
