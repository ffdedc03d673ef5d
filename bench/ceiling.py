"""The framework's ceiling: GET by id doing exactly the service's one statement, in FastAPI with
bare asyncpg, and nothing else of the service.

`python -m bench --tools ceiling` serves this with uvicorn exactly as the service is served and
drives it with wrk like the service. Each request:

- checks the bearer token as app/auth/tokens.py does: PyJWT, HS256 with the service's prepared
  key, its issuer and required claims, the signature once per token per process (the service
  keeps verified tokens too), the expiry on every request;
- sends the service's own statement for a read by id, as bench/capture.py recorded it from the
  app (steps.json: the caller's check, the patient and the audit event in one statement), with
  this request's patient id, the token's staff id and session, and the client's address;
- decrypts the PHI as the service does (app.core.crypto's keyring, each column's context from
  the model; each session's notes) and answers the patient as the API does, with orjson.

No middleware, no dependencies, no response model, no ETag, no access log, no metrics, no route
tried before its own (no documentation routes): so the service's req/s over this one's is what
its stack costs beyond FastAPI itself (bench/README.md, "Where the other half goes").

Configured by the environment the service gets (Settings), and BENCH_STEPS (steps.json).
"""

import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import asyncpg
import jwt
import orjson
from fastapi import FastAPI, Request, Response
from sqlalchemy import Table

from app.audit.repository import FOUND
from app.auth.tokens import ALGORITHM, VERIFIED_TOKENS_KEPT
from app.core.config import Settings
from app.core.crypto import Keyring
from app.db.database import plain_url, server_settings
from app.db.types import EncryptedText, open_sessions
from app.models.patient import SESSION_NOTES_CONTEXT, Patient
from bench.common import PATIENT, decode_argument, load_steps

CAPTURED_CLIENT = "127.0.0.1"  # the client address of bench/capture.py's requests
REQUIRED_CLAIMS = ["exp", "iat", "iss", "sub", "kind", "sid"]
PATIENTS = cast(Table, Patient.__table__)
PHI = {
    name: column.type.context
    for name, column in PATIENTS.c.items()
    if isinstance(column.type, EncryptedText)
}
# The answer's fields in the order of app/patients/schemas.py's PatientRead.
FIELDS = (
    *("id", "first_name", "last_name", "phone_no", "allergies_and_medication", "date_of_birth"),
    *("sex", "ssn", "email", "address", "added_note", "about_note", "profile_picture", "tags"),
    *("wallet_balance", "sessions", "created_at", "updated_at"),
)


@dataclass(frozen=True)
class Statement:
    """The captured statement of a read by id, and where each request's own values go."""

    sql: str
    arguments: tuple[Any, ...]
    patient: tuple[int, ...]
    caller: int
    session: int
    client: tuple[int, ...]

    @classmethod
    def captured(cls, steps: list[list[Any]]) -> "Statement":
        if len(steps) != 1 or steps[0][0] != "sql":
            raise ValueError(f"the service's GET by id is not one statement: {steps}")
        _, sql, arguments = steps[0]
        return cls(
            sql=sql,
            arguments=tuple(decode_argument(a) for a in arguments),
            patient=_positions(arguments, lambda a: a == {"$": PATIENT}),
            caller=_parameter(sql, r"staff\.id = \$(\d+)"),
            session=_parameter(sql, r"auth_sessions\.id = \$(\d+)"),
            client=_positions(arguments, lambda a: a == CAPTURED_CLIENT),
        )

    def arguments_for(self, patient_id: str, caller: int, session: str, client: str) -> list[Any]:
        arguments = list(self.arguments)
        for position in self.patient:
            arguments[position] = patient_id
        for position in self.client:
            arguments[position] = client
        arguments[self.caller], arguments[self.session] = caller, session
        return arguments


def _positions(arguments: Iterable[Any], chosen: Any) -> tuple[int, ...]:
    return tuple(n for n, argument in enumerate(arguments) if chosen(argument))


def _parameter(sql: str, pattern: str) -> int:
    found = re.search(pattern, sql)
    if found is None:
        raise ValueError(f"no {pattern} in the captured statement")
    return int(found.group(1)) - 1


@dataclass(frozen=True)
class Claims:
    caller: int
    session: str
    expires_at: float


class Ceiling:
    """What the ceiling's one endpoint needs, made in the lifespan."""

    def __init__(self, settings: Settings, statement: Statement, pool: asyncpg.Pool) -> None:
        assert settings.secret_key is not None
        assert settings.phi_encryption_keys is not None
        self.statement = statement
        self.pool = pool
        self.keyring = Keyring.parse(settings.phi_encryption_keys.get_secret_value())
        self._key = jwt.get_algorithm_by_name(ALGORITHM).prepare_key(
            settings.secret_key.get_secret_value()
        )
        self._jwt = jwt.PyJWT()
        self._issuer = settings.jwt_issuer
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    def claims(self, token: str) -> Claims | None:
        """A staff member's token checked as app.auth.tokens.Tokens.verify checks one."""
        claims = self._verified.get(token)
        if claims is None:
            try:
                decoded = self._jwt.decode(
                    token,
                    self._key,
                    algorithms=[ALGORITHM],
                    issuer=self._issuer,
                    options={"require": REQUIRED_CLAIMS},
                )
            except jwt.PyJWTError:
                return None
            if decoded["kind"] != "staff" or not str(decoded["sub"]).isdigit():
                return None  # the captured statement finds a staff member
            claims = Claims(int(decoded["sub"]), str(decoded["sid"]), float(decoded["exp"]))
            self._verified[token] = claims
            if len(self._verified) > VERIFIED_TOKENS_KEPT:
                self._verified.popitem(last=False)
        if claims.expires_at <= time.time():
            self._verified.pop(token, None)
            return None
        return claims

    def answer(self, row: asyncpg.Record, request: Request) -> dict[str, Any]:
        patient = {name: row[name] for name in FIELDS}
        for name, context in PHI.items():
            if patient[name] is not None:
                patient[name] = self.keyring.decrypt(patient[name], context=context)
        patient["sessions"] = open_sessions(
            self.keyring, patient["sessions"], context=SESSION_NOTES_CONTEXT
        )
        if patient["profile_picture"] is not None:
            base = str(request.base_url)  # as app.core.urls.Links: only when there is a picture
            patient["profile_picture"] = f"{base}api/patients/{patient['id']}/profile_picture/"
        balance: Decimal = patient["wallet_balance"]
        patient["wallet_balance"] = f"{balance:.2f}"
        return patient


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _codecs(connection: asyncpg.Connection) -> None:
    """JSON as the service's connections decode it (app.db.database)."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No reset query on release, as the service's pool (app.db.database)."""


def create_ceiling(
    settings: Settings | None = None, steps: list[list[Any]] | None = None
) -> FastAPI:
    """The ceiling's app; by default configured from the environment (Settings, BENCH_STEPS)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chosen = settings or Settings()
        assert chosen.database_url is not None, "the ceiling serves an existing database"
        captured = steps or load_steps(Path(os.environ["BENCH_STEPS"]))["get"]
        pool = await asyncpg.create_pool(
            plain_url(chosen.database_url),
            min_size=0,
            max_size=chosen.db_pool_size + chosen.db_max_overflow,
            server_settings=server_settings(chosen),
            statement_cache_size=500,
            init=_codecs,
            reset=_keep_session,
        )
        app.state.ceiling = Ceiling(chosen, Statement.captured(captured), pool)
        try:
            yield
        finally:
            await pool.close()

    # No documentation routes, and the read first: no route is tried before it.
    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/api/patients/{patient_id}/")
    async def get_patient(patient_id: str, request: Request) -> Response:
        ceiling: Ceiling = request.app.state.ceiling
        authorization = request.headers.get("authorization", "")
        claims = ceiling.claims(authorization.removeprefix("Bearer "))
        if claims is None:
            return Response(status_code=401)
        client = request.client.host if request.client else ""
        arguments = ceiling.statement.arguments_for(
            patient_id, claims.caller, claims.session, client
        )
        async with ceiling.pool.acquire() as connection:
            row = await connection.fetchrow(ceiling.statement.sql, *arguments)
        if row is None:  # the caller is gone, inactive or logged out
            return Response(status_code=401)
        if not row[FOUND]:
            return Response(status_code=404)
        body = ceiling.answer(row, request)
        return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return app


app = create_ceiling()
