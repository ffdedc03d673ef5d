"""The audit trail's vocabulary (app/audit/actions.py) and its page in the docs list the same
actions, each once: a compliance report reads the trail by these names."""

import re

from app.audit.actions import OVERRIDING_AVAILABILITY, Action
from app.core.config import PROJECT_ROOT

PAGE = PROJECT_ROOT / "docs" / "operations" / "audit-actions.md"
ROW = re.compile(r"^\| `([a-z_:]+)` \|", re.MULTILINE)


def test_the_docs_list_every_action_once_and_no_other():
    listed = ROW.findall(PAGE.read_text())
    assert sorted(listed) == sorted(action.value for action in Action)


def test_an_action_is_its_name_in_lower_case():
    # A value never changes; a member is named after its value, so a reader finds either.
    for action in Action:
        if action in OVERRIDING_AVAILABILITY.values():
            continue
        assert action.value == action.name.lower()


def test_a_booking_overriding_availability_says_so_in_its_action():
    for booking, overriding in OVERRIDING_AVAILABILITY.items():
        assert overriding.value == f"{booking.value}:override_availability"
