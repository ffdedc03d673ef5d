"""Amounts in minor units, as Stripe takes them: cents for USD, yen for JPY. Never a float."""

from decimal import Decimal

# Stripe's zero-decimal currencies (its "Supported currencies" page): an amount is whole units.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# Three decimals, whose last minor digit Stripe requires to be 0.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit is (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: Decimal, currency: str) -> int:
    """`amount` in the currency's minor units; ValueError for an amount the processor cannot
    charge exactly (more decimal places than the currency has, or not finite)."""
    if not isinstance(amount, Decimal):
        raise TypeError("an amount is a Decimal, never a float")
    if not amount.is_finite():
        raise ValueError("an amount must be a finite number")
    places = exponent(currency)
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency.upper()} amounts have at most {places} decimal places")
    if places == 3 and minor % 10:
        raise ValueError(f"{currency.upper()} amounts are charged in multiples of 0.010")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    """The Decimal amount of `minor` units, with the currency's decimal places (1234 USD: 12.34)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError("an amount in minor units is an int")
    return Decimal(minor).scaleb(-exponent(currency))
