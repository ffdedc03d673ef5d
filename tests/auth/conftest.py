"""The clinical record's cast (an appointment, its therapist, another therapist, an admin, its
patient and another patient) for the record's roles table, tests/auth/test_record.py."""

from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    make_therapist,
)
from tests.notes.conftest import cast, casting  # noqa: F401 - fixtures, used by name
