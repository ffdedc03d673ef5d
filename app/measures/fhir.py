"""A stored response as FHIR R4 JSON: a QuestionnaireResponse with its answers, and an Observation
with its total, derived from it; and an instrument as the Questionnaire they refer to (its
canonical URL is under the service's address). Codes are LOINC's where the instrument file gives
them; an instrument without them gets codes of its own under the service's address."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.measures.instruments import LOINC_SYSTEM, AnswerOption, Instrument

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@dataclass(frozen=True, slots=True)
class MeasureResponse:
    """What the FHIR resources are made of: a stored response's row, decrypted."""

    id: int | str
    patient_id: str
    instrument_id: str
    answers: Mapping[str, int]
    authored: datetime
    administered_by: int | str | None
    """The practitioner who administered it in session; None: the patient answered themself."""
    total: int
    band: str
    """The band's label, as scored when it was stored."""


def questionnaire_url(instrument: Instrument, base_url: str) -> str:
    """The canonical URL of the instrument's Questionnaire, with its version."""
    return f"{base_url.rstrip('/')}/fhir/Questionnaire/{instrument.id}|{instrument.version}"


def _code_system(instrument: Instrument, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/fhir/CodeSystem/{instrument.id}"


def _coding(
    instrument: Instrument, option: AnswerOption, options: str, base_url: str
) -> dict[str, Any]:
    coding: dict[str, Any] = (
        {"system": LOINC_SYSTEM, "code": option.loinc}
        if option.loinc
        else {"system": _code_system(instrument, base_url), "code": f"{options}-{option.value}"}
    )
    coding["display"] = option.text
    coding["extension"] = [{"url": ORDINAL_VALUE, "valueDecimal": option.value}]
    return coding


def questionnaire(instrument: Instrument, *, base_url: str) -> dict[str, Any]:
    """The instrument as an R4 Questionnaire: what questionnaire_url names."""
    items: list[dict[str, Any]] = []
    for item in instrument.items:
        entry: dict[str, Any] = {"linkId": item.link_id, "prefix": f"{item.number}."}
        if item.loinc:
            entry["code"] = [{"system": LOINC_SYSTEM, "code": item.loinc}]
        entry |= {
            "text": item.text,
            "type": "choice",
            "required": item.required,
            "answerOption": [
                {"valueCoding": _coding(instrument, option, item.options, base_url)}
                for option in instrument.options_of(item)
            ],
        }
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument.id,
        "url": questionnaire_url(instrument, base_url).partition("|")[0],
        "version": instrument.version,
        "name": instrument.id.upper(),
        "title": f"{instrument.title} ({instrument.name})",
        "status": "active",
        "subjectType": ["Patient"],
        "copyright": instrument.copyright,
        "description": instrument.lookback,
    }
    if instrument.questionnaire_loinc:
        resource["code"] = [{"system": LOINC_SYSTEM, "code": instrument.questionnaire_loinc}]
    resource["item"] = items
    return resource


def _patient(response: MeasureResponse) -> dict[str, str]:
    return {"reference": f"Patient/{response.patient_id}"}


def _datetime(moment: datetime) -> str:
    text = moment.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _check(instrument: Instrument, response: MeasureResponse) -> None:
    if response.instrument_id != instrument.id:
        raise ValueError(f"a {response.instrument_id} response is not one of {instrument.id}")
    if response.authored.tzinfo is None:
        raise ValueError("authored must be timezone-aware")


def questionnaire_response(
    instrument: Instrument, response: MeasureResponse, *, base_url: str
) -> dict[str, Any]:
    """The response as an R4 QuestionnaireResponse, `ordinalValue` on each answer's coding."""
    _check(instrument, response)
    items: list[dict[str, Any]] = []
    for item in instrument.items:
        value = response.answers.get(item.link_id)
        option = None if value is None else instrument.option(item, value)
        if option is None:
            continue
        coding = _coding(instrument, option, item.options, base_url)
        items.append(
            {"linkId": item.link_id, "text": item.text, "answer": [{"valueCoding": coding}]}
        )
    author = (
        _patient(response)
        if response.administered_by is None
        else {"reference": f"Practitioner/{response.administered_by}"}
    )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.id),
        "questionnaire": questionnaire_url(instrument, base_url),
        "status": "completed",
        "subject": _patient(response),
        "authored": _datetime(response.authored),
        "author": author,
        "source": _patient(response),
        "item": items,
    }


def observation(
    instrument: Instrument, response: MeasureResponse, *, base_url: str
) -> dict[str, Any]:
    """The response's total as an R4 Observation (category survey), derived from its
    QuestionnaireResponse."""
    _check(instrument, response)
    code = (
        {"system": LOINC_SYSTEM, "code": instrument.total_loinc}
        if instrument.total_loinc
        else {"system": _code_system(instrument, base_url), "code": "total"}
    )
    band = next((band for band in instrument.bands if band.label == response.band), None)
    note = (
        f"{instrument.name} total {response.total}: {response.band}"
        + ("" if band is None else f" ({band.min} to {band.max})")
        + f", on a scale of {instrument.scoring.min} to {instrument.scoring.max}."
    )
    return {
        "resourceType": "Observation",
        "id": f"{response.id}-total",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [code], "text": f"{instrument.name} total score"},
        "subject": _patient(response),
        "effectiveDateTime": _datetime(response.authored),
        "valueInteger": response.total,
        "interpretation": [{"text": response.band}],
        "note": [{"text": note}],
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{response.id}"}],
    }
