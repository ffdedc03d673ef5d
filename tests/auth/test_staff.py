"""app.auth.staff: the one path the command line and the admin make staff accounts by."""

import pytest
from sqlalchemy import text

from app.auth.commands import create_staff
from app.auth.staff import EMAIL_TAKEN, USERNAME_TAKEN, add_staff
from app.core.errors import CommandError, ValidationFailed
from app.db.database import open_database
from tests.conftest import STAFF_PASSWORD

pytestmark = pytest.mark.usefixtures("anonymous")


async def test_the_command_line_and_the_admin_share_one_path(settings, engine):
    staff_id = await create_staff(
        settings, username="rivera", password=STAFF_PASSWORD, role="therapist", email="R@x.org"
    )
    with pytest.raises(CommandError, match="username 'rivera' already exists"):
        await create_staff(settings, username="rivera", password=STAFF_PASSWORD, role="admin")
    with pytest.raises(CommandError, match=r"e-mail address 'r@X\.ORG' already exists"):
        await create_staff(
            settings, username="other", password=STAFF_PASSWORD, role="admin", email="r@X.ORG"
        )
    async with open_database(settings) as database:
        with pytest.raises(ValidationFailed) as taken:
            await add_staff(
                database, username="rivera", email=None, role="admin", password=STAFF_PASSWORD
            )
        assert taken.value.errors == {"username": [USERNAME_TAKEN]}
        with pytest.raises(ValidationFailed) as email_taken:
            await add_staff(
                database, username="new", email="r@x.ORG", role="admin", password=STAFF_PASSWORD
            )
        assert email_taken.value.errors == {"email": [EMAIL_TAKEN]}
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, username, email FROM staff"))).all()
    assert [tuple(row) for row in rows] == [(staff_id, "rivera", "R@x.org")]
