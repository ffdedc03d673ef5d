"""Scoring by the instruments' data: every band boundary of PHQ-9 and GAD-7, PHQ-9 item 9 at each
value, and answers refused item by item, never quoting another item's answer."""

import pytest

from app.core.errors import ValidationFailed
from app.measures.instruments import Instrument, instruments
from app.measures.scoring import InvalidAnswers, Trend, score, trend


def _phq9() -> Instrument:
    return instruments()["phq9"]


def _gad7() -> Instrument:
    return instruments()["gad7"]


def _answers(instrument: Instrument, total: int, *, keep: dict[str, int] | None = None):
    """Answers to the scored items that add up to `total`, with `keep`'s items as given."""
    answers = dict(keep or {})
    left = total - sum(answers.values())
    for item in instrument.items:
        if item.scored and item.link_id not in answers:
            answers[item.link_id] = min(3, left)
            left -= answers[item.link_id]
    assert left == 0, "no such answers"
    return answers


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "Minimal"), (4, "Minimal"), (5, "Mild"), (9, "Mild"), (10, "Moderate"),
        (14, "Moderate"), (15, "Moderately severe"), (19, "Moderately severe"),
        (20, "Severe"), (27, "Severe"),
    ],
)  # fmt: skip
def test_phq9_band_boundaries(total: int, band: str):
    answers = _answers(_phq9(), total)
    scored = score(_phq9(), answers)
    assert (scored.instrument_id, scored.total, scored.band.label) == ("phq9", total, band)
    assert bool(scored.rules_met) == (answers["9"] > 0)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "Minimal"), (4, "Minimal"), (5, "Mild"), (9, "Mild"), (10, "Moderate"),
        (14, "Moderate"), (15, "Severe"), (21, "Severe"),
    ],
)  # fmt: skip
def test_gad7_band_boundaries(total: int, band: str):
    scored = score(_gad7(), _answers(_gad7(), total))
    assert (scored.instrument_id, scored.total, scored.band.label) == ("gad7", total, band)
    assert scored.rules_met == ()


def test_a_band_has_its_range():
    band = score(_phq9(), _answers(_phq9(), 12)).band
    assert (band.id, band.label, band.min, band.max) == ("moderate", "Moderate", 10, 14)


@pytest.mark.parametrize("item9", [0, 1, 2, 3])
@pytest.mark.parametrize("others", [0, 24], ids=["lowest total", "highest total"])
def test_phq9_item9_above_0_meets_its_safety_rule_whatever_the_total(item9: int, others: int):
    scored = score(_phq9(), _answers(_phq9(), others + item9, keep={"9": item9}))
    assert scored.total == others + item9
    assert [rule.id for rule in scored.rules_met] == (["phq9-item9"] if item9 > 0 else [])
    for rule in scored.rules_met:
        assert "item 9" in rule.message
        assert str(item9) not in rule.message  # the message never says the answer


def test_the_unscored_difficulty_question_is_optional_and_adds_nothing():
    answers = _answers(_phq9(), 7)
    assert score(_phq9(), answers).total == 7
    assert score(_phq9(), {**answers, "10": 3}).total == 7
    with pytest.raises(InvalidAnswers) as raised:
        score(_phq9(), {**answers, "10": 4})
    assert raised.value.body()["answers"][0].startswith("Item 10 (If you checked off any")


def test_a_missing_item_is_named():
    answers = _answers(_phq9(), 10)
    del answers["9"]
    with pytest.raises(InvalidAnswers) as raised:
        score(_phq9(), answers)
    assert raised.value.body() == {
        "answers": [
            "Item 9 (Thoughts that you would be better off dead, or of hurting yourself in some "
            "way): an answer is required."
        ]
    }
    assert [problem.link_id for problem in raised.value.problems] == ["9"]
    assert isinstance(raised.value, ValidationFailed)
    assert raised.value.status_code == 400


def test_no_answers_name_every_item():
    with pytest.raises(InvalidAnswers) as raised:
        score(_gad7(), {})
    assert [problem.link_id for problem in raised.value.problems] == list("1234567")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (4, "4 is not one of the answers 0, 1, 2, 3."),
        (-1, "-1 is not one of the answers 0, 1, 2, 3."),
        (True, "a whole number is required, one of 0, 1, 2, 3."),
        (False, "a whole number is required, one of 0, 1, 2, 3."),
        (1.0, "a whole number is required, one of 0, 1, 2, 3."),
        ("1", "a whole number is required, one of 0, 1, 2, 3."),
        (None, "a whole number is required, one of 0, 1, 2, 3."),
    ],
)
def test_an_out_of_range_or_wrongly_typed_answer_is_named(value: object, why: str):
    answers: dict[str, object] = {**_answers(_gad7(), 13), "4": value}
    with pytest.raises(InvalidAnswers) as raised:
        score(_gad7(), answers)
    assert raised.value.body() == {"answers": [f"Item 4 (Trouble relaxing): {why}"]}


def test_an_error_quotes_no_other_answer():
    answers: dict[str, object] = {"1": 2, "2": 3, "3": 2, "4": 9, "5": 3, "6": 2, "7": 3}
    with pytest.raises(InvalidAnswers) as raised:
        score(_gad7(), answers)
    [message] = raised.value.body()["answers"]
    assert message == "Item 4 (Trouble relaxing): 9 is not one of the answers 0, 1, 2, 3."


def test_an_unknown_item_is_refused():
    answers: dict[str, object] = {**_answers(_gad7(), 3), "8": 1, "x" * 100: 0}
    with pytest.raises(InvalidAnswers) as raised:
        score(_gad7(), answers)
    assert raised.value.body() == {
        "answers": [
            'Item "8" is not an item of GAD-7.',
            f'Item "{"x" * 40}…" is not an item of GAD-7.',
        ]
    }


@pytest.mark.parametrize(
    ("totals", "expected"),
    [
        ([20], Trend(first=20, latest=20, change=0, response=False, remission=False)),
        ([20, 15, 10], Trend(first=20, latest=10, change=-10, response=True, remission=False)),
        ([20, 11], Trend(first=20, latest=11, change=-9, response=False, remission=False)),
        ([9, 4], Trend(first=9, latest=4, change=-5, response=True, remission=True)),
        ([8, 5], Trend(first=8, latest=5, change=-3, response=False, remission=False)),
        ([0, 0], Trend(first=0, latest=0, change=0, response=False, remission=True)),
        ([3, 12], Trend(first=3, latest=12, change=9, response=False, remission=False)),
    ],
)
def test_trend(totals: list[int], expected: Trend):
    assert trend(_phq9(), totals) == expected
    assert trend(_gad7(), totals) == expected


def test_no_totals_no_trend():
    assert trend(_phq9(), []) is None
