from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.staff import Staff

# Built once: every authenticated request runs it, and a built statement memoizes its cache key.
_ACTIVE = select(Staff.username, Staff.role).where(Staff.id == bindparam("id"), Staff.is_active)


class StaffRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_username(self, username: str) -> Staff | None:
        result = await self.session.scalars(select(Staff).where(Staff.username == username))
        return result.one_or_none()

    async def active(self, staff_id: int) -> Row[str, str] | None:
        """The username and role of an active staff member: what every request checks."""
        return (await self.session.execute(_ACTIVE, {"id": staff_id})).one_or_none()

    async def create(self, *, username: str, role: str, password_hash: str) -> Staff:
        staff = Staff(username=username, role=role, password_hash=password_hash, is_active=True)
        self.session.add(staff)
        await self.session.flush()
        return staff

    async def set_password_hash(self, staff_id: int, password_hash: str) -> None:
        await self.session.execute(
            update(Staff).where(Staff.id == staff_id).values(password_hash=password_hash)
        )
