"""A stored response as FHIR R4: both resources validate against fhir.resources' R4B models and
carry LOINC's codes, the answers' ordinal values and who authored the response."""

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from app.measures import fhir
from app.measures.instruments import LOINC_SYSTEM, instruments
from app.measures.scoring import score

BASE = "https://api.example.org"
PHQ9 = {"1": 2, "2": 1, "3": 3, "4": 2, "5": 0, "6": 1, "7": 1, "8": 0, "9": 1, "10": 2}
GAD7 = {"1": 3, "2": 3, "3": 2, "4": 2, "5": 1, "6": 3, "7": 2}
Model = type[QuestionnaireResponse] | type[Observation] | type[Questionnaire]


def valid(model: Model, resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as the R4B model reads it back: what it validates, and nothing dropped."""
    read: dict[str, Any] = json.loads(model.model_validate(resource).model_dump_json())
    assert read == resource
    return read


def _response(instrument_id: str, answers: dict[str, int], administered_by: int | None = None):
    scored = score(instruments()[instrument_id], answers)
    return fhir.MeasureResponse(
        id=42,
        patient_id="P12345678",
        instrument_id=instrument_id,
        answers=answers,
        authored=datetime(2025, 3, 30, 1, 30, tzinfo=timezone(timedelta(hours=1))),
        administered_by=administered_by,
        total=scored.total,
        band=scored.band.label,
    )


def _ordinal(value: int) -> list[dict[str, Any]]:
    return [{"url": fhir.ORDINAL_VALUE, "valueDecimal": value}]


def test_a_phq9_response_as_a_questionnaire_response():
    response = _response("phq9", PHQ9)
    qr = valid(
        QuestionnaireResponse,
        fhir.questionnaire_response(instruments()["phq9"], response, base_url=BASE + "/"),
    )
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert (qr["id"], qr["status"]) == ("42", "completed")
    assert qr["questionnaire"] == f"{BASE}/fhir/Questionnaire/phq9|1.0.0"
    patient = {"reference": "Patient/P12345678"}
    assert qr["subject"] == qr["author"] == qr["source"] == patient
    assert qr["authored"] == "2025-03-30T01:30:00+01:00"
    assert [item["linkId"] for item in qr["item"]] == [str(n) for n in range(1, 11)]
    item9 = qr["item"][8]
    assert item9["text"].startswith("Thoughts that you would be better off dead")
    assert item9["answer"] == [
        {
            "valueCoding": {
                "system": LOINC_SYSTEM,
                "code": "LA6569-3",
                "display": "Several days",
                "extension": _ordinal(1),
            }
        }
    ]
    difficulty = qr["item"][9]["answer"][0]["valueCoding"]
    assert (difficulty["code"], difficulty["display"]) == ("LA6575-0", "Very difficult")


def test_an_unanswered_optional_item_is_left_out():
    answers = {key: value for key, value in PHQ9.items() if key != "10"}
    qr = valid(
        QuestionnaireResponse,
        fhir.questionnaire_response(
            instruments()["phq9"], _response("phq9", answers), base_url=BASE
        ),
    )
    assert [item["linkId"] for item in qr["item"]] == [str(n) for n in range(1, 10)]


def test_a_response_administered_in_session_is_authored_by_the_practitioner():
    response = _response("gad7", GAD7, administered_by=3)
    qr = valid(
        QuestionnaireResponse,
        fhir.questionnaire_response(instruments()["gad7"], response, base_url=BASE),
    )
    assert qr["author"] == {"reference": "Practitioner/3"}
    assert qr["subject"] == qr["source"] == {"reference": "Patient/P12345678"}


@pytest.mark.parametrize("value", [0, 1, 2, 3])
def test_every_answer_has_its_ordinal_value(value: int):
    response = _response("gad7", {**GAD7, "1": value})
    qr = valid(
        QuestionnaireResponse,
        fhir.questionnaire_response(instruments()["gad7"], response, base_url=BASE),
    )
    assert qr["item"][0]["answer"][0]["valueCoding"]["extension"] == _ordinal(value)


@pytest.mark.parametrize(
    ("instrument_id", "answers", "loinc", "total", "band", "note"),
    [
        ("phq9", PHQ9, "44261-6", 11, "Moderate", "PHQ-9 total 11: Moderate (10 to 14)"),
        ("gad7", GAD7, "70274-6", 16, "Severe", "GAD-7 total 16: Severe (15 to 21)"),
    ],
)
def test_the_total_as_an_observation(instrument_id, answers, loinc, total, band, note):
    response = _response(instrument_id, answers)
    obs = valid(
        Observation, fhir.observation(instruments()[instrument_id], response, base_url=BASE)
    )
    assert (obs["resourceType"], obs["status"]) == ("Observation", "final")
    assert obs["category"] == [
        {"coding": [{"system": fhir.OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
    ]
    assert obs["code"]["coding"] == [{"system": LOINC_SYSTEM, "code": loinc}]
    assert obs["valueInteger"] == total
    assert obs["subject"] == {"reference": "Patient/P12345678"}
    assert obs["effectiveDateTime"] == "2025-03-30T01:30:00+01:00"
    assert obs["interpretation"] == [{"text": band}]
    scale = "0 to 27" if instrument_id == "phq9" else "0 to 21"
    assert obs["note"] == [{"text": f"{note}, on a scale of {scale}."}]
    assert obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/42"}]


@pytest.mark.parametrize(("instrument_id", "loinc"), [("phq9", "44249-1"), ("gad7", "69737-5")])
def test_the_instrument_as_the_questionnaire_its_responses_name(instrument_id: str, loinc: str):
    instrument = instruments()[instrument_id]
    q = valid(Questionnaire, fhir.questionnaire(instrument, base_url=BASE))
    assert f"{q['url']}|{q['version']}" == fhir.questionnaire_url(instrument, BASE)
    assert q["code"] == [{"system": LOINC_SYSTEM, "code": loinc}]
    assert [item["linkId"] for item in q["item"]] == [item.link_id for item in instrument.items]
    assert q["item"][0]["code"] == [{"system": LOINC_SYSTEM, "code": instrument.items[0].loinc}]
    assert q["item"][0]["answerOption"][0] == {
        "valueCoding": {
            "system": LOINC_SYSTEM,
            "code": "LA6568-5",
            "display": "Not at all",
            "extension": _ordinal(0),
        }
    }


def test_a_response_of_another_instrument_or_without_a_timezone_is_refused():
    response = _response("gad7", GAD7)
    with pytest.raises(ValueError, match="not one of phq9"):
        fhir.observation(instruments()["phq9"], response, base_url=BASE)
    naive = fhir.MeasureResponse(
        id=1,
        patient_id="P12345678",
        instrument_id="gad7",
        answers=GAD7,
        authored=datetime(2025, 1, 1),
        administered_by=None,
        total=16,
        band="Severe",
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        fhir.questionnaire_response(instruments()["gad7"], naive, base_url=BASE)
