"""Who may do what in the clinical record (progress notes, psychotherapy notes, documents, the
patient record's history and deletion):
the table "The clinical record: who may do what" of docs/roles.md as data, and the one function
that applies it. tests/auth/test_record.py holds the docs' table and this one to each other.

The services find the caller's party to the record (a pure function of rows they have read
anyway, so a decision costs no round trip) and ask `decide`; the endpoints' caller aliases
take their coarse check (staff only, admins only…) from the same table (`access`)."""

from enum import Enum
from types import MappingProxyType

from app.auth.permissions import Access, Identity, Principal, may_use
from app.core.errors import NON_FIELD_ERRORS, NotFound, PermissionDenied, ValidationFailed


class Act(Enum):
    """A row of the table; its value is the row's label in docs/roles.md."""

    NOTES_READ = "progress notes: list, read signed"
    NOTES_READ_WITHHELD = "progress notes: read withheld"
    NOTES_READ_DRAFT = "progress notes: read drafts"
    NOTES_WRITE = "progress notes: write, PATCH a draft, sign, add addenda"
    NOTES_COSIGN = "progress notes: co-sign a signed note"
    NOTES_WITHHOLD = "progress notes: withhold / show again"
    PSYCHOTHERAPY_WRITE = "psychotherapy notes: write"
    PSYCHOTHERAPY_LIST = "psychotherapy notes: list"
    PSYCHOTHERAPY_READ = "psychotherapy notes: read"
    PSYCHOTHERAPY_AUTHORIZE = "psychotherapy notes: authorize a disclosure"
    PSYCHOTHERAPY_AUTHORIZATIONS = "psychotherapy notes: list, revoke authorizations"
    PSYCHOTHERAPY_DISCLOSE = "psychotherapy notes: read under an authorization"
    DOCUMENTS_LIST = "documents: list"
    DOCUMENTS_UPLOAD = "documents: upload"
    DOCUMENTS_READ = "documents: read metadata, download"
    DOCUMENTS_READ_WITHHELD = "documents: read withheld"
    DOCUMENTS_CHANGE = "documents: PATCH (title, category, withheld + reason)"
    DOCUMENTS_DELETE = "documents: DELETE"
    HISTORY_READ = "record history: list, read a version"
    HISTORY_RESTORE = "record history: restore a version"
    PATIENT_DELETE = "patients: DELETE (a soft delete)"
    DELETED_RESTORE = "deleted patients: list, restore"


class Party(Enum):
    """A column of the table: the caller as the record's subject and author make them."""

    ADMIN = "admin"
    AUTHOR = "therapist: the author"
    OTHER_THERAPIST = "another therapist"
    OWN_PATIENT = "patient: their own"
    OTHER_PATIENT = "patient: another's"


class Rule(Enum):
    """A cell: its value is the first word of the cell in docs/roles.md."""

    YES = "yes"
    INVALID = "400"  # a request the author may not make: a validation error, in its turn
    DENIED = "403"
    HIDDEN = "404"  # not found, as if it did not exist
    RECIPIENT = "recipient"  # only the recipient of an unexpired authorization; else 403


Y, E, D, H, R = Rule.YES, Rule.INVALID, Rule.DENIED, Rule.HIDDEN, Rule.RECIPIENT

# Columns: admin, the author, another therapist, patient: their own, patient: another's.
_ROWS: dict[Act, tuple[Rule, Rule, Rule, Rule, Rule]] = {
    Act.NOTES_READ: (Y, Y, Y, Y, D),
    Act.NOTES_READ_WITHHELD: (Y, Y, Y, H, D),
    Act.NOTES_READ_DRAFT: (Y, Y, H, H, D),
    Act.NOTES_WRITE: (D, Y, D, D, D),
    Act.NOTES_COSIGN: (Y, E, Y, D, D),
    Act.NOTES_WITHHOLD: (Y, Y, D, D, D),
    Act.PSYCHOTHERAPY_WRITE: (D, Y, Y, D, D),
    Act.PSYCHOTHERAPY_LIST: (D, Y, Y, D, D),
    Act.PSYCHOTHERAPY_READ: (D, Y, D, D, D),
    Act.PSYCHOTHERAPY_AUTHORIZE: (D, Y, D, D, D),
    Act.PSYCHOTHERAPY_AUTHORIZATIONS: (D, Y, D, D, D),
    Act.PSYCHOTHERAPY_DISCLOSE: (R, D, R, D, D),
    Act.DOCUMENTS_LIST: (Y, Y, Y, Y, D),
    Act.DOCUMENTS_UPLOAD: (Y, Y, Y, Y, D),
    Act.DOCUMENTS_READ: (Y, Y, Y, Y, D),
    Act.DOCUMENTS_READ_WITHHELD: (Y, Y, Y, H, D),
    Act.DOCUMENTS_CHANGE: (Y, Y, Y, D, D),
    Act.DOCUMENTS_DELETE: (Y, D, D, D, D),
    Act.HISTORY_READ: (Y, Y, Y, D, D),
    Act.HISTORY_RESTORE: (Y, D, D, D, D),
    Act.PATIENT_DELETE: (Y, D, D, D, D),
    Act.DELETED_RESTORE: (Y, D, D, D, D),
}
TABLE = MappingProxyType(
    {act: MappingProxyType(dict(zip(Party, rules, strict=True))) for act, rules in _ROWS.items()}
)

# Why a 400 cell is refused.
INVALID_BECAUSE = {
    Act.NOTES_COSIGN: "A co-signature must be another staff member's than the author's.",
}

_STAFF = (Party.ADMIN, Party.AUTHOR, Party.OTHER_THERAPIST)


def party(actor: Principal, *, patient_id: str | None, author_id: int | None = None) -> Party:
    """The caller's column for a record of `patient_id` by `author_id`. Without an author
    (a note to write, a list of one's own, documents) a therapist is the author."""
    if not actor.is_staff:
        return Party.OWN_PATIENT if actor.id == patient_id else Party.OTHER_PATIENT
    if author_id is not None and int(actor.id) == author_id:
        return Party.AUTHOR
    if actor.role == "admin":
        return Party.ADMIN
    return Party.AUTHOR if author_id is None else Party.OTHER_THERAPIST


def someone_elses(actor: Principal, *, patient_id: str | None) -> Party:
    """The caller's column for a record another staff member wrote."""
    return party(actor, patient_id=patient_id, author_id=0)  # no staff member's id is 0


def allows(act: Act, party: Party) -> bool:
    return TABLE[act][party] is Rule.YES


def allows_as(act: Act, identity: Identity, patient_id: str) -> bool:
    """`allows` for a caller whose role is not known yet: the act's staff columns agree."""
    if not identity.is_staff:
        own = identity.id == patient_id
        return allows(act, Party.OWN_PATIENT if own else Party.OTHER_PATIENT)
    rules = {TABLE[act][column] for column in _STAFF}
    assert len(rules) == 1, f"{act} depends on the staff member's role"
    return rules == {Rule.YES}


def permit(act: Act, party: Party, *, recipient: bool = False) -> None:
    """Refuse as the cell says: 403 or 404. A 400 cell is refused by `decide`, after the
    act's own checks of the request."""
    rule = TABLE[act][party]
    if rule is Rule.HIDDEN:
        raise NotFound
    if rule is Rule.DENIED or (rule is Rule.RECIPIENT and not recipient):
        raise PermissionDenied


def decide(act: Act, party: Party, *, recipient: bool = False) -> None:
    """Return if `party` may `act` (with `recipient`: is the recipient of an unexpired
    authorization); raise the cell's 403, 404 or 400 otherwise."""
    permit(act, party, recipient=recipient)
    if TABLE[act][party] is Rule.INVALID:
        raise ValidationFailed.on(NON_FIELD_ERRORS, INVALID_BECAUSE[act])


def access(act: Act) -> Access:
    """The endpoint's coarse check, made before its body is read: whom the table refuses
    whatever the record."""
    rules = TABLE[act]
    if rules[Party.OWN_PATIENT] is Rule.DENIED and rules[Party.OTHER_PATIENT] is Rule.DENIED:
        therapists = {rules[Party.AUTHOR], rules[Party.OTHER_THERAPIST]}
        return Access.ADMIN if therapists == {Rule.DENIED} else Access.STAFF
    if rules[Party.OTHER_PATIENT] is Rule.DENIED:
        return Access.STAFF_OR_SELF
    return Access.SIGNED_IN


def may(principal: Principal, act: Act) -> bool:
    """`access(act)` for a caller whose role is known, as the endpoint applies it: the admin's
    pages ask this, so both UIs refuse the same staff."""
    return may_use(principal, access(act))
