"""The SQL of accounts: staff, and the credentials of patients (whose records are the patients
domain's)."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Interval,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from app.auth.schemas import (
    AppointmentPatientRow,
    ExpiryRow,
    OpenedSessionRow,
    PatientCredentialsRow,
    PatientIdRow,
    PatientRecipientRow,
    ResetAccountRow,
    ResetDigestRow,
    SessionAccountRow,
    SessionIdRow,
    StaffAccountRow,
    StaffCredentialsRow,
    StaffIdRow,
    StaffPrincipalRow,
    StaffRow,
)
from app.db.query import Executor, Query
from app.models.password_reset import PasswordResetToken
from app.models.patient import KEPT, Patient, kept
from app.models.scheduling import Appointment
from app.models.session import AuthSession, RefreshToken
from app.models.staff import Staff
from app.requests.work import CallerRow


def _open_session() -> ColumnElement[bool]:
    """The session a token names: not ended, not expired."""
    return and_(
        AuthSession.id == bindparam("caller_session"),
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > func.now(),
    )


_STAFF_FIELDS = (
    Staff.id,
    Staff.username,
    Staff.email,
    Staff.role,
    Staff.is_active,
    Staff.created_at,
)
# A staff member as sessions, resets and the admin know them (never their password hash).
_STAFF_BY_ID = Query(select(*_STAFF_FIELDS).where(Staff.id == bindparam("id")), StaffRow)
_STAFF_BY_EMAIL = Query(
    select(Staff.id, Staff.username, Staff.role, Staff.password_hash, Staff.is_active).where(
        func.lower(Staff.email) == func.lower(bindparam("email", type_=String))
    ),
    StaffCredentialsRow,
)
# Two at most: an address that several patients shared before migration 0015 names none of them.
_PATIENTS_BY_EMAIL = Query(
    select(Patient.id, Patient.password_hash)
    .where(func.lower(Patient.email) == func.lower(bindparam("email", type_=String)), KEPT)
    .limit(2),
    PatientCredentialsRow,
)
_STAFF_BY_USERNAME = Query(
    select(Staff.id, Staff.username, Staff.role, Staff.password_hash, Staff.is_active).where(
        Staff.username == bindparam("username")
    ),
    StaffCredentialsRow,
)
# The caller a token names, as the request's unit of work finds them (app.requests.work): a row with
# their name for the audit trail and their role, or none when they are gone or inactive, or the
# token's session is over.
STAFF_CALLER = Query(
    select(Staff.username.label("name"), Staff.role.label("role"))
    .join(AuthSession, AuthSession.staff_id == Staff.id)
    .where(Staff.id == bindparam("caller_id"), Staff.is_active, _open_session()),
    CallerRow,
)
PATIENT_CALLER = Query(
    select(Patient.id.label("name"), literal("patient", String).label("role"))
    .join(AuthSession, AuthSession.patient_id == Patient.id)
    .where(Patient.id == bindparam("caller_id"), KEPT, _open_session()),
    CallerRow,
)
_CREATE_STAFF = Query(
    insert(Staff)
    .values(
        username=bindparam("username"),
        role=bindparam("role"),
        password_hash=bindparam("password_hash"),
        is_active=True,
    )
    .returning(Staff.id),
    StaffIdRow,
)
_STAFF_HASH = Query(
    update(Staff)
    .where(Staff.id == bindparam("id"))
    .values(password_hash=bindparam("password_hash"))
    .returning(Staff.id),
    StaffIdRow,
)
_PATIENT_BY_ID = Query(
    select(Patient.id, Patient.password_hash).where(Patient.id == bindparam("id"), KEPT),
    PatientCredentialsRow,
)
# By the canonical form of the number typed; a number stored before numbers were canonical
# (migration 0015 leaves those that would clash as they were) is found as it was typed, first.
_PATIENT_BY_PHONE = Query(
    select(Patient.id, Patient.password_hash)
    .where(
        Patient.phone_no.in_(
            [bindparam("typed", type_=String), bindparam("canonical", type_=String)]
        ),
        KEPT,
    )
    .order_by((Patient.phone_no == bindparam("typed", type_=String)).desc())
    .limit(1),
    PatientCredentialsRow,
)
_PATIENT_EXISTS = Query(select(Patient.id).where(Patient.id == bindparam("id"), KEPT), PatientIdRow)
# A deleted patient's appointment too: a refusal concerning it is audited under them.
_APPOINTMENT_PATIENT = Query(
    select(Appointment.patient_id).where(Appointment.id == bindparam("id", type_=BigInteger)),
    AppointmentPatientRow,
)
_PATIENT_HASH = Query(
    update(Patient)
    .where(Patient.id == bindparam("id"), KEPT)
    .values(password_hash=bindparam("password_hash"))
    .returning(Patient.id),
    PatientIdRow,
)


class AccountRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def staff_by_id(self, staff_id: int) -> StaffRow | None:
        return await self.executor.fetch_one(_STAFF_BY_ID, id=staff_id)

    async def staff_by_username(self, username: str) -> StaffCredentialsRow | None:
        return await self.executor.fetch_one(_STAFF_BY_USERNAME, username=username)

    async def create_staff(self, *, username: str, role: str, password_hash: str) -> int:
        row = await self.executor.fetch_one(
            _CREATE_STAFF, username=username, role=role, password_hash=password_hash
        )
        assert row is not None
        return row["id"]

    async def set_staff_password_hash(self, staff_id: int, password_hash: str) -> None:
        await self.executor.fetch_one(_STAFF_HASH, id=staff_id, password_hash=password_hash)

    async def patient_by_id(self, patient_id: str) -> PatientCredentialsRow | None:
        """The id and password hash of the patient with this id."""
        return await self.executor.fetch_one(_PATIENT_BY_ID, id=patient_id)

    async def staff_by_email(self, email: str) -> StaffCredentialsRow | None:
        return await self.executor.fetch_one(_STAFF_BY_EMAIL, email=email)

    async def patient_by_email(self, email: str) -> PatientCredentialsRow | None:
        """The one patient with this e-mail address; None when nobody, or several, have it."""
        rows = await self.executor.fetch(_PATIENTS_BY_EMAIL, email=email)
        return rows[0] if len(rows) == 1 else None

    async def patient_by_phone(self, typed: str, canonical: str) -> PatientCredentialsRow | None:
        """The patient with this phone number (its canonical form, or as typed)."""
        return await self.executor.fetch_one(_PATIENT_BY_PHONE, typed=typed, canonical=canonical)

    async def patient_exists(self, patient_id: str) -> bool:
        return await self.executor.fetch_one(_PATIENT_EXISTS, id=patient_id) is not None

    async def appointment_patient(self, appointment_id: int) -> str | None:
        row = await self.executor.fetch_one(_APPOINTMENT_PATIENT, id=appointment_id)
        return None if row is None else row["patient_id"]

    async def set_patient_password_hash(self, patient_id: str, password_hash: str) -> None:
        await self.executor.fetch_one(_PATIENT_HASH, id=patient_id, password_hash=password_hash)


# -- sessions (app.auth.sessions) -----------------------------------------------------------

_OPEN = Query(
    insert(AuthSession)
    .values(
        id=bindparam("id"),
        kind=bindparam("kind"),
        staff_id=bindparam("staff_id"),
        patient_id=bindparam("patient_id"),
        expires_at=func.now() + bindparam("lifetime", type_=Interval),
    )
    .returning(AuthSession.id, AuthSession.expires_at),
    OpenedSessionRow,
)
_NEW_REFRESH = Query(
    insert(RefreshToken)
    .values(
        digest=bindparam("digest"),
        session_id=bindparam("session_id"),
        expires_at=func.least(
            func.now() + bindparam("lifetime", type_=Interval),
            select(AuthSession.expires_at)
            .where(AuthSession.id == bindparam("session_id"))
            .scalar_subquery(),
        ),
    )
    .returning(RefreshToken.expires_at),
    ExpiryRow,
)
_SESSION_ACCOUNT = [
    AuthSession.id.label("session_id"),
    AuthSession.kind,
    AuthSession.staff_id,
    AuthSession.patient_id,
]
# A refresh token used once, if it is unused and unexpired and its session open: the session's
# account. The row lock taken by the UPDATE makes two uses of one token race to one winner.
_USE_REFRESH = Query(
    update(RefreshToken)
    .where(
        RefreshToken.digest == bindparam("digest"),
        RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > func.now(),
        AuthSession.id == RefreshToken.session_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > func.now(),
        or_(AuthSession.patient_id.is_(None), kept(AuthSession.patient_id)),  # not deleted
    )
    .values(used_at=func.now())
    .returning(*_SESSION_ACCOUNT),
    SessionAccountRow,
)
# A used refresh token presented again: its session ends (the token was copied).
_END_REUSED = Query(
    update(AuthSession)
    .where(
        AuthSession.id
        == select(RefreshToken.session_id)
        .where(RefreshToken.digest == bindparam("digest"), RefreshToken.used_at.is_not(None))
        .scalar_subquery(),
        AuthSession.revoked_at.is_(None),
    )
    .values(revoked_at=func.now())
    .returning(*_SESSION_ACCOUNT),
    SessionAccountRow,
)
_END = Query(
    update(AuthSession)
    .where(AuthSession.id == bindparam("session_id"), AuthSession.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(AuthSession.id),
    SessionIdRow,
)
_END_STAFF_SESSIONS = Query(
    update(AuthSession)
    .where(AuthSession.staff_id == bindparam("staff_id"), AuthSession.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(AuthSession.id),
    SessionIdRow,
)
_END_PATIENT_SESSIONS = Query(
    update(AuthSession)
    .where(AuthSession.patient_id == bindparam("patient_id"), AuthSession.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(AuthSession.id),
    SessionIdRow,
)
# The admin's session, on each of its requests: its staff member, if both are still good.
_ADMIN_SESSION_STAFF = Query(
    select(Staff.id, Staff.username, Staff.role)
    .join(AuthSession, AuthSession.staff_id == Staff.id)
    .where(
        AuthSession.id == bindparam("caller_session"),
        AuthSession.kind == "admin",
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > func.now(),
        Staff.is_active,
    ),
    StaffPrincipalRow,
)


class SessionRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def open(
        self,
        session_id: uuid.UUID,
        *,
        kind: str,
        staff_id: int | None,
        patient_id: str | None,
        lifetime: timedelta,
    ) -> OpenedSessionRow:
        """The new session's id and end."""
        row = await self.executor.fetch_one(
            _OPEN,
            id=session_id,
            kind=kind,
            staff_id=staff_id,
            patient_id=patient_id,
            lifetime=lifetime,
        )
        assert row is not None
        return row

    async def new_refresh_token(
        self, session_id: uuid.UUID, digest: str, lifetime: timedelta
    ) -> datetime:
        """Its expiry: `lifetime` from now, but never past its session's end."""
        row = await self.executor.fetch_one(
            _NEW_REFRESH, digest=digest, session_id=session_id, lifetime=lifetime
        )
        assert row is not None
        return row["expires_at"]

    async def use_refresh_token(self, digest: str) -> SessionAccountRow | None:
        return await self.executor.fetch_one(_USE_REFRESH, digest=digest)

    async def end_reused(self, digest: str) -> SessionAccountRow | None:
        return await self.executor.fetch_one(_END_REUSED, digest=digest)

    async def end(self, session_id: uuid.UUID) -> bool:
        return await self.executor.fetch_one(_END, session_id=session_id) is not None

    async def end_all(self, *, staff_id: int | None, patient_id: str | None) -> int:
        """End every open session of the account: how many there were."""
        if staff_id is not None:
            return len(await self.executor.fetch(_END_STAFF_SESSIONS, staff_id=staff_id))
        return len(await self.executor.fetch(_END_PATIENT_SESSIONS, patient_id=patient_id))

    async def admin_staff(self, session_id: uuid.UUID) -> StaffPrincipalRow | None:
        return await self.executor.fetch_one(_ADMIN_SESSION_STAFF, caller_session=session_id)


# -- password resets (app.auth.reset) ------------------------------------------------------

# Where a patient's reset mail goes, and what their new password must not be like.
_PATIENT_RECIPIENT = Query(
    select(Patient.first_name, Patient.last_name, Patient.phone_no, Patient.email).where(
        Patient.id == bindparam("id"), KEPT
    ),
    PatientRecipientRow,
)
# A new request makes the account's earlier tokens, used or not, worthless.
_FORGET_RESETS = Query(
    delete(PasswordResetToken)
    .where(
        or_(
            PasswordResetToken.staff_id == bindparam("staff_id", type_=Integer),
            PasswordResetToken.patient_id == bindparam("patient_id", type_=String),
        )
    )
    .returning(PasswordResetToken.digest),
    ResetDigestRow,
)
_NEW_RESET = Query(
    insert(PasswordResetToken)
    .values(
        digest=bindparam("digest"),
        staff_id=bindparam("staff_id", type_=Integer),
        patient_id=bindparam("patient_id", type_=String),
        expires_at=func.now() + bindparam("lifetime", type_=Interval),
    )
    .returning(PasswordResetToken.expires_at),
    ExpiryRow,
)
_GOOD_RESET = (
    PasswordResetToken.digest == bindparam("digest"),
    PasswordResetToken.used_at.is_(None),
    PasswordResetToken.expires_at > func.now(),
)
_RESET_ACCOUNT = Query(
    select(PasswordResetToken.staff_id, PasswordResetToken.patient_id).where(*_GOOD_RESET),
    ResetAccountRow,
)
# The row lock taken by the UPDATE makes two uses of one token race to one winner.
_USE_RESET = Query(
    update(PasswordResetToken)
    .where(*_GOOD_RESET)
    .values(used_at=func.now())
    .returning(PasswordResetToken.staff_id, PasswordResetToken.patient_id),
    ResetAccountRow,
)


class ResetRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def patient_recipient(self, patient_id: str) -> PatientRecipientRow | None:
        """A patient's names, phone number and e-mail address."""
        return await self.executor.fetch_one(_PATIENT_RECIPIENT, id=patient_id)

    async def replace(
        self, digest: str, *, staff_id: int | None, patient_id: str | None, lifetime: timedelta
    ) -> datetime:
        """The account's one reset token from now on (in a transaction); its expiry."""
        await self.executor.fetch(_FORGET_RESETS, staff_id=staff_id, patient_id=patient_id)
        row = await self.executor.fetch_one(
            _NEW_RESET, digest=digest, staff_id=staff_id, patient_id=patient_id, lifetime=lifetime
        )
        assert row is not None
        return row["expires_at"]

    async def account_of(self, digest: str) -> ResetAccountRow | None:
        """The account (`staff_id`, `patient_id`) of an unused, unexpired token."""
        return await self.executor.fetch_one(_RESET_ACCOUNT, digest=digest)

    async def use(self, digest: str) -> ResetAccountRow | None:
        """Mark an unused, unexpired token used: its account, or None."""
        return await self.executor.fetch_one(_USE_RESET, digest=digest)


# -- staff management (app.auth.staff) ------------------------------------------------------

_LIST_STAFF = Query(select(*_STAFF_FIELDS).order_by(Staff.username), StaffRow)
_STAFF_ACCOUNT = Query(
    select(*_STAFF_FIELDS, Staff.password_hash).where(Staff.id == bindparam("id")),
    StaffAccountRow,
)
_ADD_STAFF = Query(
    insert(Staff)
    .values(
        username=bindparam("username"),
        email=bindparam("email"),
        role=bindparam("role"),
        password_hash=bindparam("password_hash"),
        is_active=True,
    )
    .returning(*_STAFF_FIELDS),
    StaffRow,
)
_SET_STAFF_ACTIVE = Query(
    update(Staff)
    .where(Staff.id == bindparam("id"))
    .values(is_active=bindparam("is_active"), updated_at=func.now())
    .returning(*_STAFF_FIELDS),
    StaffRow,
)
_SET_STAFF_PASSWORD = Query(
    update(Staff)
    .where(Staff.id == bindparam("id"))
    .values(password_hash=bindparam("password_hash"), updated_at=func.now())
    .returning(*_STAFF_FIELDS),
    StaffRow,
)


class StaffRepository:
    """Staff accounts as the admin manages them (never their password hashes, but to check one)."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def list(self) -> list[StaffRow]:
        return await self.executor.fetch(_LIST_STAFF)

    async def account(self, staff_id: int) -> StaffAccountRow | None:
        """The staff member, with their password hash."""
        return await self.executor.fetch_one(_STAFF_ACCOUNT, id=staff_id)

    async def add(
        self, *, username: str, email: str | None, role: str, password_hash: str
    ) -> StaffRow:
        """The new staff member; asyncpg's UniqueViolationError when the username or e-mail
        address is taken."""
        row = await self.executor.fetch_one(
            _ADD_STAFF, username=username, email=email, role=role, password_hash=password_hash
        )
        assert row is not None
        return row

    async def set_active(self, staff_id: int, *, active: bool) -> StaffRow | None:
        return await self.executor.fetch_one(_SET_STAFF_ACTIVE, id=staff_id, is_active=active)

    async def set_password_hash(self, staff_id: int, password_hash: str) -> StaffRow | None:
        return await self.executor.fetch_one(
            _SET_STAFF_PASSWORD, id=staff_id, password_hash=password_hash
        )
