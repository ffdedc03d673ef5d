"""The SQL of accounts: staff, and the credentials of patients (whose records are the patients
domain's)."""

from sqlalchemy import String, bindparam, insert, literal, select, update

from app.db.query import Executor, Query, Row
from app.models.patient import Patient
from app.models.staff import Staff

_STAFF_BY_USERNAME = Query(
    select(Staff.id, Staff.username, Staff.role, Staff.password_hash, Staff.is_active).where(
        Staff.username == bindparam("username")
    )
)
# Every request of a staff member runs it: their token is only as good as their account.
_ACTIVE_STAFF = Query(
    select(Staff.username, Staff.role).where(Staff.id == bindparam("id"), Staff.is_active)
)
# The caller a token names, as the request's unit of work finds them (app.audit.work): a row with
# their name for the audit trail and their role, or none when they are gone or inactive.
STAFF_CALLER = Query(
    select(Staff.username.label("name"), Staff.role.label("role")).where(
        Staff.id == bindparam("caller_id"), Staff.is_active
    )
)
PATIENT_CALLER = Query(
    select(Patient.id.label("name"), literal("patient", String).label("role")).where(
        Patient.id == bindparam("caller_id")
    )
)
_CREATE_STAFF = Query(
    insert(Staff)
    .values(
        username=bindparam("username"),
        role=bindparam("role"),
        password_hash=bindparam("password_hash"),
        is_active=True,
    )
    .returning(Staff.id)
)
_STAFF_HASH = Query(
    update(Staff)
    .where(Staff.id == bindparam("id"))
    .values(password_hash=bindparam("password_hash"))
    .returning(Staff.id)
)
_PATIENT_BY_ID = Query(
    select(Patient.id, Patient.password_hash).where(Patient.id == bindparam("id"))
)
_PATIENT_BY_PHONE = Query(
    select(Patient.id, Patient.password_hash).where(Patient.phone_no == bindparam("phone_no"))
)
_PATIENT_EXISTS = Query(select(Patient.id).where(Patient.id == bindparam("id")))
_PATIENT_HASH = Query(
    update(Patient)
    .where(Patient.id == bindparam("id"))
    .values(password_hash=bindparam("password_hash"))
    .returning(Patient.id)
)


class AccountRepository:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor

    async def staff_by_username(self, username: str) -> Row | None:
        return await self.executor.fetch_one(_STAFF_BY_USERNAME, username=username)

    async def active_staff(self, staff_id: int) -> Row | None:
        """The username and role of an active staff member."""
        return await self.executor.fetch_one(_ACTIVE_STAFF, id=staff_id)

    async def create_staff(self, *, username: str, role: str, password_hash: str) -> int:
        row = await self.executor.fetch_one(
            _CREATE_STAFF, username=username, role=role, password_hash=password_hash
        )
        assert row is not None
        staff_id: int = row["id"]
        return staff_id

    async def set_staff_password_hash(self, staff_id: int, password_hash: str) -> None:
        await self.executor.fetch_one(_STAFF_HASH, id=staff_id, password_hash=password_hash)

    async def patient_by_id(self, patient_id: str) -> Row | None:
        """The id and password hash of the patient with this id."""
        return await self.executor.fetch_one(_PATIENT_BY_ID, id=patient_id)

    async def patient_by_phone(self, phone_no: str) -> Row | None:
        return await self.executor.fetch_one(_PATIENT_BY_PHONE, phone_no=phone_no)

    async def patient_exists(self, patient_id: str) -> bool:
        return await self.executor.fetch_one(_PATIENT_EXISTS, id=patient_id) is not None

    async def set_patient_password_hash(self, patient_id: str, password_hash: str) -> None:
        await self.executor.fetch_one(_PATIENT_HASH, id=patient_id, password_hash=password_hash)
