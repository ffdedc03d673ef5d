"""Schemathesis hooks (schemathesis.toml loads this file): the admin's sessions, and the request
as the contract reads it.

The run is logged in as the admin whose login name and password tests/core/test_schemathesis.py
passes in THERAPY_FUZZ_USERNAME and THERAPY_FUZZ_PASSWORD. `POST /api/auth/logout/` ends the
session of the token it is sent with: sent with the run's, it ended the run's session, and every
later request of the run was a 401 (24 operations were never answered anything else). So each
case of the logout gets a session of its own, logged in for it; every other operation shares the
run's session, which nothing logs in again behind the run's back (no retry on a 401): a lost
session shows as 401s in the report's "Authentication failed".

negative_data_rejection reports a request that breaks the schema yet was accepted. Two leniencies
of Django REST Framework that the contract keeps are not a schema's to state:

- text is trimmed before its rules are checked (CharField's trim_whitespace), so a tag that is
  51 characters only with a leading space is a 50-character tag;
- of a query parameter sent twice the last value counts, and an empty filter is ignored.

Such an acceptance is dropped when the request, read that way, keeps to the schema; any other
stays a failure. So is uvicorn's own plain-text 400 to a request head over its 80 KB limit
(a generated query string can be that long): the application never saw the request.
"""

import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.core.parameters import ParameterLocation

Case = schemathesis.Case[schemathesis.APIOperation[Any, Any, Any, Any]]
UNTRIMMED = frozenset({"password"})  # passwords are taken as typed
SERVER_REFUSAL = b"Invalid HTTP request received."
LOGOUT = "logout"
# The run's session is logged in again after half an access token's lifetime (an hour).
RUN_SESSION_SECONDS = 30 * 60


def _log_in(context: schemathesis.AuthContext) -> str:
    """An access token of a new session of the admin's."""
    response = httpx.post(
        context.operation.schema.get_base_url().rstrip("/") + "/api/auth/token/",
        data={
            "username": os.environ["THERAPY_FUZZ_USERNAME"],
            "password": os.environ["THERAPY_FUZZ_PASSWORD"],
        },
        timeout=30,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


class _Session:
    """An admin's session: logged in by get, sent by set."""

    def get(self, case: Case, context: schemathesis.AuthContext) -> str:
        return _log_in(context)

    def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth(refresh_interval=None, retry_on=[]).apply_to(operation_id=LOGOUT)
class OwnSession(_Session):
    """A session for each case of the logout, which ends it."""


@schemathesis.auth(refresh_interval=RUN_SESSION_SECONDS, retry_on=[]).skip_for(operation_id=LOGOUT)
class RunSession(_Session):
    """The run's session, for every other operation."""


def _trimmed(value: Any, key: str | None = None) -> Any:
    if isinstance(value, str):
        return value if key in UNTRIMMED else value.strip()
    if isinstance(value, dict):
        return {name: _trimmed(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_trimmed(item) for item in value]
    return value


def _body_as_read(case: Case, _: schemathesis.Response) -> bool:
    body = case.operation.get_body_for_media_type(case.media_type)
    return body is not None and body.is_valid(_trimmed(case.body))


def _query_as_read(case: Case, response: schemathesis.Response) -> bool:
    # The query as it went out: generated objects and lists are flattened on the way.
    sent = parse_qs(urlsplit(response.request.url or "").query, keep_blank_values=True)
    for name, raw in sent.items():
        parameter = case.operation.query.get(name)
        if parameter is None:
            continue  # an unknown parameter is ignored, as the schema allows
        values = [value.strip() for value in raw]
        if parameter.definition.get("schema", {}).get("type") == "array":
            if not parameter.is_valid([value for value in values if value]):
                return False
        elif values[-1] and not parameter.is_valid(values[-1]):
            return False
    return True


READERS = {ParameterLocation.BODY: _body_as_read, ParameterLocation.QUERY: _query_as_read}


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Failure,
    case: Case,
    response: schemathesis.Response,
) -> bool:
    """Keep every failure but those of requests the app never saw or read leniently."""
    if response.status_code == 400 and response.content == SERVER_REFUSAL:
        return False
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None:
        return True
    negative = [
        location for location, info in case.meta.components.items() if info.mode.is_negative
    ]
    if not negative or any(location not in READERS for location in negative):
        return True
    return not all(READERS[location](case, response) for location in negative)
