"""The list's time filters at their edges: `start_after` is "at or after", `start_before` is
"before", to the microsecond, and an instant in any offset is the same instant."""

import pytest

from tests.appointments.conftest import book

URL = "/api/appointments/"


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"start_after": "2030-01-07T09:00:00+01:00"}, True),
        ({"start_after": "2030-01-07T08:00:00Z"}, True),
        ({"start_after": "2030-01-07T09:00:00.000001+01:00"}, False),
        ({"start_after": "2030-01-07T08:59:59+01:00"}, True),
        ({"start_before": "2030-01-07T09:00:00+01:00"}, False),
        ({"start_before": "2030-01-07T09:00:00.000001+01:00"}, True),
        ({"start_before": "2030-01-07T10:00:00+02:00"}, False),
        (
            {
                "start_after": "2030-01-07T09:00:00+01:00",
                "start_before": "2030-01-07T09:00:01+01:00",
            },
            True,
        ),
        # An appointment that has begun is not "after" an instant inside it.
        ({"start_after": "2030-01-07T09:30:00+01:00"}, False),
    ],
)
async def test_the_time_filters_at_their_edges(client, therapist, patient, params, found):
    created = await book(client, patient["id"], therapist.id)

    response = await client.get(URL, params=params)

    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()["results"]] == ([created["id"]] if found else [])
    assert response.json()["count"] == (1 if found else 0)
