"""The service of a plain audited resource (app/requests/resources.py): each call is one
statement that writes its audit event too, and a row not found is a 404, audited as such."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.core.errors import NotFound
from app.db.database import Database
from app.requests.resources import ResourceService
from app.requests.work import UnitOfWork
from tests.db.test_repository import RoomRepository, RoomRow
from tests.db.test_repository import database as database
from tests.requests.test_work import entry, events, statements  # noqa: F401 - a fixture

Call = Callable[[ResourceService[RoomRow]], Awaitable[Any]]


async def test_each_call_is_one_statement_with_its_event(database, engine, statements):  # noqa: F811
    async with UnitOfWork(database, entry("create_room"), status_code=201) as work:
        await statements.cleared()
        rooms = ResourceService(work, RoomRepository(work))
        room = await rooms.create({"name": "A", "building": "1"})
        assert len(await statements.settled()) == 1
    calls: list[tuple[str, Call]] = [
        ("get_room", lambda rooms: rooms.get(room["id"])),
        ("update_room", lambda rooms: rooms.update(room["id"], {"name": "B"})),
        ("list_rooms", lambda rooms: rooms.page({"building": "1"}, offset=0, limit=2)),
        ("delete_room", lambda rooms: rooms.delete(room["id"])),
    ]
    for action, call in calls:
        async with UnitOfWork(database, entry(action)) as work:
            await statements.cleared()
            await call(ResourceService(work, RoomRepository(work)))
            assert len(await statements.settled()) == 1, action
        [event] = await events(engine, action=action)
        assert (event["outcome"], event["status_code"]) == ("success", 200)
    [created] = await events(engine, action="create_room")
    assert created["status_code"] == 201


async def _on_a_missing_room(database: Database, action: str, call: Call) -> None:
    async with UnitOfWork(database, entry(action)) as work:
        await call(ResourceService(work, RoomRepository(work)))


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("get_room", lambda rooms: rooms.get(404)),
        ("update_room", lambda rooms: rooms.update(404, {"name": "B"})),
        ("delete_room", lambda rooms: rooms.delete(404)),
    ],
)
async def test_a_row_not_there_is_a_404_audited_as_not_found(database, engine, action, call):
    with pytest.raises(NotFound):
        await _on_a_missing_room(database, action, call)
    [event] = await events(engine, action=action)
    assert (event["outcome"], event["status_code"]) == ("not_found", 404)
