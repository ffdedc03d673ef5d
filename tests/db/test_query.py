"""Query: a SQLAlchemy statement compiled once and run on asyncpg, with the conversions asyncpg
does not make (PHI encrypted and decrypted), and the pool's codecs (JSONB as Python values)."""

from typing import NotRequired, TypedDict

import pytest
from sqlalchemy import bindparam, insert, literal, select, text, update

from app.db.database import Database
from app.db.query import NoRow, Query, RowMismatch
from app.models.patient import Patient
from tests.factories import create_patient


class IdRow(TypedDict):
    id: str


class SsnOnlyRow(TypedDict):
    ssn: str | None


class SsnRow(IdRow, SsnOnlyRow):
    pass


class TagsRow(TypedDict):
    tags: list[str]


@pytest.fixture
def database(app, anonymous) -> Database:
    """The app's database; `anonymous` empties the tables afterwards."""
    database: Database = app.state.database
    return database


def test_parameters_are_positional_by_name_and_literals_are_defaults():
    query = Query(
        select(Patient.id).where(
            Patient.first_name == bindparam("name"),
            Patient.last_name == bindparam("name"),
            Patient.sex == literal("F"),
        ),
        IdRow,
    )
    assert "$2" in query.sql  # one parameter, used twice, and the literal F
    assert "$3" not in query.sql
    assert query.arguments({"name": "Jane"}) == ["Jane", "F"]
    assert query.arguments({"name": "Jane", "param_1": "M"}) == ["Jane", "M"]
    with pytest.raises(KeyError):
        query.arguments({})


def test_a_statement_that_writes_anywhere_is_not_reads_only():
    changed = update(Patient).values(first_name="x").returning(Patient.id).cte("changed")
    assert Query(select(Patient.id), IdRow).reads_only
    assert not Query(select(changed.c.id), IdRow).reads_only
    assert not Query(insert(Patient).values(id="p_aaaaaa"), NoRow).reads_only
    assert not Query(select(Patient.id).add_cte(changed), IdRow).reads_only


class NameRow(TypedDict):
    id: str
    first_name: str


class OptionalNameRow(TypedDict):
    id: str
    first_name: NotRequired[str]


def test_a_declared_row_names_exactly_the_columns_of_its_statement():
    names = select(Patient.id, Patient.first_name)
    assert Query(names, NameRow).row_type is NameRow
    assert Query(names, OptionalNameRow).row_type is OptionalNameRow
    assert Query(update(Patient).values(first_name="x"), NoRow).row_type is NoRow
    returning = update(Patient).values(first_name="x").returning(Patient.id, Patient.first_name)
    assert Query(returning, NameRow).row_type is NameRow


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (select(Patient.id), r"not declared \[\], not returned \['first_name'\]"),
        (
            select(Patient.id, Patient.first_name, Patient.last_name),
            r"not declared \['last_name'\], not returned \[\]",
        ),
        (select(Patient.id, Patient.last_name.label("first_name")), None),
        (update(Patient).values(first_name="x"), r"not returned \['first_name', 'id'\]"),
    ],
    ids=["a column missing", "a column extra", "a label", "no RETURNING"],
)
def test_a_row_that_does_not_match_its_statement_fails_when_compiled(statement, message):
    if message is None:  # a label with the declared name is the declared column
        assert Query(statement, NameRow).row_type is NameRow
        return
    with pytest.raises(RowMismatch, match=message):
        Query(statement, NameRow)


class MisspeltRow(TypedDict):
    id: str
    frist_name: str


def test_a_misspelt_column_fails_when_compiled():
    with pytest.raises(
        RowMismatch, match=r"not declared \['first_name'\], not returned \['frist_name'\]"
    ):
        Query(select(Patient.id, Patient.first_name), MisspeltRow)


def test_a_row_must_be_a_typed_dict_and_its_columns_distinct():
    with pytest.raises(RowMismatch, match="not a TypedDict"):
        Query(select(Patient.id), dict)
    doubled = select(Patient.id, Patient.first_name, Patient.first_name.label("first_name"))
    with pytest.raises(RowMismatch):
        Query(doubled, NameRow)


async def test_phi_is_encrypted_in_the_row_and_decrypted_in_the_result(client, database, engine):
    patient = await create_patient(client, ssn="123-45-6789")
    read = Query(select(Patient.id, Patient.ssn).where(Patient.id == bindparam("id")), SsnRow)
    assert await database.fetch_one(read, id=patient["id"]) == {
        "id": patient["id"],
        "ssn": "123-45-6789",
    }
    write = Query(
        update(Patient)
        .where(Patient.id == bindparam("id"))
        .values(ssn=bindparam("ssn", type_=Patient.ssn.type))
        .returning(Patient.ssn),
        SsnOnlyRow,
    )
    assert await database.fetch_one(write, id=patient["id"], ssn="987-65-4321") == {
        "ssn": "987-65-4321"
    }
    async with engine.connect() as connection:
        stored = await connection.scalar(
            text("SELECT ssn FROM patients WHERE id = :id"), {"id": patient["id"]}
        )
    assert stored.startswith("v1:")
    assert "987" not in stored


async def test_jsonb_comes_and_goes_as_python_values(client, database):
    patient = await create_patient(client, tags=["sleep"])
    tags = Query(
        update(Patient)
        .where(Patient.id == bindparam("id"))
        .values(tags=bindparam("tags", type_=Patient.tags.type))
        .returning(Patient.tags),
        TagsRow,
    )
    row = await database.fetch_one(tags, id=patient["id"], tags=["a", "b"])
    assert row == {"tags": ["a", "b"]}
