"""Who may do what: the role matrix of API.md, in one place."""

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from app.auth.tokens import PrincipalKind

Role = Literal["admin", "therapist", "patient"]

# What a patient may change in their own record; anything else they send is a 403.
PATIENT_SELF_WRITABLE = frozenset(
    {
        "first_name",
        "last_name",
        "phone_no",
        "email",
        "address",
        "about_note",
        "password",
        "current_password",
        "reason",  # not a field: why, kept in the record's history
    }
)


class Identity:
    """Who a rule is about: a staff member or a patient, by id (a Principal, or a request's
    caller before the database has confirmed them)."""

    kind: PrincipalKind
    id: str  # the staff member's id, or the patient's id

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def account_ids(self) -> tuple[int | None, str | None]:
        """The account as the tables that belong to one name it: (staff id, patient id)."""
        return (int(self.id), None) if self.is_staff else (None, self.id)

    @property
    def key(self) -> str:
        """`staff:<id>` or `patient:<id>`: the caller in logs, rate limits and idempotency keys."""
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Principal(Identity):
    kind: PrincipalKind
    id: str
    name: str  # what the audit trail calls them: a username, or the patient's id
    role: Role


def staff_principal(staff_id: int, username: str, role: str) -> Principal:
    kind: Role = "admin" if role == "admin" else "therapist"
    return Principal(kind="staff", id=str(staff_id), name=username, role=kind)


def patient_principal(patient_id: str) -> Principal:
    return Principal(kind="patient", id=patient_id, name=patient_id, role="patient")


class Access(Enum):
    STAFF = "staff"  # admins and therapists
    ADMIN = "admin"
    STAFF_OR_SELF = "staff or the patient themself"
    ADMIN_OR_SELF = "admins or the patient themself"
    SIGNED_IN = "anyone signed in"


# The rules that depend on a staff member's role (admin or therapist), not only on whether
# the caller is staff or a patient.
DECIDED_BY_ROLE = frozenset({Access.ADMIN, Access.ADMIN_OR_SELF})


def may_use(principal: Principal, access: Access) -> bool:
    """The view-level check: may this role use the endpoint at all?"""
    if access is Access.ADMIN:
        return principal.role == "admin"
    if access is Access.ADMIN_OR_SELF:
        return principal.role in ("admin", "patient")
    return may_use_as(principal, access)


def may_use_as(identity: Identity, access: Access) -> bool:
    """The view-level check of a rule not DECIDED_BY_ROLE."""
    assert access not in DECIDED_BY_ROLE
    return identity.is_staff if access is Access.STAFF else True


def may_access_patient(identity: Identity, patient_id: str) -> bool:
    """The object-level check: staff see every patient, a patient only themself."""
    return identity.is_staff or identity.id == patient_id


def forbidden_fields(identity: Identity, fields: set[str]) -> set[str]:
    """Fields of a write this caller may not change."""
    return set() if identity.is_staff else fields - PATIENT_SELF_WRITABLE
