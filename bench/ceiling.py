"""The framework's ceiling: GET by id in FastAPI with bare asyncpg, no SQLAlchemy, no app.

`python -m bench --tools ceiling` serves this with uvicorn exactly as the service is served
(2 workers, uvloop, httptools) and drives it with wrk like the service. Each request checks the
bearer token's signature (PyJWT, as the service does), replays the service's captured SQL of a
GET by id (bench/capture.py: the staff lookup, BEGIN, the patient, the audit row, COMMIT) on a
pooled connection, and answers the patient row as JSON. What it lacks next to the service: the
service's dependencies, middleware, ORM, decryption and response model. So the service's
req/s over this one's is what the stack costs beyond the web framework itself.

Configured by the environment: BENCH_DSN, BENCH_STEPS (steps.json), BENCH_SESSION (the session
settings, JSON), SECRET_KEY.
"""

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from bench.common import load_steps
from bench.floor import Job, Replayer


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    session = json.loads(os.environ["BENCH_SESSION"])
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_DSN"], min_size=10, max_size=20, server_settings=session
    )
    steps = load_steps(Path(os.environ["BENCH_STEPS"]))["get"]
    app.state.replayer = Replayer(Job(os.environ["BENCH_DSN"], steps, [], "+5000", 1, 0, 0), 0)
    app.state.key = os.environ["SECRET_KEY"]
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/patients/{patient_id}/")
async def get_patient(patient_id: str, request: Request) -> JSONResponse:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        jwt.decode(token, request.app.state.key, algorithms=["HS256"])
    except jwt.PyJWTError:
        raise HTTPException(401) from None
    async with request.app.state.pool.acquire() as connection:
        rows = await request.app.state.replayer.request(connection, patient_id)
    if not rows:
        raise HTTPException(404)
    patient: dict[str, Any] = {key: _plain(value) for key, value in rows[0].items()}
    return JSONResponse(patient)


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | list) else str(value)
