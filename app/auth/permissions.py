"""Who may do what: the role matrix of API.md and docs/roles.md, in one place for both UIs (the
clinical record's table, app.auth.record, is applied through it)."""

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


def listed_patient(identity: Identity, wanted: str | None) -> str | None:
    """The patient a list of patients' rows is filtered by: staff any (None: every patient's),
    a patient only themself, whatever they ask (another patient's filter finds nothing: "")."""
    if identity.is_staff:
        return wanted
    return identity.id if wanted in (None, identity.id) else ""


def forbidden_fields(identity: Identity, fields: set[str]) -> set[str]:
    """Fields of a write this caller may not change."""
    return set() if identity.is_staff else fields - PATIENT_SELF_WRITABLE


def may_manage_therapist(principal: Principal, therapist_id: int) -> bool:
    """A therapist's name, hours, time off and calendar feed: admins change every therapist's,
    a therapist only their own."""
    if principal.role == "admin":
        return True
    return principal.role == "therapist" and principal.id == str(therapist_id)


def may_handle_appointments_of(principal: Principal, therapist_id: int) -> bool:
    """Booking and changing the appointments of a therapist: a therapist only their own, admins
    every therapist's (a patient's are bounded by `may_access_patient`)."""
    return principal.role != "therapist" or principal.id == str(therapist_id)


def may_set_npi(principal: Principal) -> bool:
    """A therapist's National Provider Identifier, as superbills name them: admins only."""
    return principal.role == "admin"


def may_override_availability(principal: Principal) -> bool:
    """Booking outside a therapist's hours or time off."""
    return principal.role == "admin"


def may_change_appointment(identity: Identity, *, cancelling: bool) -> bool:
    """A patient may cancel their appointment and change nothing else of it."""
    return identity.is_staff or cancelling


def may_cancel_late(identity: Identity) -> bool:
    """Cancelling within the notice period (which bills the late fee unless it is waived):
    staff, never a patient."""
    return identity.is_staff


def may_waive_fees(identity: Identity) -> bool:
    return identity.is_staff


def may_read_measures(principal: Principal, *, treats: bool) -> bool:
    """A patient's questionnaire responses: the patient themself, their treating therapist, and
    admins; nobody else."""
    if principal.role == "admin":
        return True
    if principal.role == "therapist":
        return treats
    return False  # a patient's own are allowed by the caller's own check (may_access_patient)


def may_acknowledge_alert(principal: Principal, *, treats: bool) -> bool:
    """A safety alert: acknowledged by the patient's treating therapist or an admin."""
    return principal.role == "admin" or (principal.role == "therapist" and treats)


def alerts_scope(principal: Principal) -> int | None:
    """Whose alerts a staff member lists: a therapist their own patients', admins every one
    (None)."""
    return None if principal.role == "admin" else int(principal.id)
