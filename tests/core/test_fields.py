"""The identifiers a superbill carries to an insurer: a provider's NPI (its check digit as CMS
specifies it) and an ICD-10-CM diagnosis code (kept in one form however it is typed)."""

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.fields import ICD10_FORMAT, NPI_CHECK_DIGIT, NPI_FORMAT, Icd10Code, Npi

NPI = TypeAdapter(Npi)
ICD10 = TypeAdapter(Icd10Code)
# CMS's worked example ("Requirements for the NPI check digit") and two more that pass the check.
VALID_NPIS = ["1234567893", "1003000126", "1982736450"]


def refusal(adapter: TypeAdapter[str], value: object) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    [problem] = caught.value.errors()
    return problem["type"], problem["msg"]


def luhn_valid(number: str) -> bool:
    """The Luhn check as a card number is checked: every second digit from the right doubled,
    digits summed, a multiple of 10. Written apart from the rule it checks."""
    total = 0
    for index, character in enumerate(reversed(number)):
        doubled = int(character) * (2 if index % 2 else 1)
        total += sum(int(digit) for digit in str(doubled))
    return total % 10 == 0


@pytest.mark.parametrize("npi", VALID_NPIS)
def test_a_valid_npi_is_accepted(npi):
    assert luhn_valid("80840" + npi)
    assert NPI.validate_python(npi) == npi
    assert NPI.validate_python(f"  {npi} ") == npi


@pytest.mark.parametrize("npi", VALID_NPIS)
def test_every_other_last_digit_is_refused(npi):
    for digit in "0123456789":
        if digit != npi[-1]:
            assert refusal(NPI, npi[:-1] + digit) == ("npi_check_digit", NPI_CHECK_DIGIT)


def test_any_one_digit_mistyped_is_refused():
    npi = VALID_NPIS[0]
    for position in range(10):
        for digit in "0123456789":
            typo = npi[:position] + digit + npi[position + 1 :]
            if typo != npi:
                assert refusal(NPI, typo)[0] == "npi_check_digit", typo


def test_every_check_digit_is_reached():
    """The rule agrees with the independent Luhn check over a run of NPIs of every check digit."""
    seen = set()
    for base in range(100_000_000, 100_000_200):
        for digit in "0123456789":
            npi = f"{base}{digit}"
            accepted = luhn_valid("80840" + npi)
            assert (NPI.validate_python(npi) == npi) if accepted else refusal(NPI, npi)[0]
            if accepted:
                seen.add(digit)
    assert seen == set("0123456789")


@pytest.mark.parametrize(
    "npi",
    [
        "123456789",
        "12345678930",
        "",
        "123456789O",
        "12345-6789",
        "1234 567893",
        "".join(chr(0xFF10 + int(digit)) for digit in "1234567893"),  # full-width
        "+234567893",
    ],
)
def test_an_npi_of_other_than_ten_digits_is_refused(npi):
    assert refusal(NPI, npi) == ("npi_format", NPI_FORMAT)


def test_an_npi_refuses_control_characters():
    assert refusal(NPI, "12345\x0067893")[0] == "null_characters"
    assert refusal(NPI, "123456\n7893")[0] == "control_characters"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("F41.1", "F41.1"),
        ("f41.1", "F41.1"),
        ("F411", "F41.1"),
        ("F33.0", "F33.0"),
        ("Z63.0", "Z63.0"),
        ("F32", "F32"),  # a category alone
        ("f32", "F32"),
        ("F43.10", "F43.10"),
        ("S72.001A", "S72.001A"),  # the longest: 3 and 4
        ("s72001a", "S72.001A"),
        ("U07.1", "U07.1"),
        ("C4A.0", "C4A.0"),  # a letter third
        ("T36.0X1A", "T36.0X1A"),  # a placeholder X
        (" F41.1 ", "F41.1"),
    ],
)
def test_an_icd10_code_is_kept_upper_case_with_its_dot(given, kept):
    assert ICD10.validate_python(given) == kept


@pytest.mark.parametrize(
    "code",
    [
        "",
        "F4",  # too short
        "F41.",  # a dot and nothing after it
        "F41.12345",  # five after the dot
        "F4112345",
        "41.1",  # no letter first
        "FF1.1",  # a letter second
        "F41..1",
        ".F411",
        "F-41.1",
        "F41 1",
        "F41.1!",
        "\uff2641.1",  # a full-width F
        "É41.1",
    ],
)
def test_what_is_no_icd10_code_is_refused(code):
    assert refusal(ICD10, code) == ("icd10_format", ICD10_FORMAT)


def test_the_rules_state_their_patterns_in_the_schema():
    assert NPI.json_schema()["pattern"] == "^[0-9]{10}$"
    assert ICD10.json_schema()["pattern"].startswith("^[A-Za-z][0-9]")
