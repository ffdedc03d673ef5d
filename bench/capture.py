"""The SQL the service really sends for each benchmarked request, captured from the app itself.

The app runs in this process (httpx's ASGI transport); asyncpg's query logger records every
round trip of one request as it reaches the wire: each statement with its arguments, and BEGIN,
COMMIT and ROLLBACK where a unit of work sends them. The values that must differ per request (the
patient id, a new id and phone number, the balance just returned) become placeholders; the floor
and pgbench replay the rest verbatim, so they follow whatever SQL the service sends today.
"""

import asyncio
import json
import re
from decimal import Decimal
from typing import Any

import httpx
from asyncpg.connection import LoggedQuery

from app.core.config import Settings
from app.main import create_app
from bench.common import BALANCE, NEW_ID, PATIENT, PHONE, Operation, encode_argument

TRANSACTION_CONTROL = {"BEGIN": "begin", "COMMIT": "commit", "ROLLBACK": "rollback"}


async def _logged() -> None:
    """Until asyncpg has told its loggers of every statement sent so far (it does so soon after
    each one, not at once)."""
    for _ in range(3):
        await asyncio.sleep(0)


def _step(query: LoggedQuery) -> list[Any]:
    """A logged query as a step of the replay: JSON arguments as their text, as pgbench and a
    connection without the service's codecs send them."""
    control = TRANSACTION_CONTROL.get(query.query.strip().rstrip(";").upper())
    if control is not None:
        return [control]
    arguments = list(query.args or ())
    for position, value in enumerate(arguments):
        if isinstance(value, list | dict) and re.search(rf"\${position + 1}::JSONB", query.query):
            arguments[position] = json.dumps(value)
    return ["sql", query.query, arguments]


def _placeholders(
    steps: list[list[Any]], replace: dict[str, Any], balance: Decimal | None
) -> list[list[Any]]:
    marked: list[list[Any]] = []
    balance_known = False
    for step in steps:
        if step[0] != "sql":
            marked.append(step)
            continue
        _, statement, arguments = step
        encoded = []
        for value in arguments:
            name = next((key for key, known in replace.items() if value == known), None)
            if name is None and balance_known and value == balance:
                name = BALANCE
            encoded.append({"$": name} if name else encode_argument(value))
        marked.append(["sql", statement, encoded])
        if "RETURNING" in statement and "wallet_balance" in statement:
            balance_known = True
    return marked


async def capture(
    settings: Settings,
    operations: list[Operation],
    *,
    username: str,
    password: str,
    patient_id: str,
    phone: str,
) -> dict[str, list[list[Any]]]:
    """For each operation, the round trips of one request (after one warm-up request)."""
    app = create_app(settings)
    captured: dict[str, list[list[Any]]] = {}
    async with app.router.lifespan_context(app):
        recording: list[list[Any]] | None = None

        def record(query: LoggedQuery) -> None:
            if recording is not None:
                recording.append(_step(query))

        await app.state.database.log_queries(record)

        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            login = await client.post(
                "/api/auth/token/", data={"username": username, "password": password}
            )
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            for number, operation in enumerate(operations):
                for attempt in ("warm-up", "captured"):
                    body = operation.body
                    if body is not None and "phone_no" in body:
                        body = {**body, "phone_no": f"{phone}{number}{attempt == 'captured':d}"}
                    await _logged()
                    recording = [] if attempt == "captured" else None
                    response = await client.request(
                        operation.method, operation.path.format(id=patient_id), json=body
                    )
                    if response.status_code >= 300:
                        raise RuntimeError(
                            f"{operation.key}: {response.status_code} {response.text[:200]}"
                        )
                await _logged()
                steps, recording = recording or [], None
                answer = response.json()
                replace: dict[str, Any] = {PATIENT: patient_id}
                if operation.key == "create":
                    replace = {NEW_ID: answer["id"], PHONE: answer["phone_no"]}  # canonical
                balance = None
                if operation.key == "update_wallet":
                    balance = Decimal(answer["wallet_balance"])
                captured[operation.key] = _placeholders(steps, replace, balance)
    return captured


def describe(captured: dict[str, list[list[Any]]]) -> str:
    """The captured round trips as text, for the record (bench/out/<size>/sql.txt)."""
    lines: list[str] = []
    for key, steps in captured.items():
        trips = sum(3 if step[0] == "ping" else 1 for step in steps)
        lines.append(f"== {key}: {trips} round trips")
        for step in steps:
            if step[0] == "ping":
                lines.append("-- pool pre-ping: BEGIN; ; ROLLBACK")
            elif step[0] == "sql":
                shown = [a.get("$", a) if isinstance(a, dict) else a for a in step[2]]
                lines.append(f"{' '.join(step[1].split())}\n   -- args {shown}")
            else:
                lines.append(step[0].upper())
        lines.append("")
    return "\n".join(lines)
