"""app.auth.staff: the one path the command line and the admin make staff accounts by."""

import pytest
from sqlalchemy import text

from app.auth.commands import create_staff
from app.auth.staff import EMAIL_OF_A_PATIENT, EMAIL_TAKEN, USERNAME_TAKEN, add_staff
from app.core.errors import CommandError, ValidationFailed
from app.db.database import open_database
from tests.conftest import STAFF_PASSWORD
from tests.factories import patient_payload

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


async def test_a_staff_member_never_takes_a_patients_address(settings, client):
    """An address names one account: the login and the reset find a staff member by it first,
    so a patient's would stop working for them (migration 0015's trigger)."""
    response = await client.post(
        "/api/patients/",
        json=patient_payload(email="jane@example.org"),
    )
    assert response.status_code == 201, response.text
    with pytest.raises(CommandError, match="email: A patient has this e-mail address"):
        await create_staff(
            settings,
            username="jane",
            password=STAFF_PASSWORD,
            role="admin",
            email="Jane@Example.org",
        )
    async with open_database(settings) as database:
        with pytest.raises(ValidationFailed) as taken:
            await add_staff(
                database,
                username="new",
                email="jane@EXAMPLE.org",
                role="admin",
                password=STAFF_PASSWORD,
            )
        assert taken.value.errors == {"email": [EMAIL_OF_A_PATIENT]}
