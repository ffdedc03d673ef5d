"""The canonical form of a phone number (app.core.phones): E.164 through the phonenumbers
library, never a refusal of a number API.md's rule accepts."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.core.phones import canonical_forms, canonical_phone
from app.models.patient import PHONE_NO

NUMBERS = st.from_regex(PHONE_NO, fullmatch=True)


@pytest.mark.parametrize(
    ("typed", "region", "canonical"),
    [
        ("4155550100", "US", "+14155550100"),
        ("14155550100", "US", "+14155550100"),
        ("+14155550100", "US", "+14155550100"),
        ("011442071838750", "US", "+442071838750"),  # the US international prefix
        ("02071838750", "GB", "+442071838750"),  # a national number of the region
        ("+4402071838750", "US", "+442071838750"),  # a trunk prefix after the country code
        ("447911123456", "US", "+447911123456"),  # no "+", not a US number: international
        ("999123456789", "US", "+999123456789"),  # no country: "+" and the digits
        ("000000000", "US", "+000000000"),
    ],
)
def test_canonical_forms_of_typed_numbers(typed, region, canonical):
    assert canonical_phone(typed, region) == canonical


@settings(max_examples=2000, deadline=None)
@given(number=NUMBERS, region=st.sampled_from(["US", "GB", "DE", "IN", "ZA"]))
@example(number="27004209502", region="US")  # +27 0…: a trunk prefix stripped twice
def test_a_number_the_rule_accepts_has_a_canonical_form_that_is_its_own(number, region):
    canonical = canonical_phone(number, region)
    assert PHONE_NO.fullmatch(canonical)
    assert canonical.startswith("+")
    assert canonical_phone(canonical, region) == canonical


def test_the_default_region_is_the_setting(monkeypatch):
    from app.core.config import get_settings

    monkeypatch.setenv("PHONE_DEFAULT_REGION", "gb")
    get_settings.cache_clear()
    try:
        assert get_settings().phone_default_region == "GB"
        assert canonical_phone("02071838750") == "+442071838750"
    finally:
        get_settings.cache_clear()


def test_an_unknown_region_setting_is_refused():
    from pydantic import ValidationError

    from app.core.config import Settings

    with pytest.raises(ValidationError, match="phone numbering"):
        Settings(phone_default_region="XX")


def test_numbers_one_once_canonical_are_reported_and_left():
    changes, clashes = canonical_forms(
        [
            ("p_aaaaaa", "+14155550100"),
            ("p_bbbbbb", "14155550100"),
            ("p_cccccc", "4155550100"),
            ("p_dddddd", "4155550101"),
            ("p_eeeeee", "+14155550102"),
        ],
        "US",
    )
    assert changes == {"p_dddddd": "+14155550101"}
    assert clashes == [["p_aaaaaa", "p_bbbbbb", "p_cccccc"]]
