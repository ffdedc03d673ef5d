"""The command line's staff accounts (`python -m app createsuperuser`, `createstaff`): the same
path as the admin's (app.auth.staff.add_staff)."""

from app.auth.staff import add_staff
from app.core.config import Settings
from app.core.errors import CommandError, ValidationFailed
from app.db.database import open_database


async def create_staff(
    settings: Settings, *, username: str, password: str, role: str, email: str | None = None
) -> int:
    async with open_database(settings) as database:
        try:
            staff = await add_staff(
                database, username=username, email=email, role=role, password=password
            )
        except ValidationFailed as error:
            if "email" in error.errors:
                raise CommandError(
                    f"A staff member with e-mail address {email!r} already exists."
                ) from None
            raise CommandError(
                f"A staff member with username {username!r} already exists."
            ) from None
    staff_id: int = staff["id"]
    return staff_id
