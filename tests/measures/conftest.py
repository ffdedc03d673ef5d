"""The measures' tests book with the appointments' therapists."""

from tests.appointments.conftest import (  # noqa: F401 - fixtures, used by name
    make_therapist,
    therapist,
)
