"""What keeps a request cheap (bench/README.md "One core"), guarded."""

import gc
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.auth.access import Allowed
from app.patients import routes as patients
from tests.factories import create_patient


def test_a_read_by_id_solves_one_dependency():
    """FastAPI spends about 20 µs on each dependency it solves: the caller's is the only one."""
    route = next(r for r in patients.router.routes if getattr(r, "name", "") == "get_patient")
    assert isinstance(route, APIRoute)
    [dependency] = route.dependant.dependencies
    assert isinstance(dependency.call, Allowed)


async def _get(app: FastAPI, path: str, token: str) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


@pytest.mark.parametrize("path", ["/api/patients/{id}/", "/api/patients/"])
async def test_a_request_leaves_nothing_for_the_garbage_collector(app, client, path):
    """A reference cycle through a request (its state holding what holds the request) kept every
    request's objects until the collector came by: a tenth of a read's CPU."""
    patient = await create_patient(client)
    token = client.headers["Authorization"].removeprefix("Bearer ")
    url = path.format(id=patient["id"])
    assert await _get(app, url, token) == 200  # statements prepared, caches filled
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            assert await _get(app, url, token) == 200
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0
