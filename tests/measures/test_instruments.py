"""The instrument files: the shipped ones load with the codes they should carry, a bad file fails
naming itself and its problem, and a new instrument is a new file, not new code."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from app.measures import fhir
from app.measures.instruments import (
    INSTRUMENTS_DIR,
    InstrumentFileError,
    check_instruments,
    instruments,
    load_instruments,
)
from app.measures.scoring import InvalidAnswers, Trend, score, trend
from tests.measures.test_fhir import valid


def _phq9() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INSTRUMENTS_DIR / "phq9.json").read_text())
    return data


def test_the_shipped_instruments_load():
    check_instruments()
    assert set(instruments()) == {"phq9", "gad7"}
    phq9, gad7 = instruments()["phq9"], instruments()["gad7"]
    assert (phq9.questionnaire_loinc, phq9.total_loinc) == ("44249-1", "44261-6")
    assert (gad7.questionnaire_loinc, gad7.total_loinc) == ("69737-5", "70274-6")
    assert [item.loinc for item in phq9.items][:9] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7",
        "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert [item.loinc for item in gad7.items] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    for instrument in (phq9, gad7):
        assert [(o.value, o.text, o.loinc) for o in instrument.option_sets["frequency"]] == [
            (0, "Not at all", "LA6568-5"),
            (1, "Several days", "LA6569-3"),
            (2, "More than half the days", "LA6570-1"),
            (3, "Nearly every day", "LA6571-9"),
        ]
        assert instrument.scoring.remission_below == 5
        assert "Pfizer" in instrument.copyright
        assert instrument.lookback.startswith("Over the last 2 weeks")
    assert [(b.label, b.min, b.max) for b in phq9.bands] == [
        ("Minimal", 0, 4), ("Mild", 5, 9), ("Moderate", 10, 14),
        ("Moderately severe", 15, 19), ("Severe", 20, 27),
    ]  # fmt: skip
    assert [(b.label, b.min, b.max) for b in gad7.bands] == [
        ("Minimal", 0, 4), ("Mild", 5, 9), ("Moderate", 10, 14), ("Severe", 15, 21),
    ]  # fmt: skip
    # PHQ-9's difficulty question is asked, optional and not scored.
    difficulty = phq9.item("10")
    assert difficulty is not None
    assert (difficulty.scored, difficulty.required, difficulty.loinc) == (False, False, "69722-7")
    [rule] = phq9.safety_rules
    assert (rule.id, rule.item, rule.above) == ("phq9-item9", "9", 0)
    assert gad7.safety_rules == ()


def test_the_instrument_files_ship_in_the_package():
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"app.measures" = ["instruments/*.json"]' in pyproject
    assert Path(__file__).parents[2] / "app" / "measures" / "instruments" == INSTRUMENTS_DIR


DELETE = object()

# A change to phq9.json, and what the error says of it.
BROKEN: dict[str, tuple[list[Any], Any, str]] = {
    "unknown key": (["colour"], "blue", "colour: Extra inputs are not permitted"),
    "unknown item key": (["items", 0, "hint"], "x", "items.0.hint: Extra inputs"),
    "missing key": (["bands"], DELETE, "bands: Field required"),
    "band gap": (["bands", 1, "min"], 6, "'mild' starts at 6"),
    "band overlap": (["bands", 1, "min"], 4, "'mild' starts at 4"),
    "band short": (["bands", 4, "max"], 26, "the last one ends at 26, not 27"),
    "band label twice": (["bands", 4, "label"], "Mild", "two bands have the same label"),
    "rule item": (["safety_rules", 0, "item"], "11", "phq9-item9': no item '11'"),
    "rule never met": (["safety_rules", 0, "above"], 3, "always or never met"),
    "option value twice": (
        ["option_sets", "frequency", 1, "value"],
        0,
        "values must be unique and ascending",
    ),
    "option text twice": (["option_sets", "frequency", 3, "text"], "Not at all", "same text"),
    "option set unused": (
        ["option_sets", "spare"],
        [{"value": 0, "text": "x"}],
        "used by no item",
    ),
    "item option set": (["items", 2, "options"], "often", "item 3: no option set 'often'"),
    "link id twice": (["items", 2, "link_id"], "2", "two items have the same link_id"),
    "item numbers": (["items", 2, "number"], 4, "numbered 1, 2, 3"),
    "scored optional": (["items", 2, "required"], False, "item 3 is scored, so it must be"),
    "loinc check digit": (["items", 0, "loinc"], "44250-8", "44250-8 is not a LOINC code"),
    "scoring range": (["scoring", "max"], 30, "run from 0 to 27, not 0 to 30"),
    "remission": (["scoring", "remission_below"], 0, "remission_below must be above 0"),
    "method": (["scoring", "method"], "mean", "scoring.method: Input should be 'sum'"),
    "number as text": (["items", 0, "number"], "1", "items.0.number: Input should be a valid"),
    "id is not the file name": (["id"], "phq10", "its id is 'phq10'"),
}


@pytest.mark.parametrize(("path", "value", "problem"), BROKEN.values(), ids=BROKEN.keys())
def test_a_bad_file_fails_naming_itself_and_the_problem(
    tmp_path: Path, path: list[Any], value: Any, problem: str
):
    data = _phq9()
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    (tmp_path / "phq9.json").write_text(json.dumps(data))
    with pytest.raises(InstrumentFileError, match=r"^Instrument file phq9\.json: ") as raised:
        load_instruments(tmp_path)
    assert problem in str(raised.value)


def test_a_file_that_is_not_json_fails_naming_itself(tmp_path: Path):
    (tmp_path / "phq9.json").write_text('{"id": "phq9",')
    with pytest.raises(InstrumentFileError, match=r"^Instrument file phq9\.json: .*Invalid JSON"):
        load_instruments(tmp_path)


def test_a_folder_without_instruments_fails(tmp_path: Path):
    with pytest.raises(InstrumentFileError, match="No instrument files"):
        load_instruments(tmp_path)


SLEEP2 = {
    "id": "sleep2",
    "name": "SLEEP-2",
    "title": "A made-up two-item sleep scale",
    "version": "0.1",
    "copyright": "Made up for a test.",
    "lookback": "Over the last week:",
    "option_sets": {
        "amount": [
            {"value": 0, "text": "Never"},
            {"value": 2, "text": "Sometimes"},
            {"value": 4, "text": "Always"},
        ]
    },
    "items": [
        {"link_id": "wake", "number": 1, "text": "I woke in the night", "options": "amount"},
        {"link_id": "tired", "number": 2, "text": "I woke tired", "options": "amount"},
    ],
    "scoring": {"method": "sum", "min": 0, "max": 8},
    "bands": [
        {"id": "fine", "label": "Fine", "min": 0, "max": 3},
        {"id": "poor", "label": "Poor", "min": 4, "max": 8},
    ],
    "safety_rules": [
        {"id": "sleep2-wake", "item": "wake", "above": 2, "message": "Ask about the nights."}
    ],
}


def test_a_new_instrument_is_a_new_file(tmp_path: Path):
    for name in ("phq9.json", "gad7.json"):
        (tmp_path / name).write_bytes((INSTRUMENTS_DIR / name).read_bytes())
    (tmp_path / "sleep2.json").write_text(json.dumps(SLEEP2))

    sleep2 = load_instruments(tmp_path)["sleep2"]

    scored = score(sleep2, {"wake": 4, "tired": 2})
    assert (scored.total, scored.band.label) == (6, "Poor")
    assert [rule.id for rule in scored.rules_met] == ["sleep2-wake"]
    assert score(sleep2, {"wake": 2, "tired": 0}).rules_met == ()
    with pytest.raises(InvalidAnswers) as raised:
        score(sleep2, {"wake": 1, "tired": 0})
    assert raised.value.body() == {
        "answers": ["Item 1 (I woke in the night): 1 is not one of the answers 0, 2, 4."]
    }
    assert trend(sleep2, [6, 2]) == Trend(
        first=6, latest=2, change=-4, response=True, remission=None
    )

    response = fhir.MeasureResponse(
        id=7,
        patient_id="P00000001",
        instrument_id="sleep2",
        answers={"wake": 4, "tired": 2},
        authored=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
        administered_by=None,
        total=6,
        band="Poor",
    )
    base = "https://api.example.org"
    qr = valid(QuestionnaireResponse, fhir.questionnaire_response(sleep2, response, base_url=base))
    assert qr["questionnaire"] == "https://api.example.org/fhir/Questionnaire/sleep2|0.1"
    assert qr["item"][0]["answer"][0]["valueCoding"] == {
        "system": "https://api.example.org/fhir/CodeSystem/sleep2",
        "code": "amount-4",
        "display": "Always",
        "extension": [{"url": fhir.ORDINAL_VALUE, "valueDecimal": 4}],
    }
    valid(Questionnaire, fhir.questionnaire(sleep2, base_url=base))
    obs = valid(Observation, fhir.observation(sleep2, response, base_url=base))
    assert obs["code"]["coding"] == [
        {"system": "https://api.example.org/fhir/CodeSystem/sleep2", "code": "total"}
    ]
    assert (obs["valueInteger"], obs["interpretation"]) == (6, [{"text": "Poor"}])
