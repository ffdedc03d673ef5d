"""A patient's record history: every write of a patient writes its version in the same statement
(a CTE beside the UPDATE or INSERT), so a change and its version commit together, in the write's
one round trip, and no change is ever without one."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, cast

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.sql.selectable import NamedFromClause

from app.db.counting import Count, Counting
from app.db.query import Executor, Query
from app.models.history import PatientVersion
from app.models.patient import KEPT, Patient
from app.patients.schemas import (
    PatientVersionRow,
    VersionChangeRow,
    VersionNumberRow,
    VersionPhiRow,
)
from app.requests.work import UnitOfWork

VERSIONS = cast(Table, PatientVersion.__table__)
PATIENTS = cast(Table, Patient.__table__)
# What a version says of its change, and (every other column) what it keeps of the record: every
# field but the password hash.
METADATA = ("version", "at", "actor", "actor_kind", "action", "reason", "changed", "restored_from")
RECORD = tuple(column.key for column in VERSIONS.c if column.key not in (*METADATA, "patient_id"))
# What restoring a version brings back: the fields a PUT writes. The wallet (its ledger), the
# sessions (append-only) and the picture (a replaced one's file is gone) stay as they are.
RESTORABLE = tuple(
    name for name in RECORD if name not in ("profile_picture", "wallet_balance", "sessions")
)
# A column as the history names it when it changes.
FIELD_NAMES = {"password_hash": "password"}
CHANGED = "changed_fields"  # the label of a write's computed list of changed fields


@dataclass(frozen=True)
class Change:
    """Who makes a change to a patient's record, and why (optional)."""

    actor: str
    actor_kind: str
    reason: str | None = None

    @classmethod
    async def by(cls, work: UnitOfWork, reason: str | None = None) -> "Change":
        """A change by the work's actor (its caller found first, as its write would)."""
        await work.caller_checked()
        return cls(work.entry.actor, work.entry.actor_kind, reason)

    def params(self) -> dict[str, Any]:
        return {"actor": self.actor, "actor_kind": self.actor_kind, "change_reason": self.reason}


def field_name(column: str) -> str:
    return FIELD_NAMES.get(column, column)


def changed_fields(previous: NamedFromClause, columns: Sequence[str]) -> ColumnElement[Any]:
    """The names of the `columns` whose new value (the UPDATE's row) differs from `previous`'s,
    for its RETURNING. An encrypted field sent is listed: its ciphertext is new each time."""
    flags = [
        case(
            (PATIENTS.c[name].is_distinct_from(previous.c[name]), literal(field_name(name))),
            else_=null(),
        )
        for name in sorted(columns)
    ]
    return type_coerce(func.array_remove(array(flags), null()), ARRAY(Text)).label(CHANGED)


def version_of(
    written: CTE,
    action: str,
    changed: Sequence[str] | None = None,
    *,
    restored_from: bool = False,
    reason: ColumnElement[Any] | None = None,
) -> CTE:
    """The INSERT of the version a write (`written`: its CTE, returning the patient) leaves, as a
    CTE to add to the write's statement. `changed` names the fields the write changes; None
    takes them from the write's own CHANGED column."""
    listed = written.c[CHANGED] if changed is None else literal(list(changed), ARRAY(Text))
    values = {
        "patient_id": written.c.id,
        "version": written.c.version,
        "at": written.c.updated_at,
        "actor": bindparam("actor", type_=VERSIONS.c.actor.type),
        "actor_kind": bindparam("actor_kind", type_=VERSIONS.c.actor_kind.type),
        "action": literal(action, VERSIONS.c.action.type),
        "reason": bindparam("change_reason", type_=VERSIONS.c.reason.type)
        if reason is None
        else reason,
        "changed": listed,
        "restored_from": bindparam("restored_from", type_=BigInteger)
        if restored_from
        else sql_cast(null(), BigInteger),
        **{name: written.c[name] for name in RECORD},
    }
    row = select(*values.values())
    return insert(VERSIONS).from_select(list(values), row).cte(f"version_{action}")


def recorded(
    write: Any,
    returned: Sequence[str],
    action: str,
    changed: Sequence[str] | None = None,
    *,
    restored_from: bool = False,
) -> Select[Any]:
    """`write` (an INSERT or UPDATE of one patient, returning `returned` and whatever
    `version_of` needs) with its version written by the same statement; it returns `returned`."""
    written = write.cte("written")
    version = version_of(written, action, changed, restored_from=restored_from)
    return select(*(written.c[name] for name in returned)).add_cte(version)


_HISTORY = Query(
    select(*(VERSIONS.c[name] for name in METADATA))
    .where(VERSIONS.c.patient_id == bindparam("id"))
    .order_by(VERSIONS.c.version.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    VersionChangeRow,
)
_HISTORY_COUNT = Counting(
    select(VERSIONS.c.version).where(VERSIONS.c.patient_id == bindparam("id"))
)
# A version and the one before it (what its changes are from), of a patient not deleted.
_VERSION = Query(
    select(VERSIONS)
    .join(Patient, Patient.id == VERSIONS.c.patient_id)
    .where(
        VERSIONS.c.patient_id == bindparam("id"),
        VERSIONS.c.version <= bindparam("version", type_=BigInteger),
        KEPT,
    )
    .order_by(VERSIONS.c.version.desc())
    .limit(2),
    PatientVersionRow,
)


# Versions with the record they left, newest first, of a patient not deleted (the admin's page).
_RECORDS = Query(
    select(VERSIONS)
    .join(Patient, Patient.id == VERSIONS.c.patient_id)
    .where(VERSIONS.c.patient_id == bindparam("id"), KEPT)
    .order_by(VERSIONS.c.version.desc())
    .offset(bindparam("offset"))
    .limit(bindparam("limit")),
    PatientVersionRow,
)
PHI: Final = ("ssn", "allergies_and_medication", "sessions")


def encrypted_under_other_key(column: Any, current: str) -> ColumnElement[bool]:
    """An encrypted column (or, for the sessions, a session's notes) not under the key whose
    values are like `current`."""
    if column.key == "sessions":
        session = func.jsonb_array_elements(column).table_valued(sql_column("value", JSONB))
        notes = session.c.value["notes"].astext
        return exists(select(literal(1)).select_from(session).where(notes.not_like(current)))
    return and_(column.is_not(None), type_coerce(column, Text).not_like(current))


@lru_cache(maxsize=8)
def _encrypted_under_other_keys(key_id: str) -> Query[VersionPhiRow]:
    current = f"v1:{key_id}:%"
    stale = [encrypted_under_other_key(VERSIONS.c[name], current) for name in PHI]
    return Query(
        select(VERSIONS.c.patient_id, VERSIONS.c.version, *(VERSIONS.c[name] for name in PHI))
        .where(or_(*stale))
        .order_by(VERSIONS.c.patient_id, VERSIONS.c.version)
        .limit(bindparam("limit")),
        VersionPhiRow,
    )


_REENCRYPT = Query(
    update(VERSIONS)
    .where(
        VERSIONS.c.patient_id == bindparam("id"),
        VERSIONS.c.version == bindparam("version", type_=BigInteger),
    )
    .values({name: bindparam(name, type_=VERSIONS.c[name].type) for name in PHI})
    .returning(VERSIONS.c.version),
    VersionNumberRow,
)


class HistoryRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def page(self, patient_id: str, *, offset: int, limit: int) -> list[VersionChangeRow]:
        """The patient's versions, newest first (what changed, not the record itself)."""
        return await self.executor.fetch(_HISTORY, id=patient_id, offset=offset, limit=limit)

    async def count(self, patient_id: str, *, exact_up_to: int | None) -> Count:
        return await _HISTORY_COUNT.count(
            self.executor, {"id": patient_id}, exact_up_to=exact_up_to
        )

    async def version(
        self, patient_id: str, version: int
    ) -> tuple[PatientVersionRow, PatientVersionRow | None] | None:
        """One version of a patient not deleted, and the version before it (None for the
        first); None when there is no such version."""
        rows = await self.executor.fetch(_VERSION, id=patient_id, version=version)
        if not rows or rows[0]["version"] != version:
            return None
        return rows[0], rows[1] if len(rows) > 1 else None

    async def records(self, patient_id: str, *, offset: int, limit: int) -> list[PatientVersionRow]:
        """Versions with the record each left, newest first."""
        return await self.executor.fetch(_RECORDS, id=patient_id, offset=offset, limit=limit)

    async def encrypted_under_other_keys(self, key_id: str, *, limit: int) -> list[VersionPhiRow]:
        """Versions with a PHI field under a key other than `key_id`, those fields decrypted."""
        return await self.executor.fetch(_encrypted_under_other_keys(key_id), limit=limit)

    async def reencrypt(self, versions: list[VersionPhiRow]) -> None:
        """Write their PHI fields again, under the current key (nothing else changes)."""
        for version in versions:
            await self.executor.fetch_one(
                _REENCRYPT,
                id=version["patient_id"],
                version=version["version"],
                **{name: version[name] for name in PHI},
            )
