"""GET /api/patients/: filters, ordering and DRF page-number pagination, through the HTTP API."""

import asyncio
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import create_patient

LIST = "/api/patients/"
BATCH = 15
ID_SPACE = 36**6
ID_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

Params = Sequence[tuple[str, str]] | dict[str, str]
Patients = list[dict[str, Any]]

_clone_numbers = itertools.count(1)


def pairs_of(params: Params) -> tuple[tuple[str, str], ...]:
    return tuple(params.items()) if isinstance(params, dict) else tuple(params)


def scrambled_id(number: int) -> str:
    """Distinct numbers give distinct ids, scattered (Fibonacci hashing: a bijection of the ids)."""
    value = (number * 1_345_299_001 + 424_242) % ID_SPACE
    digits = ""
    for _ in range(6):
        value, digit = divmod(value, 36)
        digits = ID_DIGITS[digit] + digits
    return "p_" + digits


async def clone_patient(engine: AsyncEngine, source_id: str, count: int) -> list[str]:
    """Copy a patient made through the API `count` times, each one millisecond newer.

    Argon2 makes every API create cost tens of milliseconds, so bulk rows are copied in SQL;
    every column is copied as stored (hashes and encrypted fields stay valid) except the id,
    the phone number and the timestamps.
    """
    numbers = [next(_clone_numbers) for _ in range(count)]
    new_ids = [scrambled_id(number) for number in numbers]
    phones = [f"+1999{number:07d}" for number in numbers]
    async with engine.begin() as connection:
        columns = (
            await connection.scalars(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'patients'"
                )
            )
        ).all()
        computed = {
            "id": "u.new_id",
            "phone_no": "u.new_phone",
            "created_at": "p.created_at + u.n * interval '1 millisecond'",
            "updated_at": "p.updated_at + u.n * interval '1 millisecond'",
        }
        targets = ", ".join(f'"{column}"' for column in columns)
        values = ", ".join(computed.get(column, f'p."{column}"') for column in columns)
        await connection.execute(
            text(
                f"INSERT INTO patients ({targets}) SELECT {values}"  # noqa: S608 (column names)
                " FROM patients AS p, unnest(CAST(:ids AS text[]), CAST(:phones AS text[]),"
                " CAST(:ns AS int[])) AS u(new_id, new_phone, n) WHERE p.id = :source"
            ),
            {
                "ids": new_ids,
                "phones": phones,
                "ns": list(range(1, count + 1)),
                "source": source_id,
            },
        )
    return new_ids


async def create_many(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    count: int,
    make: Callable[[int], dict[str, Any]] | None = None,
) -> Patients:
    """`count` patients, created in this order; `make(i)` gives the i-th one's fields.

    One is created through the API, the rest are copies of it, and each one's own fields are
    then set through PATCH, so what the list shows was written through the API.
    """
    source = await create_patient(client)
    patient_ids = [source["id"], *await clone_patient(engine, source["id"], count - 1)]
    patients: Patients = []
    for start in range(0, count, BATCH):
        batch = patient_ids[start : start + BATCH]
        if make is None:
            requests = [client.get(f"{LIST}{pid}/") for pid in batch]
        else:
            requests = [
                client.patch(f"{LIST}{pid}/", json=make(start + offset))
                for offset, pid in enumerate(batch)
            ]
        for response in await asyncio.gather(*requests):
            assert response.status_code == 200, response.text
            patients.append(response.json())
    return patients


async def make_patients(
    client: httpx.AsyncClient, engine: AsyncEngine, *rows: dict[str, Any]
) -> Patients:
    """One patient per row of fields, created in this order."""
    return await create_many(client, engine, len(rows), lambda i: rows[i])


async def get_page(client: httpx.AsyncClient, params: Params = ()) -> dict[str, Any]:
    response = await client.get(LIST, params=pairs_of(params))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return body


async def list_ids(client: httpx.AsyncClient, params: Params = ()) -> list[str]:
    """The ids on one page big enough for every patient a test makes."""
    body = await get_page(client, [*pairs_of(params), ("page_size", "100")])
    assert body["next"] is None
    return [patient["id"] for patient in body["results"]]


def ids(patients: Sequence[dict[str, Any]]) -> list[str]:
    return [patient["id"] for patient in patients]


def query_of(url: str) -> dict[str, list[str]]:
    """The query of an absolute link to the list, as a dict of lists."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", LIST), url
    return parse_qs(parts.query, keep_blank_values=True)


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field in ("created_at", "updated_at"):
        return lambda patient: datetime.fromisoformat(patient[field])
    if field == "wallet_balance":
        return lambda patient: Decimal(patient[field])
    return lambda patient: patient[field]


def expected_order(patients: Sequence[dict[str, Any]], ordering: str) -> list[str]:
    """The ids in the contract's order: the ordering's terms, then `id` for ties."""
    ordered = sorted(patients, key=lambda patient: patient["id"])
    for term in reversed(ordering.split(",")):
        field = term.removeprefix("-")
        ordered.sort(key=_sort_key(field), reverse=term.startswith("-"))
    return ids(ordered)


async def fresh(client: httpx.AsyncClient, patients: Sequence[dict[str, Any]]) -> Patients:
    """The patients as the API shows them now (after wallet updates, patches…)."""
    responses = await asyncio.gather(*(client.get(f"{LIST}{p['id']}/") for p in patients))
    assert all(response.status_code == 200 for response in responses)
    return [response.json() for response in responses]


async def walk_forward(client: httpx.AsyncClient, params: Params) -> list[str]:
    """Follow `next` from page 1 to the end, checking each page's `previous` on the way."""
    body = await get_page(client, params)
    assert body["previous"] is None
    seen = ids(body["results"])
    page = 1
    while body["next"] is not None:
        assert query_of(body["next"])["page"] == [str(page + 1)]
        response = await client.get(body["next"])
        assert response.status_code == 200, response.text
        body = response.json()
        page += 1
        assert body["previous"] is not None
        assert query_of(body["previous"])["page"] == [str(page - 1)]
        seen += ids(body["results"])
    return seen


async def walk_backward(client: httpx.AsyncClient, params: Params) -> list[str]:
    """Follow `previous` from `page=last` to page 1; returns the ids in list order."""
    body = await get_page(client, [*pairs_of(params), ("page", "last")])
    assert body["next"] is None
    pages = [ids(body["results"])]
    while body["previous"] is not None:
        response = await client.get(body["previous"])
        assert response.status_code == 200, response.text
        body = response.json()
        pages.insert(0, ids(body["results"]))
    return [patient_id for page in pages for patient_id in page]


def check_cases(
    found: dict[str, list[str]], made: dict[str, dict[str, Any]], cases: dict[str, list[str]]
) -> None:
    """For each query, the patients (by key in `made`) the list should show, in any order."""
    wrong = {
        query: sorted(key for key, patient in made.items() if patient["id"] in found[query])
        for query, keys in cases.items()
        if sorted(found[query]) != sorted(made[key]["id"] for key in keys)
    }
    assert wrong == {}, "query -> patients found, where another set was expected"


async def search(
    client: httpx.AsyncClient, param: str, queries: Sequence[str]
) -> dict[str, list[str]]:
    return {query: await list_ids(client, {param: query}) for query in queries}


async def test_empty_list_is_page_one_with_count_zero_and_no_links(client):
    empty: dict[str, Any] = {"count": 0, "next": None, "previous": None, "results": []}
    cases: list[dict[str, str]] = [
        {},
        {"page": "1"},
        {"page": "last"},
        {"name": "nobody", "page_size": "5"},
        {"sex": "F", "ordering": "first_name"},
    ]
    for params in cases:
        response = await client.get(LIST, params=params)
        assert response.status_code == 200, params
        assert response.json() == empty, params


async def test_results_are_whole_patients_as_the_detail_endpoint_shows_them(client):
    patient = await create_patient(
        client, email="jane@example.com", ssn="123-45-6789", tags=["anxiety", "grief"]
    )
    wallet = await client.post(f"{LIST}{patient['id']}/update_wallet/", json={"amount": "12.50"})
    assert wallet.status_code == 200
    detail = (await client.get(f"{LIST}{patient['id']}/")).json()

    response = await client.get(LIST)
    assert response.status_code == 200
    assert response.json() == {"count": 1, "next": None, "previous": None, "results": [detail]}
    assert "password" not in detail
    assert "password_hash" not in detail
    assert detail["wallet_balance"] == "12.50"


async def test_name_is_a_case_insensitive_substring_of_first_or_last_name(client, engine):
    jane, john, anna = await make_patients(
        client,
        engine,
        {"first_name": "Jane", "last_name": "Doe"},
        {"first_name": "John", "last_name": "Smithers"},
        {"first_name": "Anna", "last_name": "Janeway"},
    )
    made = {"jane": jane, "john": john, "anna": anna}
    cases = {
        "jane": ["jane", "anna"],
        "JANE": ["jane", "anna"],
        "JoHn": ["john"],
        "mith": ["john"],
        "oe": ["jane"],
        "Doe": ["jane"],
        "n": ["jane", "john", "anna"],
        "anna janeway": ["anna"],
        "zed": [],
        "jane.": [],
    }
    check_cases(await search(client, "name", list(cases)), made, cases)
    assert (await get_page(client, {"name": "jane"}))["count"] == 2


async def test_name_with_several_words_needs_every_word_in_first_or_last_name(client, engine):
    jane_doe, jane_smith, john_doe = await make_patients(
        client,
        engine,
        {"first_name": "Jane", "last_name": "Doe"},
        {"first_name": "Jane", "last_name": "Smith"},
        {"first_name": "John", "last_name": "Doe"},
    )
    made = {"jane_doe": jane_doe, "jane_smith": jane_smith, "john_doe": john_doe}
    cases = {
        "jane doe": ["jane_doe"],
        "DOE  Jane": ["jane_doe"],
        " smi\tja ": ["jane_smith"],
        "o d": ["jane_doe", "john_doe"],
        "jo hn": ["john_doe"],  # both words may match the same name
        "j e": ["jane_doe", "jane_smith", "john_doe"],
        "jane zed": [],
        "john smith": [],
        "jane doe smith": [],
    }
    check_cases(await search(client, "name", list(cases)), made, cases)


async def test_name_treats_like_wildcards_literally(client, engine):
    under, plain, percent, peter, backslash = await make_patients(
        client,
        engine,
        {"first_name": "Jo_e", "last_name": "Plain"},
        {"first_name": "Jobe", "last_name": "Joe"},
        {"first_name": "Pe%ter", "last_name": "Plain"},
        {"first_name": "Peter", "last_name": "Pet"},
        {"first_name": "Nick", "last_name": "Back\\slash"},
    )
    made = {
        "under": under,
        "plain": plain,
        "percent": percent,
        "peter": peter,
        "backslash": backslash,
    }
    cases = {
        "_": ["under"],
        "o_e": ["under"],
        "__": [],
        "%": ["percent"],
        "e%t": ["percent"],
        "%%": [],
        "p%r": [],
        "\\": ["backslash"],
        "k\\s": ["backslash"],
        "\\%": [],
        "\\_": [],
        "[a-z]": [],
        "jo_e plain": ["under"],
        "% plain": ["percent"],
    }
    check_cases(await search(client, "name", list(cases)), made, cases)


async def test_empty_name_is_ignored(client, engine):
    patients = await create_many(client, engine, 3)
    for value in ("", "   ", "\t"):
        assert sorted(await list_ids(client, {"name": value})) == sorted(ids(patients)), value


async def test_phone_matches_the_query_digits_within_the_phone_digits(client, engine):
    us_plus, us_plain, uk = await make_patients(
        client,
        engine,
        {"phone_no": "+14155550123"},
        {"phone_no": "4155550199"},
        {"phone_no": "+442071838750"},
    )
    made = {"us_plus": us_plus, "us_plain": us_plain, "uk": uk}
    cases = {
        "(415) 555": ["us_plus", "us_plain"],
        "415-555": ["us_plus", "us_plain"],
        "[415] 555": ["us_plus", "us_plain"],
        "+1 (415) 555-0123": ["us_plus"],
        "14155550123": ["us_plus"],
        "+14155550123": ["us_plus"],
        "555 01": ["us_plus", "us_plain"],
        "0199": ["us_plain"],
        "+4155": ["us_plus", "us_plain"],
        "+44": ["uk"],
        "+44 20 7183 8750": ["uk"],
        "2071 838": ["uk"],
        "(0) 7183-8750": ["uk"],
        "4156": [],
        "999": [],
        "141555501234": [],
    }
    check_cases(await search(client, "phone", list(cases)), made, cases)
    assert sorted(await list_ids(client, {"phone": ""})) == sorted(ids([us_plus, us_plain, uk]))


async def test_email_is_a_case_insensitive_substring_and_never_matches_no_email(client, engine):
    ann, bob, none = await make_patients(
        client,
        engine,
        {"email": "ann@example.com"},
        {"email": "BOB_1@Example.org"},
        {"email": None},
    )
    assert none["email"] is None
    made = {"ann": ann, "bob": bob, "none": none}
    cases = {
        "example": ["ann", "bob"],
        "EXAMPLE.COM": ["ann"],
        "bob_1@example.ORG": ["bob"],
        "@": ["ann", "bob"],
        "ann@": ["ann"],
        "_": ["bob"],
        "b_1": ["bob"],
        "%": [],
        "a%m": [],
        "nobody": [],
        "none": [],
        "": ["ann", "bob", "none"],
    }
    check_cases(await search(client, "email", list(cases)), made, cases)


async def test_tag_is_exact_and_repeated_tags_must_all_hold(client, engine):
    both, anxious, grieving, untagged = await make_patients(
        client,
        engine,
        {"tags": ["anxiety", "grief"]},
        {"tags": ["anxiety", "sleep"]},
        {"tags": ["grief"]},
        {"tags": []},
    )
    made = {"both": both, "anxious": anxious, "grieving": grieving, "untagged": untagged}
    cases: dict[tuple[str, ...], list[str]] = {
        ("anxiety",): ["both", "anxious"],
        ("grief",): ["both", "grieving"],
        ("anxiety", "grief"): ["both"],
        ("grief", "anxiety"): ["both"],
        ("anxiety", "anxiety"): ["both", "anxious"],
        ("anxiety", "grief", "sleep"): [],
        ("anx",): [],
        ("anxiety grief",): [],
        ("Anxiety",): [],
        ("%",): [],
        ("nope",): [],
    }
    for tags, keys in cases.items():
        found = await list_ids(client, [("tag", tag) for tag in tags])
        assert sorted(found) == sorted(made[key]["id"] for key in keys), tags
    assert (await get_page(client, [("tag", "anxiety"), ("tag", "grief")]))["count"] == 1


async def test_empty_tag_is_ignored(client, engine):
    patients = await make_patients(client, engine, {"tags": ["anxiety"]}, {"tags": []})
    assert sorted(await list_ids(client, [("tag", "")])) == sorted(ids(patients))


async def test_sex_is_exact_and_empty_is_ignored(client, engine):
    patients = await make_patients(
        client, engine, {"sex": "M"}, {"sex": "F"}, {"sex": "O"}, {"sex": "P"}, {"sex": "F"}
    )
    for sex in ("M", "F", "O", "P"):
        expected = sorted(patient["id"] for patient in patients if patient["sex"] == sex)
        assert sorted(await list_ids(client, {"sex": sex})) == expected, sex
    assert sorted(await list_ids(client, {"sex": ""})) == sorted(ids(patients))


@pytest.mark.parametrize("value", ["X", "m", "f", "Male", "FF", "M,F", "1", "null"])
async def test_invalid_sex_is_a_400_on_sex(client, value):
    await create_patient(client, sex="M")
    response = await client.get(LIST, params={"sex": value, "page": "1"})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["sex"]
    assert isinstance(body["sex"], list)
    assert body["sex"]
    assert all(isinstance(message, str) and message for message in body["sex"])


async def test_filters_combine_and_every_one_must_hold(client, engine):
    def make(i: int) -> dict[str, Any]:
        return {
            "first_name": ("Anne", "Bert")[i % 2],
            "last_name": ("Lane", "Stone")[i // 2 % 2],
            "sex": ("F", "M")[i // 4 % 2],
            "email": f"user{i}@{('example.com', 'mail.org')[i // 8 % 2]}",
            "phone_no": f"+{('1415', '1212')[i // 16 % 2]}555{i:04d}",
            "tags": ["anxiety"] if i % 3 else ["anxiety", "grief"],
        }

    patients = await create_many(client, engine, 32, make)

    def matching(predicate: Callable[[int], bool]) -> list[str]:
        return sorted(patient["id"] for i, patient in enumerate(patients) if predicate(i))

    cases: list[tuple[list[tuple[str, str]], Callable[[int], bool]]] = [
        ([("name", "anne"), ("sex", "F")], lambda i: i % 2 == 0 and i // 4 % 2 == 0),
        ([("name", "bert stone")], lambda i: i % 2 == 1 and i // 2 % 2 == 1),
        ([("name", "ne"), ("email", "MAIL.org")], lambda i: i // 8 % 2 == 1),
        ([("phone", "(212) 555"), ("tag", "grief")], lambda i: i // 16 % 2 == 1 and i % 3 == 0),
        (
            [
                ("name", "anne lane"),
                ("sex", "M"),
                ("email", "example"),
                ("phone", "1415"),
                ("tag", "anxiety"),
            ],
            lambda i: i == 4,
        ),
        (
            [("sex", "F"), ("tag", "anxiety"), ("tag", "grief"), ("phone", "+1 415")],
            lambda i: i // 4 % 2 == 0 and i % 3 == 0 and i < 16,
        ),
        ([("sex", "M"), ("name", ""), ("phone", ""), ("email", "")], lambda i: i // 4 % 2 == 1),
        (
            [("name", "anne"), ("sex", "F"), ("email", "mail"), ("phone", "1212")],
            lambda i: i in (24, 26),
        ),
        ([("name", "bert"), ("tag", "sleep")], lambda i: False),
    ]
    for params, predicate in cases:
        expected = matching(predicate)
        body = await get_page(client, [*params, ("page_size", "100")])
        assert sorted(ids(body["results"])) == expected, params
        assert body["count"] == len(expected), params


async def four_patients_each_field_in_a_different_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> Patients:
    """Created in order 0..3; every orderable field sorts them another way."""
    rows = [
        ("Cara", "Young", "1990-02-03", "7.25"),
        ("Abe", "Zane", "1970-01-01", "100.00"),
        ("Dan", "Xu", "1985-06-30", "12.50"),
        ("Bea", "Wells", "2000-12-31", "50.00"),
    ]
    patients = await make_patients(
        client,
        engine,
        *(
            {"first_name": first, "last_name": last, "date_of_birth": born}
            for first, last, born, _ in rows
        ),
    )
    for index in (2, 0, 3, 1):  # updated_at follows the order of these writes
        response = await client.post(
            f"{LIST}{patients[index]['id']}/update_wallet/", json={"amount": rows[index][3]}
        )
        assert response.status_code == 200, response.text
    return await fresh(client, patients)


async def test_ordering_by_each_field_ascending_and_descending(client, engine):
    patients = await four_patients_each_field_in_a_different_order(client, engine)
    by_index = {
        "created_at": [0, 1, 2, 3],
        "updated_at": [2, 0, 3, 1],
        "first_name": [1, 3, 0, 2],
        "last_name": [3, 2, 0, 1],
        "date_of_birth": [1, 2, 0, 3],
        "wallet_balance": [0, 2, 3, 1],  # numeric, not as strings
    }
    for field, order in by_index.items():
        ascending = [patients[i]["id"] for i in order]
        assert expected_order(patients, field) == ascending, field
        assert await list_ids(client, {"ordering": field}) == ascending, field
        assert await list_ids(client, {"ordering": f"-{field}"}) == ascending[::-1], field


async def test_default_ordering_is_newest_first(client):
    patients = [await create_patient(client, first_name=name) for name in ("Bo", "Al", "Cy")]
    newest_first = ids(patients)[::-1]
    assert await list_ids(client) == newest_first
    assert await list_ids(client, {"ordering": ""}) == newest_first
    assert await list_ids(client, {"ordering": "-created_at"}) == newest_first
    assert ids((await get_page(client))["results"]) == newest_first


async def test_ordering_by_several_comma_separated_fields(client, engine):
    rows = [
        ("Ann", "Smith", "1980-01-01"),
        ("Bob", "Jones", "1990-01-01"),
        ("Cat", "Smith", "1970-01-01"),
        ("Ann", "Jones", "1985-01-01"),
        ("Bob", "Smith", "1985-01-01"),
        ("Ann", "Jones", "1975-01-01"),
    ]
    patients = await make_patients(
        client,
        engine,
        *(
            {"first_name": first, "last_name": last, "date_of_birth": born}
            for first, last, born in rows
        ),
    )
    by_hand = [patients[i]["id"] for i in (5, 3, 1, 0, 4, 2)]
    assert await list_ids(client, {"ordering": "last_name,first_name,date_of_birth"}) == by_hand

    for ordering in (
        "last_name,first_name",
        "last_name,-first_name",
        "-last_name,date_of_birth",
        "first_name,-date_of_birth",
        "-first_name,-last_name,-date_of_birth",
        "date_of_birth,-created_at",
        "last_name,-created_at",
        "first_name,updated_at",
    ):
        expected = expected_order(patients, ordering)
        assert await list_ids(client, {"ordering": ordering}) == expected, ordering


async def test_ties_are_broken_by_id(client, engine):
    same = await create_many(
        client,
        engine,
        12,
        lambda i: {"first_name": "Sam", "last_name": "Lee", "date_of_birth": "1990-01-01"},
    )
    by_id = sorted(ids(same))
    assert ids(same) != by_id  # creation order alone would not pass
    for ordering in (
        "first_name",
        "-first_name",
        "last_name",
        "-last_name",
        "date_of_birth",
        "-date_of_birth",
        "wallet_balance",
        "-wallet_balance",
        "first_name,last_name,-date_of_birth",
    ):
        assert await list_ids(client, {"ordering": ordering}) == by_id, ordering
        assert await walk_forward(client, {"ordering": ordering, "page_size": "5"}) == by_id

    other = await create_patient(client, first_name="Abe", last_name="Lee")
    assert await list_ids(client, {"ordering": "first_name"}) == [other["id"], *by_id]
    assert await list_ids(client, {"ordering": "-first_name"}) == [*by_id, other["id"]]


async def test_unknown_ordering_fields_are_ignored(client, engine):
    patients = await four_patients_each_field_in_a_different_order(client, engine)
    cases = {
        "nope": "-created_at",
        "id": "-created_at",
        "-id": "-created_at",
        "password_hash": "-created_at",
        "ssn": "-created_at",
        "sex,tags": "-created_at",
        "-": "-created_at",
        "--first_name": "-created_at",
        ",": "-created_at",
        "first_name; drop table patients": "-created_at",
        "nope,first_name": "first_name",
        "-last_name,nope": "-last_name",
        "first_name,": "first_name",
        " first_name , -date_of_birth ": "first_name,-date_of_birth",
        "FIRST_NAME,last_name": "last_name",
        "email,-wallet_balance,phone_no": "-wallet_balance",
    }
    wrong = {
        ordering: found
        for ordering, effective in cases.items()
        if (found := await list_ids(client, {"ordering": ordering}))
        != expected_order(patients, effective)
    }
    assert wrong == {}


async def test_default_page_size_is_20_with_count_and_links(client, engine):
    patients = await create_many(client, engine, 25)
    newest_first = expected_order(patients, "-created_at")

    first = await get_page(client)
    assert first["count"] == 25
    assert ids(first["results"]) == newest_first[:20]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/patients/?page=2"

    second = await get_page(client, {"page": "2"})
    assert second["count"] == 25
    assert ids(second["results"]) == newest_first[20:]
    assert second["next"] is None
    assert query_of(second["previous"]) == {"page": ["1"]}

    assert await get_page(client, {"page": "1"}) == first
    assert (await client.get(second["previous"])).json() == first


async def test_page_size_sets_the_page_length_and_invalid_sizes_fall_back_to_20(client, engine):
    patients = await create_many(client, engine, 22)
    newest_first = expected_order(patients, "-created_at")
    for size, shown in [("1", 1), ("7", 7), ("20", 20), ("21", 21), ("22", 22), ("100", 22)]:
        body = await get_page(client, {"page_size": size})
        assert body["count"] == 22
        assert ids(body["results"]) == newest_first[:shown], size
        assert (body["next"] is None) == (shown == 22), size

    for size in ("0", "-1", "-20", "abc", "2.5", "1e1", "", " ", "0x10", "twenty"):
        body = await get_page(client, {"page_size": size})
        assert ids(body["results"]) == newest_first[:20], size
        assert query_of(body["next"]) == {"page": ["2"], "page_size": [size]}, size


async def test_page_size_is_at_most_100(client, engine):
    patients = await create_many(client, engine, 101)
    newest_first = expected_order(patients, "-created_at")
    for size in ("100", "101", "150", "5000"):
        first = await get_page(client, {"page_size": size})
        assert first["count"] == 101
        assert ids(first["results"]) == newest_first[:100], size
        assert query_of(first["next"]) == {"page": ["2"], "page_size": [size]}
        response = await client.get(first["next"])
        assert response.status_code == 200
        assert ids(response.json()["results"]) == newest_first[100:], size
        assert response.json()["next"] is None


async def test_any_page_size_above_100_is_clamped_not_ignored(client, engine):
    patients = await create_many(client, engine, 30)
    newest_first = expected_order(patients, "-created_at")
    wrong = {}
    for size in ("101", "99999999", "999999999", "1000000000", "10000000000000"):
        body = await get_page(client, {"page_size": size})
        if ids(body["results"]) != newest_first or body["next"] is not None:
            wrong[size] = len(body["results"])
    assert wrong == {}, "page_size -> results shown, where all 30 were expected"


async def test_page_last_is_the_last_page(client, engine):
    patients = await create_many(client, engine, 5)
    newest_first = expected_order(patients, "-created_at")

    last = await get_page(client, {"page": "last", "page_size": "2"})
    assert last["count"] == 5
    assert ids(last["results"]) == newest_first[4:]
    assert last["next"] is None
    assert query_of(last["previous"]) == {"page": ["2"], "page_size": ["2"]}
    assert last == await get_page(client, {"page": "3", "page_size": "2"})

    whole = await get_page(client, {"page": "last"})
    assert ids(whole["results"]) == newest_first
    assert whole["previous"] is None
    assert whole["next"] is None


async def test_invalid_or_past_the_end_page_is_404_invalid_page(client, engine):
    await create_many(client, engine, 5)
    assert len((await get_page(client, {"page": "3", "page_size": "2"}))["results"]) == 1
    for page in ("4", "5", "100", "999999999999", "0", "-1", "abc", "", "1.0", "LAST", "first"):
        response = await client.get(LIST, params={"page": page, "page_size": "2"})
        assert response.status_code == 404, page
        assert response.json() == {"detail": "Invalid page."}, page


async def test_invalid_page_on_an_empty_list_is_404(client):
    for page in ("0", "-1", "abc", "2", "LAST"):
        response = await client.get(LIST, params={"page": page})
        assert response.status_code == 404, page
        assert response.json() == {"detail": "Invalid page."}, page


async def test_page_past_the_end_of_a_filtered_list_is_404(client, engine):
    await create_many(client, engine, 4, lambda i: {"first_name": ("Ann", "Bob")[i % 2]})
    assert len((await get_page(client, {"name": "ann", "page_size": "2"}))["results"]) == 2
    response = await client.get(LIST, params={"name": "ann", "page": "2", "page_size": "2"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


async def test_links_are_absolute_and_keep_every_other_query_parameter(client, engine):
    patients = await create_many(
        client,
        engine,
        9,
        lambda i: {
            "first_name": f"Ann{'abcdefghi'[i]}",
            "email": f"ann{i}@example.com",
            "phone_no": f"+1415777{i:04d}",
            "tags": ["anxiety", "grief"] if i < 7 else ["anxiety"],
        },
    )
    params = [
        ("name", "ann"),
        ("email", "EXAMPLE"),
        ("tag", "anxiety"),
        ("tag", "grief"),
        ("sex", "F"),
        ("phone", "+1 415"),
        ("ordering", "-first_name"),
        ("page_size", "3"),
    ]
    expected = expected_order(patients[:7], "-first_name")
    kept = {
        "name": ["ann"],
        "email": ["EXAMPLE"],
        "tag": ["anxiety", "grief"],
        "sex": ["F"],
        "phone": ["+1 415"],
        "ordering": ["-first_name"],
        "page_size": ["3"],
    }

    first = await get_page(client, params)
    assert first["count"] == 7
    assert ids(first["results"]) == expected[:3]
    assert first["next"].startswith("http://testserver/api/patients/?")
    assert query_of(first["next"]) == {**kept, "page": ["2"]}

    second = (await client.get(first["next"])).json()
    assert ids(second["results"]) == expected[3:6]
    assert query_of(second["previous"]) == {**kept, "page": ["1"]}
    assert query_of(second["next"]) == {**kept, "page": ["3"]}

    third = (await client.get(second["next"])).json()
    assert ids(third["results"]) == expected[6:]
    assert third["next"] is None
    assert query_of(third["previous"]) == {**kept, "page": ["2"]}

    assert (await client.get(third["previous"])).json() == second
    assert (await client.get(second["previous"])).json() == first


async def test_walking_every_page_sees_every_patient_once(client, engine):
    born = ("1980-01-01", "1990-06-15", "1975-03-03")

    def make(i: int) -> dict[str, Any]:
        return {
            "first_name": ("Ann", "Bob", "Cat")[i % 3],
            "last_name": f"L{i % 5}",
            "date_of_birth": born[i % 3],
            "sex": "FM"[i % 2],
        }

    patients = await create_many(client, engine, 45, make)
    for index in range(0, 45, 4):
        response = await client.post(
            f"{LIST}{patients[index]['id']}/update_wallet/", json={"amount": f"{index % 3 + 1}.50"}
        )
        assert response.status_code == 200
    patients = await fresh(client, patients)

    for ordering in (
        None,
        "first_name",
        "-wallet_balance",
        "date_of_birth,-last_name",
        "last_name,first_name",
        "-updated_at",
        "-date_of_birth",
    ):
        params = [("page_size", "7")] + ([("ordering", ordering)] if ordering else [])
        expected = expected_order(patients, ordering or "-created_at")

        forward = await walk_forward(client, params)
        assert len(forward) == 45, ordering
        assert len(set(forward)) == 45, ordering
        assert forward == expected, ordering

        assert await walk_backward(client, params) == expected, ordering

        pages = [await get_page(client, [*params, ("page", str(n))]) for n in range(1, 8)]
        assert [len(page["results"]) for page in pages] == [7, 7, 7, 7, 7, 7, 3]
        assert all(page["count"] == 45 for page in pages)
        assert [pid for page in pages for pid in ids(page["results"])] == expected, ordering


async def test_walking_a_filtered_list_keeps_the_filter(client, engine):
    patients = await create_many(
        client, engine, 20, lambda i: {"sex": "FM"[i % 2], "first_name": ("Ann", "Bob")[i % 4 // 2]}
    )
    women = [patient for patient in patients if patient["sex"] == "F"]
    seen = await walk_forward(
        client, [("sex", "F"), ("ordering", "first_name"), ("page_size", "3")]
    )
    assert seen == expected_order(women, "first_name")
    assert len(set(seen)) == 10


@pytest.fixture
def exact_count_limit(settings, monkeypatch):
    """Sets LIST_EXACT_COUNT_LIMIT for one test (the app reads its settings per request)."""

    def set_limit(limit: int) -> None:
        monkeypatch.setattr(settings, "list_exact_count_limit", limit)

    return set_limit


async def test_count_is_exact_up_to_the_exact_count_limit(client, engine, exact_count_limit):
    await create_many(client, engine, 6, lambda i: {"first_name": ("Ann", "Bob")[i // 5]})
    exact_count_limit(5)
    assert (await get_page(client, {"name": "ann", "page_size": "2"}))["count"] == 5
    exact_count_limit(0)
    assert (await get_page(client, {"page_size": "2"}))["count"] == 6


async def test_past_the_limit_count_is_an_estimate_and_pages_still_walk(
    client, engine, exact_count_limit
):
    patients = await create_many(client, engine, 7)
    newest_first = expected_order(patients, "-created_at")
    exact_count_limit(3)
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE patients"))

    first = await get_page(client, {"page_size": "2"})
    assert first["count"] == 7  # the planner's estimate, right after ANALYZE
    assert await walk_forward(client, [("page_size", "2")]) == newest_first

    last = await get_page(client, {"page": "last", "page_size": "2"})
    assert last["count"] == 7
    assert ids(last["results"]) == newest_first[6:]
    assert (await client.get(LIST, params={"page": "5", "page_size": "2"})).status_code == 404


async def test_an_estimate_never_contradicts_the_page_it_comes_with(
    client, engine, exact_count_limit
):
    """Without fresh statistics the estimate may be anything: what a page shows bounds it."""
    patients = await create_many(client, engine, 5)
    exact_count_limit(1)
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE patients"))
    await clone_patient(engine, patients[0]["id"], 4)  # 9 now, the statistics still say 5

    pages = [await get_page(client, {"page_size": "2", "page": str(n)}) for n in range(1, 6)]
    for number, page in enumerate(pages, start=1):
        shown = 2 * (number - 1) + len(page["results"])
        assert page["count"] >= shown + (page["next"] is not None), number
    assert pages[-1]["count"] == 9
    assert pages[-1]["next"] is None
    assert len({pid for page in pages for pid in ids(page["results"])}) == 9
