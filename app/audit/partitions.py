"""The audit trail's monthly partitions: made ahead of time, archived and dropped when old.

`audit_events` is partitioned by RANGE (at), one partition per UTC month, named
`audit_events_YYYY_MM`, and a default partition, `audit_events_default`, for an event of a month
that has none (so that an insert never fails). Two commands keep it so:

- `python -m app audit-partitions [--ahead N]` makes the partitions from the current month to N
  months ahead that are missing, and a partition for each past month of rows found in the
  default partition; the rows of a month it makes move out of the default partition into it.
  Idempotent: run it daily from cron, and `migrate` runs it at every deploy.
- `python -m app audit-archive --before YYYY-MM` exports every month partition before that month
  to `audit_events_YYYY_MM.csv.gz`, checks the file holds every row, then detaches the partition
  and drops it.
"""

import asyncio
import csv
import gzip
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from app.audit.partition_repository import DEFAULT, DefaultRows, PartitionRepository
from app.core.config import Settings
from app.core.errors import CommandError
from app.db.database import open_database

MONTHS_AHEAD = 3  # migration 0006 makes as many
MAX_MONTHS_AHEAD = 36
LOCK_TIMEOUT_MS = 5_000
MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
TABLE_RE = re.compile(r"audit_events_(\d{4})_(\d{2})")
ARCHIVE_SUFFIX = ".csv.gz"


@dataclass(frozen=True, order=True)
class Month:
    """A UTC calendar month."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, option: str = "--before") -> "Month":
        """YYYY-MM, or a CommandError naming `option`."""
        match = MONTH_RE.fullmatch(text)
        if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) == 0:
            raise CommandError(
                f"{option} must be a month as YYYY-MM (such as 2026-10), not {text!r}."
            )
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> "Month":
        utc = moment.astimezone(UTC)
        return cls(utc.year, utc.month)

    @classmethod
    def of_table(cls, name: str) -> "Month | None":
        match = TABLE_RE.fullmatch(name)
        if match is None or not 1 <= int(match[2]) <= 12:
            return None
        return cls(int(match[1]), int(match[2]))

    def __add__(self, months: int) -> "Month":
        year, index = divmod(self.year * 12 + self.month - 1 + months, 12)
        return Month(year, index + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return (self + 1).start

    @property
    def table(self) -> str:
        return f"audit_events_{self.year:04d}_{self.month:02d}"

    @property
    def archive_name(self) -> str:
        return self.table + ARCHIVE_SUFFIX


def months_from(first: Month, last: Month) -> list[Month]:
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [first + i for i in range(max(count, 0))]


# -- making partitions -------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionReport:
    created: list[Month]
    moved_rows: int  # out of the default partition, into a month made for them
    months: list[Month]  # every month partition afterwards
    default: DefaultRows


async def ensure_partitions(
    repository: PartitionRepository, months: Iterable[Month]
) -> PartitionReport:
    """Make each of `months` that has no partition, a partition for each past month of rows in
    the default partition, and the default partition if it is missing. One transaction: the
    caller's."""
    await repository.begin(lock_timeout_ms=LOCK_TIMEOUT_MS)
    if not await repository.partitioned():
        raise CommandError("audit_events is not partitioned yet: run python -m app migrate.")
    names = await repository.partitions()
    existing = {month for name in names if (month := Month.of_table(name)) is not None}
    has_default = DEFAULT in names
    current = Month.of(await repository.now())
    stranded = (
        {Month.of(start) for start in await repository.default_months()} if has_default else set()
    )
    wanted = set(months) | {month for month in stranded if month < current}
    missing = sorted(wanted - existing)
    for month in missing:
        if await repository.table_exists(month.table):
            raise CommandError(
                f"A table {month.table} exists that is not a partition of audit_events (a month "
                "archived with --keep-table?): rename or drop it, then run again."
            )
    moving = [month for month in missing if month in stranded]
    moved = 0
    if moving:
        # ATTACH refuses a month whose rows are in the default partition: take it out (which
        # also blocks inserts until the commit), make the months, move their rows, put it back.
        await repository.detach(DEFAULT)
        for month in missing:
            await repository.create_partition(month.table, month.start, month.end)
        moved = await repository.move_from_detached_default(
            [(month.start, month.end) for month in moving]
        )
        await repository.attach_default()
    else:
        if not has_default:
            await repository.create_default()
        for month in missing:
            await repository.create_partition(month.table, month.start, month.end)
    return PartitionReport(
        created=missing,
        moved_rows=moved,
        months=sorted(existing | set(missing)),
        default=await repository.default_rows(),
    )


async def make_partitions(
    settings: Settings, database_url: str | None = None, *, ahead: int = MONTHS_AHEAD
) -> PartitionReport:
    """`python -m app audit-partitions`: the current month and `ahead` months after it."""
    if not 0 <= ahead <= MAX_MONTHS_AHEAD:
        raise CommandError(f"--ahead must be between 0 and {MAX_MONTHS_AHEAD}, not {ahead}.")
    async with open_database(settings, database_url) as database:
        try:
            async with database.transaction() as transaction:
                repository = PartitionRepository(transaction.connection)
                current = Month.of(await repository.now())
                return await ensure_partitions(repository, months_from(current, current + ahead))
        except asyncpg.LockNotAvailableError:
            raise CommandError(_busy("nothing was changed")) from None


def _busy(outcome: str) -> str:
    return (
        f"audit_events stayed locked by other work for {LOCK_TIMEOUT_MS // 1000} s; "
        f"{outcome}: run again."
    )


# -- archiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivedMonth:
    month: Month
    rows: int
    path: Path
    size: int
    kept_table: bool
    seconds: float


def _write_fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def count_csv_rows(path: Path) -> int:
    """The records of a gzip'd CSV file with a header, read back from disk."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return sum(1 for _ in csv.reader(text)) - 1


async def _export(repository: PartitionRepository, month: Month, target: Path) -> int:
    """The month's rows into `target`, fsynced; the rows PostgreSQL sent."""
    with await asyncio.to_thread(target.open, "wb") as raw:
        # mtime 0: the same rows always make the same bytes.
        with gzip.GzipFile(
            filename=month.table + ".csv", mode="wb", compresslevel=6, fileobj=raw, mtime=0
        ) as zipped:
            sent = await repository.export_csv(month.table, zipped)
        await asyncio.to_thread(raw.flush)
        await asyncio.to_thread(os.fsync, raw.fileno())
    return sent


async def archive_month(
    repository: PartitionRepository, month: Month, directory: Path, *, keep_table: bool
) -> ArchivedMonth:
    """Export one month partition, check the file, detach the partition and drop it (or keep
    it as a table of its own). The caller's transaction, committed after each month: a failure
    leaves the partition attached and at most a `.partial` file."""
    started = time.perf_counter()
    target = directory / month.archive_name
    if await asyncio.to_thread(target.exists):
        raise CommandError(
            f"{target} exists, but {month.table} is still a partition: an earlier archive of "
            f"{month} did not finish, or the month was made again since. Compare the two, move "
            "the file away, then run again."
        )
    partial = target.with_name(target.name + ".partial")
    # No event can be added to the month from now until it is detached.
    await repository.lock_against_writes(month.table)
    expected = await repository.count(month.table)
    sent = await _export(repository, month, partial)
    written = await asyncio.to_thread(count_csv_rows, partial)
    if not sent == written == expected:
        raise CommandError(
            f"The export of {month} does not hold every row ({expected:,} in {month.table}, "
            f"{sent:,} sent, {written:,} in {partial}): nothing was detached."
        )
    await repository.detach(month.table)
    if keep_table:
        await repository.keep_append_only(month.table)
    else:
        await repository.drop(month.table)
    await asyncio.to_thread(partial.replace, target)
    await asyncio.to_thread(_write_fsync, directory)
    size = (await asyncio.to_thread(target.stat)).st_size
    return ArchivedMonth(month, expected, target, size, keep_table, time.perf_counter() - started)


def _directory(output_dir: Path) -> Path:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"Cannot create --output-dir {output_dir}: {error.strerror}.") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise CommandError(f"--output-dir {output_dir} is not writable.")
    return output_dir.resolve()


async def archive(
    settings: Settings,
    before: Month,
    output_dir: Path,
    *,
    keep_table: bool = False,
    database_url: str | None = None,
) -> list[ArchivedMonth]:
    """`python -m app audit-archive`: every month partition before `before`, oldest first. A
    month without a partition (already archived, or never made) is not there to archive."""
    directory = await asyncio.to_thread(_directory, output_dir)
    archived: list[ArchivedMonth] = []
    async with open_database(settings, database_url) as database:
        async with database.connection() as connection:
            current = Month.of(await PartitionRepository(connection).now())
            if before > current:
                raise CommandError(
                    f"--before {before} would archive the current month ({current}) or later: "
                    f"the latest allowed is --before {current}."
                )
            names = await PartitionRepository(connection).partitions()
        months = sorted(
            month
            for name in names
            if (month := Month.of_table(name)) is not None and month < before
        )
        for month in months:
            try:
                async with database.transaction() as transaction:
                    repository = PartitionRepository(transaction.connection)
                    await repository.begin(lock_timeout_ms=LOCK_TIMEOUT_MS)
                    if month.table not in await repository.partitions():
                        continue  # archived by another run meanwhile
                    archived.append(
                        await archive_month(repository, month, directory, keep_table=keep_table)
                    )
            except asyncpg.LockNotAvailableError:
                raise CommandError(_busy(f"{month} was left as it was")) from None
    return archived
