"""The role module's answers for therapists and appointments (docs/roles.md's tables), and that
every role question of the services and the admin is asked of it."""

import ast
from pathlib import Path

import pytest

from app.auth.permissions import (
    Principal,
    may_cancel_late,
    may_change_appointment,
    may_handle_appointments_of,
    may_manage_therapist,
    may_override_availability,
    may_waive_fees,
    patient_principal,
    staff_principal,
)
from app.auth.record import Act, may

APP = Path(__file__).parents[2] / "app"
ADMIN = staff_principal(1, "ada", "admin")
THERAPIST = staff_principal(7, "tess", "therapist")
PATIENT = patient_principal("p_abc123")
ROLES = {"admin", "therapist", "patient", "staff"}
# Where role questions were once answered apart from the role module (issue 24).
ROLE_ASKERS = [
    APP / "calendars" / "service.py",
    APP / "therapists" / "service.py",
    APP / "appointments" / "service.py",
    *sorted((APP / "admin").glob("*.py")),
]


@pytest.mark.parametrize(
    ("principal", "therapist_id", "expected"),
    [
        (ADMIN, 7, True),
        (ADMIN, 8, True),
        (THERAPIST, 7, True),
        (THERAPIST, 8, False),
        (PATIENT, 7, False),
        (staff_principal(7, "tess", "admin"), 8, True),
    ],
)
def test_who_manages_a_therapist(principal: Principal, therapist_id: int, expected: bool) -> None:
    assert may_manage_therapist(principal, therapist_id) is expected


@pytest.mark.parametrize(
    ("principal", "therapist_id", "expected"),
    [(ADMIN, 7, True), (THERAPIST, 7, True), (THERAPIST, 8, False), (PATIENT, 8, True)],
)
def test_whose_appointments_a_caller_handles(
    principal: Principal, therapist_id: int, expected: bool
) -> None:
    assert may_handle_appointments_of(principal, therapist_id) is expected


def test_the_appointments_table() -> None:
    assert [may_override_availability(p) for p in (ADMIN, THERAPIST, PATIENT)] == [
        True,
        False,
        False,
    ]
    assert [may_waive_fees(p) for p in (ADMIN, THERAPIST, PATIENT)] == [True, True, False]
    assert [may_cancel_late(p) for p in (ADMIN, THERAPIST, PATIENT)] == [True, True, False]
    assert may_change_appointment(PATIENT, cancelling=True)
    assert not may_change_appointment(PATIENT, cancelling=False)
    assert may_change_appointment(THERAPIST, cancelling=False)


@pytest.mark.parametrize("act", [Act.PATIENT_DELETE, Act.HISTORY_RESTORE, Act.DELETED_RESTORE])
def test_the_admins_record_acts_are_the_tables(act: Act) -> None:
    assert may(ADMIN, act)
    assert not may(THERAPIST, act)
    assert not may(PATIENT, act)


def _role_reads(path: Path) -> list[str]:
    """`x.role == …` and `x.kind == …` of a module: a role question asked outside the role
    module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
            named = {c.value for c in node.comparators if isinstance(c, ast.Constant)}
            if node.left.attr in ("role", "kind") and named & ROLES:
                found.append(f"{path}:{node.lineno}")
    return found


def test_no_service_or_admin_page_asks_a_role_itself() -> None:
    assert [hit for path in ROLE_ASKERS for hit in _role_reads(path)] == []
