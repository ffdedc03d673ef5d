"""The rules of a new password (app/auth/passwords.py), at their boundaries."""

from difflib import SequenceMatcher

import pytest

from app.auth.passwords import (
    MAX_SIMILARITY,
    check_similarity,
    common_passwords,
    not_common,
    too_similar,
)
from app.core.errors import ValidationFailed


def test_the_common_list_is_djangos_twenty_thousand():
    common = common_passwords()
    assert len(common) == 19_640
    assert {"password", "123456", "qwerty", "iloveyou"} <= common


@pytest.mark.parametrize("password", ["a-long-password", "correct-horse", "80215937461x"])
def test_uncommon_passwords_pass(password):
    assert not_common(password) == password


@pytest.mark.parametrize("password", ["Password", "PASSWORD1", " qwerty123 "])
def test_common_passwords_are_refused_whatever_their_case(password):
    with pytest.raises(ValueError, match="too common"):
        not_common(password)


def test_an_entirely_numeric_password_is_refused():
    with pytest.raises(ValueError, match="entirely numeric"):
        not_common("80215937461")


def _ratio(password: str, value: str) -> float:
    return SequenceMatcher(a=password.lower(), b=value.lower()).quick_ratio()


def test_similarity_is_refused_at_the_ratio_and_allowed_below_it():
    # "alexandra" and n more letters: the quick ratio is 0.72 at 7, 0.69 at 8.
    at = "alexandra" + "zqwvkmt"
    below = "alexandra" + "zqwvkmty"
    assert _ratio(at, "Alexandra") >= MAX_SIMILARITY > _ratio(below, "Alexandra")
    assert too_similar(at, [("first name", "Alexandra")]) == "first name"
    assert too_similar(below, [("first name", "Alexandra")]) is None


def test_each_word_of_an_attribute_counts():
    attributes = [("e-mail address", "maria.lopez@clinic.example")]
    assert too_similar("lopez-84", attributes) == "e-mail address"
    assert too_similar("sunflower-tractor", attributes) is None


def test_missing_attributes_are_skipped():
    assert too_similar("anything-at-all", [("e-mail address", None), ("first name", "")]) is None


def test_check_similarity_names_the_field_and_the_attribute():
    with pytest.raises(ValidationFailed) as refused:
        check_similarity("rivera-2024", [("username", "rivera")], field="new_password")
    assert refused.value.errors == {
        "new_password": ["The password is too similar to the username."]
    }
