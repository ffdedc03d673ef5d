"""An amount of money is plain ASCII digits, an optional leading minus, at most 2 decimal places:
as a JSON string or a JSON number, whose literal is held to the same rule. Anything else is a
400 in the contract's words, and changes nothing."""

from decimal import Decimal

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings
from tests.factories import create_patient

JSON = {"content-type": "application/json"}
FORMAT = (
    "Enter the amount in plain digits, with an optional leading minus and at most 2 decimal "
    "places, e.g. 25.50 or -10."
)
NOT_A_NUMBER = "A valid number is required."
PLACES = "Ensure that there are no more than 2 decimal places."
ZERO = "Amount must not be zero."
TOO_MUCH = "Ensure this value is less than or equal to 1000000."
TOO_LITTLE = "Ensure this value is greater than or equal to -1000000."


def wallet(patient_id: str) -> str:
    return f"/api/patients/{patient_id}/update_wallet/"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('"1_000"', FORMAT),
        ('"1e2"', FORMAT),
        ('"1E2"', FORMAT),
        ('"\\u0661\\u0662"', FORMAT),  # Arabic-Indic digits
        ('"\\uff11"', FORMAT),  # a fullwidth digit
        ('"+5"', FORMAT),
        ('" 5"', FORMAT),
        ('"5 "', FORMAT),
        ('"5\\n"', FORMAT),
        ('"5."', FORMAT),
        ('".5"', FORMAT),
        ('"0x10"', NOT_A_NUMBER),
        ('"NaN"', NOT_A_NUMBER),
        ('"Infinity"', NOT_A_NUMBER),
        ('"-inf"', NOT_A_NUMBER),
        ('""', NOT_A_NUMBER),
        ('"abc"', NOT_A_NUMBER),
        ("true", NOT_A_NUMBER),
        ("[1]", NOT_A_NUMBER),
        ('{"a": 1}', NOT_A_NUMBER),
        ("null", "This field may not be null."),
        ('"-0"', ZERO),
        ("-0", ZERO),
        ("0.00", ZERO),
        ('"0.001"', PLACES),
        ("0.001", PLACES),
        ("1e2", FORMAT),  # a JSON number is held to its literal
        ("1E-2", FORMAT),
        ("1.0e1", FORMAT),
        ("1e400", FORMAT),
        ('"' + "9" * 5000 + '"', TOO_MUCH),
        ("9" * 5000, TOO_MUCH),  # past Python's 4300 digits for int(): the rule's words
        ("-" + "9" * 5000, TOO_LITTLE),
        ("9" * 5000 + ".5", TOO_MUCH),
        ('"1000000.01"', TOO_MUCH),
        ('"-1000000.01"', TOO_LITTLE),
    ],
)
async def test_an_amount_not_in_plain_digits_is_refused_and_changes_nothing(client, raw, message):
    patient = await create_patient(client)
    body = ('{"amount": ' + raw + "}").encode()
    response = await client.post(wallet(patient["id"]), content=body, headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"amount": [message]}
    after = (await client.get(f"/api/patients/{patient['id']}/")).json()
    assert after["wallet_balance"] == "0.00"
    assert after["updated_at"] == patient["updated_at"]


@pytest.mark.parametrize(
    ("raw", "balance"),
    [
        ('"25.50"', "25.50"),
        ('"25.5"', "25.50"),
        ('"007"', "7.00"),
        ('"1000000"', "1000000.00"),
        ("25.5", "25.50"),  # JSON numbers, as DRF's DecimalField takes them
        ("10", "10.00"),
        ("0.1", "0.10"),
        ("999999.99", "999999.99"),
        ("1000000", "1000000.00"),
    ],
)
async def test_an_amount_in_plain_digits_is_added(client, raw, balance):
    patient = await create_patient(client)
    body = ('{"amount": ' + raw + "}").encode()
    response = await client.post(wallet(patient["id"]), content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["wallet_balance"] == balance


async def test_a_negative_amount_debits_in_cents(client):
    patient = await create_patient(client)
    await client.post(wallet(patient["id"]), json={"amount": "10"})
    response = await client.post(wallet(patient["id"]), content=b'{"amount": -0.1}', headers=JSON)
    assert response.json()["wallet_balance"] == "9.90"


@pytest.mark.parametrize("fee", ["1e2", "1_000", "+5", "0.001", "-1", "100000000", "NaN", "\u0665"])
def test_a_fee_setting_is_an_amount_too(fee):
    with pytest.raises(ValidationError):
        Settings(
            environment="test",
            secret_key=SecretStr("x" * 40),
            phi_encryption_keys=SecretStr("k1:" + "a" * 43 + "="),
            noshow_fee=fee,
        )


def test_a_fee_in_plain_digits_is_read_as_cents():
    settings = Settings(
        environment="test",
        secret_key=SecretStr("x" * 40),
        phi_encryption_keys=SecretStr("k1:" + "a" * 43 + "="),
        late_cancellation_fee="12.5",
    )
    assert settings.late_cancellation_fee == Decimal("12.50")
