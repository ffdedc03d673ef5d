"""The generic repository of a plain resource (app/db/repository.py), on a table of its own."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import TypedDict

import pytest
from sqlalchemy import TIMESTAMP, BigInteger, Column, MetaData, String, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.database import Database
from app.db.query import RowMismatch
from app.db.repository import Repository

ROOMS = Table(
    "test_rooms",
    MetaData(),
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", String(50), nullable=False),
    Column("building", String(10), nullable=False),
    Column("deleted_at", TIMESTAMP(timezone=True)),
    Column("updated_at", TIMESTAMP(timezone=True), server_default=text("now()"), nullable=False),
)


class RoomRow(TypedDict):
    id: int
    name: str
    building: str


class RoomRepository(Repository[RoomRow]):
    table = ROOMS
    row = RoomRow
    filters = ("building",)
    order_by = ("building", "-name")
    deleted_at = "deleted_at"


class StampedRoomRepository(RoomRepository):
    updated_at = "updated_at"


class PlainRoomRepository(Repository[RoomRow]):
    """Rows are deleted, not kept."""

    table = ROOMS
    row = RoomRow


@pytest.fixture
async def database(app, anonymous, engine: AsyncEngine) -> AsyncIterator[Database]:
    async with engine.begin() as connection:
        await connection.run_sync(ROOMS.metadata.create_all)
    yield app.state.database
    async with engine.begin() as connection:
        await connection.run_sync(ROOMS.metadata.drop_all)


async def test_a_row_is_created_read_changed_and_deleted_but_kept(database, engine):
    rooms = RoomRepository(database)
    created = await rooms.create({"name": "Garden", "building": "A"})
    assert created == {"id": created["id"], "name": "Garden", "building": "A"}
    assert await rooms.get(created["id"]) == created
    changed = await rooms.update(created["id"], {"name": "Orchard"})
    assert changed == {**created, "name": "Orchard"}
    assert await rooms.update(created["id"], {}) == changed
    assert await rooms.delete(created["id"]) == changed
    assert await rooms.get(created["id"]) is None
    assert await rooms.update(created["id"], {"name": "Back"}) is None
    assert await rooms.delete(created["id"]) is None
    async with engine.connect() as connection:
        kept = await connection.scalar(text("SELECT deleted_at FROM test_rooms"))
    assert isinstance(kept, datetime)


async def test_a_plain_delete_deletes(database, engine):
    rooms = PlainRoomRepository(database)
    created = await rooms.create({"name": "Garden", "building": "A"})
    assert await rooms.delete(created["id"]) == created
    assert await rooms.get(created["id"]) is None
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM test_rooms")) == 0


async def _updated_at(engine: AsyncEngine, room_id: int) -> datetime:
    async with engine.connect() as connection:
        sql = text("SELECT updated_at FROM test_rooms WHERE id = :id")
        stamp: datetime = await connection.scalar(sql, {"id": room_id})
    return stamp


async def test_an_update_stamps_updated_at_when_the_repository_names_it(database, engine):
    stamped, unstamped = StampedRoomRepository(database), RoomRepository(database)
    room = await stamped.create({"name": "Garden", "building": "A"})
    created = await _updated_at(engine, room["id"])
    await unstamped.update(room["id"], {"name": "Orchard"})
    assert await _updated_at(engine, room["id"]) == created
    await stamped.update(room["id"], {"name": "Meadow"})
    assert await _updated_at(engine, room["id"]) > created


async def test_a_page_is_filtered_ordered_and_counted_without_deleted_rows(database):
    rooms = RoomRepository(database)
    for name, building in [("b", "A"), ("c", "A"), ("a", "A"), ("z", "B"), ("gone", "A")]:
        room = await rooms.create({"name": name, "building": building})
    await rooms.delete(room["id"])
    names = [row["name"] for row in await rooms.page({}, offset=0, limit=10)]
    assert names == ["c", "b", "a", "z"]  # building, then name descending
    in_a = await rooms.page({"building": "A"}, offset=1, limit=1)
    assert [row["name"] for row in in_a] == ["b"]
    assert [row["name"] for row in await rooms.page({"building": None}, offset=3, limit=5)] == ["z"]
    count = await rooms.count({"building": "A"}, exact_up_to=None)
    assert (count.total, count.exact) == (3, True)
    assert (await rooms.count({}, exact_up_to=1000)).total == 4
    with pytest.raises(KeyError, match="floor"):
        await rooms.page({"floor": 1}, offset=0, limit=1)
    with pytest.raises(KeyError, match="id"):
        await rooms.update(room["id"], {"id": 5})


def test_a_repository_naming_a_column_its_table_lacks_fails_when_defined():
    class MisspeltRow(TypedDict):
        id: int
        nmae: str

    with pytest.raises(RowMismatch, match=r"test_rooms lacks: \['nmae'\]"):

        class Misspelt(Repository[MisspeltRow]):
            table = ROOMS
            row = MisspeltRow

    with pytest.raises(RowMismatch, match=r"unknown columns: \['floor'\]"):

        class BadFilter(Repository[RoomRow]):
            table = ROOMS
            row = RoomRow
            filters = ("floor",)

    with pytest.raises(RowMismatch, match=r"unknown columns: \['size'\]"):

        class BadOrder(Repository[RoomRow]):
            table = ROOMS
            row = RoomRow
            order_by = ("-size",)

    with pytest.raises(RowMismatch, match=r"unknown columns: \['changed_at'\]"):

        class BadStamp(Repository[RoomRow]):
            table = ROOMS
            row = RoomRow
            updated_at = "changed_at"
