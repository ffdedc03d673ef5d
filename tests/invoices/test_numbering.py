"""Invoice numbers (app.invoices.repository): per year in the clinic's time zone, consecutive
under concurrent issues, with no duplicate, and with no gap when an issue fails, whether before
it takes its number or after."""

import asyncio
from datetime import UTC, datetime, tzinfo
from typing import Any

import pytest
from sqlalchemy import text

from app.core.errors import Conflict
from app.ledger.repository import LedgerRepository
from tests.invoices.conftest import draft, issue, issued, ledger_total, numbers, url

CONCURRENT = 30


def year(settings: Any) -> int:
    return datetime.now(settings.clinic_zone).year


def freeze(monkeypatch: pytest.MonkeyPatch, instant: datetime) -> None:
    """The issuing service's clock, stopped at `instant`."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> "Frozen":
            shown = instant.astimezone(tz or UTC)
            return cls.combine(shown.date(), shown.timetz())

    monkeypatch.setattr("app.invoices.service.datetime", Frozen)


async def test_concurrent_issues_take_consecutive_numbers(client, patient, engine, settings):
    drafts = [await draft(client, patient["id"]) for _ in range(CONCURRENT)]

    answers = await asyncio.gather(*(client.post(url(one["id"], "issue")) for one in drafts))

    assert [answer.status_code for answer in answers] == [200] * CONCURRENT, [
        answer.text for answer in answers if answer.status_code != 200
    ]
    wanted = [f"{year(settings)}-{n:06d}" for n in range(1, CONCURRENT + 1)]
    assert sorted(answer.json()["number"] for answer in answers) == wanted
    assert await numbers(engine) == wanted
    assert await ledger_total(engine) == 0


async def test_a_draft_issued_twice_at_once_is_issued_once(client, patient, engine, settings):
    invoice = await draft(client, patient["id"])

    answers = await asyncio.gather(*(client.post(url(invoice["id"], "issue")) for _ in range(10)))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] + [409] * 9, [answer.text for answer in answers]
    assert await numbers(engine) == [f"{year(settings)}-000001"]
    # The refusals took no number.
    following = await issued(client, patient["id"])
    assert following["number"] == f"{year(settings)}-000002"
    assert await ledger_total(engine) == 0


async def test_an_issue_refused_takes_no_number(client, patient, engine, settings):
    first = await issued(client, patient["id"])
    for action in ("issue", "void", "issue"):
        await client.post(url(first["id"], action))

    second = await issued(client, patient["id"])

    assert [first["number"], second["number"]] == [
        f"{year(settings)}-000001",
        f"{year(settings)}-000002",
    ]


async def test_an_issue_that_fails_after_taking_its_number_gives_it_back(
    client, patient, engine, settings, monkeypatch
):
    first = await issued(client, patient["id"])
    failing = await draft(client, patient["id"])
    post = LedgerRepository.post

    async def fails(self: LedgerRepository, *args: Any, **kwargs: Any) -> int:
        await post(self, *args, **kwargs)
        raise Conflict("The ledger failed.")

    monkeypatch.setattr(LedgerRepository, "post", fails)
    answer = await client.post(url(failing["id"], "issue"))
    monkeypatch.undo()

    assert answer.status_code == 409
    assert (await client.get(url(failing["id"]))).json() == failing
    second = await issued(client, patient["id"])
    late = await issue(client, failing["id"])
    this_year = year(settings)
    assert [first["number"], second["number"], late["number"]] == [
        f"{this_year}-000001",
        f"{this_year}-000002",
        f"{this_year}-000003",
    ]
    assert await ledger_total(engine) == 0


async def test_concurrent_issues_some_failing_leave_no_gap(
    client, patient, engine, settings, monkeypatch
):
    """Every third issue fails after its number and its ledger entries: the others still take
    consecutive numbers."""
    drafts = [await draft(client, patient["id"]) for _ in range(15)]
    failing = {one["id"] for one in drafts[::3]}
    post = LedgerRepository.post

    async def sometimes_fails(self: LedgerRepository, *args: Any, **kwargs: Any) -> int:
        posted = await post(self, *args, **kwargs)
        if kwargs.get("invoice_id") in failing:
            raise Conflict("The ledger failed.")
        return posted

    monkeypatch.setattr(LedgerRepository, "post", sometimes_fails)
    answers = await asyncio.gather(*(client.post(url(one["id"], "issue")) for one in drafts))

    codes = {one["id"]: answer.status_code for one, answer in zip(drafts, answers, strict=True)}
    assert codes == {one["id"]: 409 if one["id"] in failing else 200 for one in drafts}
    this_year = year(settings)
    assert await numbers(engine) == [f"{this_year}-{n:06d}" for n in range(1, 11)]
    assert await ledger_total(engine) == 0


async def test_numbers_run_per_year_of_the_clinics_time_zone(
    client, patient, engine, settings, monkeypatch
):
    assert settings.clinic_timezone == "Europe/Berlin"
    this_year = year(settings)
    before = await issued(client, patient["id"])
    # 23:30 UTC on New Year's Eve is already the new year in Berlin.
    freeze(monkeypatch, datetime(2040, 12, 31, 23, 30, tzinfo=UTC))
    first = await issued(client, patient["id"])
    second = await issued(client, patient["id"])
    freeze(monkeypatch, datetime(2040, 12, 31, 22, 30, tzinfo=UTC))
    last_of_2040 = await issued(client, patient["id"])
    monkeypatch.undo()
    after = await issued(client, patient["id"])

    assert [one["number"] for one in (before, first, second, last_of_2040, after)] == [
        f"{this_year}-000001",
        "2041-000001",
        "2041-000002",
        "2040-000001",
        f"{this_year}-000002",
    ]
    listed = (await client.get("/api/invoices/", params={"year": 2041})).json()
    assert [one["id"] for one in listed["results"]] == [second["id"], first["id"]]
    async with engine.connect() as connection:
        counters = (
            await connection.execute(
                text("SELECT year, last_sequence FROM invoice_counters ORDER BY year")
            )
        ).all()
    assert [tuple(row) for row in counters] == sorted([(this_year, 2), (2040, 1), (2041, 2)])
