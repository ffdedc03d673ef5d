"""The one id parser (app.core.ids): an id outside its column's range names nothing."""

import pytest

from app.core.ids import BIGINT_MAX, INTEGER_MAX, id_maximum, parse_id
from app.models.audit import AuditEvent
from app.models.patient import Patient
from app.models.scheduling import Appointment, TherapistHours
from app.models.staff import Staff


def test_a_columns_range_is_read_from_its_type() -> None:
    assert id_maximum(Staff.id) == INTEGER_MAX == 2**31 - 1
    assert id_maximum(TherapistHours.id) == INTEGER_MAX
    assert id_maximum(AuditEvent.id) == BIGINT_MAX == 2**63 - 1
    assert id_maximum(Appointment.id) == BIGINT_MAX
    with pytest.raises(AssertionError):
        id_maximum(Patient.id)  # a patient's id is text: is_patient_id checks it


@pytest.mark.parametrize(
    ("text", "maximum", "expected"),
    [
        ("1", INTEGER_MAX, 1),
        ("2147483647", INTEGER_MAX, 2**31 - 1),
        ("2147483648", INTEGER_MAX, None),
        ("9223372036854775807", BIGINT_MAX, 2**63 - 1),
        ("9223372036854775808", BIGINT_MAX, None),
        ("99999999999999999999999", BIGINT_MAX, None),
        ("0", BIGINT_MAX, None),
        ("-1", BIGINT_MAX, None),
        ("", BIGINT_MAX, None),
        ("1e3", BIGINT_MAX, None),
        ("١٢", BIGINT_MAX, None),  # Arabic-Indic digits: isdigit(), not an id
    ],
)
def test_parse_id(text: str, maximum: int, expected: int | None) -> None:
    assert parse_id(text, maximum) == expected
