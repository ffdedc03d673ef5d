"""Minor units at their boundaries: two-decimal, zero-decimal and three-decimal currencies."""

from decimal import Decimal

import pytest

from app.processor.money import from_minor, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("0.00"), "USD", 0),
        (Decimal("0.01"), "USD", 1),
        (Decimal("12.34"), "usd", 1234),
        (Decimal("12.3"), "EUR", 1230),
        (Decimal("12.3400"), "EUR", 1234),
        (Decimal("99999999.99"), "USD", 9999999999),
        (Decimal("-5.00"), "USD", -500),
        (Decimal("1"), "JPY", 1),
        (Decimal("1500"), "jpy", 1500),
        (Decimal("1500.00"), "KRW", 1500),
        (Decimal("1.230"), "KWD", 1230),
        (Decimal("0.01"), "BHD", 10),
    ],
)
def test_to_minor(amount, currency, minor):
    assert to_minor(amount, currency) == minor
    assert type(to_minor(amount, currency)) is int


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        (Decimal("0.001"), "USD"),
        (Decimal("12.345"), "EUR"),
        (Decimal("0.5"), "JPY"),
        (Decimal("1.01"), "KRW"),
        (Decimal("1.234"), "KWD"),  # Stripe takes three-decimal amounts in steps of 0.010
        (Decimal("NaN"), "USD"),
        (Decimal("Infinity"), "USD"),
    ],
)
def test_to_minor_refuses_what_cannot_be_charged_exactly(amount, currency):
    with pytest.raises(ValueError, match="amount"):
        to_minor(amount, currency)


@pytest.mark.parametrize("amount", [12.34, 12, "12.34"])
def test_to_minor_takes_only_decimals(amount):
    with pytest.raises(TypeError):
        to_minor(amount, "USD")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (0, "USD", "0.00"),
        (1, "USD", "0.01"),
        (1234, "usd", "12.34"),
        (9999999999, "USD", "99999999.99"),
        (-500, "EUR", "-5.00"),
        (0, "JPY", "0"),
        (1500, "JPY", "1500"),
        (1230, "KWD", "1.230"),
    ],
)
def test_from_minor(minor, currency, text):
    amount = from_minor(minor, currency)
    assert isinstance(amount, Decimal)
    assert str(amount) == text
    assert to_minor(amount, currency) == minor


@pytest.mark.parametrize("minor", [12.0, True, "12", Decimal(12)])
def test_from_minor_takes_only_ints(minor):
    with pytest.raises(TypeError):
        from_minor(minor, "USD")
