"""Logging in, and turning a token back into the principal it names."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.permissions import Principal, Role
from app.core.security import TokenClaims, create_access_token, verify_password
from app.repositories.patient import PatientRepository
from app.repositories.staff import StaffRepository
from app.schemas.fields import PATIENT_ID_RE, PHONE_RE


@dataclass(frozen=True)
class Account:
    """Someone a login name points at, active or not."""

    principal: Principal
    password_hash: str
    active: bool


def staff_principal(staff_id: int, username: str, role: str) -> Principal:
    kind: Role = "admin" if role == "admin" else "therapist"
    return Principal(kind="staff", id=str(staff_id), name=username, role=kind)


def patient_principal(patient_id: str) -> Principal:
    return Principal(kind="patient", id=patient_id, name=patient_id, role="patient")


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.settings = settings
        self.staff = StaffRepository(session)
        self.patients = PatientRepository(session)

    async def find_account(self, username: str) -> Account | None:
        """Staff by username; patients by patient id or phone number."""
        username = username.strip()
        if "\x00" in username:
            return None  # PostgreSQL cannot compare text holding NUL: such a name matches nobody
        if staff := await self.staff.by_username(username):
            principal = staff_principal(staff.id, staff.username, staff.role)
            return Account(principal, staff.password_hash, staff.is_active)
        if PATIENT_ID_RE.fullmatch(username):
            credentials = await self.patients.credentials(patient_id=username)
        elif PHONE_RE.fullmatch(username):
            credentials = await self.patients.credentials(phone_no=username)
        else:
            credentials = None
        if credentials is None:
            return None
        patient_id, password_hash = credentials
        return Account(patient_principal(patient_id), password_hash, active=True)

    async def login(self, account: Account | None, password: str) -> str | None:
        """An access token, or None. Unknown names take as long as wrong passwords."""
        valid, new_hash = await verify_password(
            password, account.password_hash if account else None
        )
        if account is None or not valid or not account.active:
            return None
        if new_hash is not None:
            await self._store_upgraded_hash(account.principal, new_hash)
        return create_access_token(
            self.settings, kind=account.principal.kind, subject=account.principal.id
        )

    async def principal_for(self, claims: TokenClaims) -> Principal | None:
        """The principal a token names, if they still exist and are active."""
        if claims.kind == "staff":
            if not claims.subject.isdigit():
                return None
            staff_id = int(claims.subject)
            staff = await self.staff.active(staff_id)
            return staff_principal(staff_id, staff.username, staff.role) if staff else None
        if PATIENT_ID_RE.fullmatch(claims.subject) and await self.patients.exists(claims.subject):
            return patient_principal(claims.subject)
        return None

    async def _store_upgraded_hash(self, principal: Principal, password_hash: str) -> None:
        if principal.is_staff:
            await self.staff.set_password_hash(int(principal.id), password_hash)
        else:
            await self.patients.set_password_hash(principal.id, password_hash)
