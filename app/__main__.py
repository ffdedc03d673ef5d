"""`python -m app …`: the service's command line."""

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app import __version__
from app.core.config import PROJECT_ROOT, get_settings

# On SIGTERM, requests in flight get this long to finish (statement_timeout is 15 s by default);
# the Dockerfile gives the image's uvicorn the same through UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN.
GRACEFUL_SHUTDOWN_SECONDS = 20
T = TypeVar("T", bound=BaseModel)


def migrate(database_url: str, *, configure_logger: bool = True) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = configure_logger
    command.upgrade(config, "head")


def serve(args: argparse.Namespace) -> None:
    """Start the embedded PostgreSQL when DATABASE_URL is unset, migrate, then serve."""
    import uvicorn

    from app.core.logging import configure_logging
    from app.core.server import BoundedHttpToolsProtocol
    from app.db.database import database_url

    settings = get_settings()
    # Structured from the first line on, the migrations' and uvicorn's too (the app configures
    # its workers the same way), and no uvicorn access log: the service writes its own
    # (app.core.observability).
    configure_logging(settings)
    url = database_url(settings)
    # Workers and the app's lifespan read the same URL, so they share one server.
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url, configure_logger=False)
    logging.getLogger("app.audit").info(_audit_partitions_after_migrating(url))
    clear_multiprocess_metrics()
    uvicorn.run(
        "app.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        http=BoundedHttpToolsProtocol,
        proxy_headers=False,  # the app believes only FORWARDED_ALLOW_IPS: app.main
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def clear_multiprocess_metrics() -> None:
    """PROMETHEUS_MULTIPROC_DIR holds the metrics of a server's workers: a new server starts
    from zero, as prometheus-client's multiprocess mode requires."""
    from app.core.metrics import multiprocess_dir

    if directory := multiprocess_dir():
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def _password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return str(args.password)
    if not sys.stdin.isatty():
        raise SystemExit("error: --password is required when not run in a terminal.")
    while True:
        password = getpass.getpass("Password: ")
        if password == getpass.getpass("Password (again): "):
            return password
        print("Error: your passwords didn't match.", file=sys.stderr)


def create_staff(args: argparse.Namespace, role: str) -> None:
    from app.auth.commands import create_staff
    from app.auth.schemas import StaffCreate

    staff = _validated(
        StaffCreate,
        username=args.username,
        password=_password(args),
        role=role,
        email=args.email or None,
    )
    _run(
        create_staff(
            get_settings(),
            username=staff.username,
            password=staff.password,
            role=role,
            email=staff.email,
        )
    )
    print(f"Created {role} {staff.username!r}.")


def change_password(args: argparse.Namespace) -> None:
    from app.auth.commands import set_password
    from app.auth.schemas import PasswordReset

    payload = _validated(PasswordReset, password=_password(args))
    _run(set_password(get_settings(), username=args.username, password=payload.password))
    print(f"Password changed for {args.username!r}; their sessions have ended.")


def set_staff_active(args: argparse.Namespace, active: bool) -> None:
    from app.auth.commands import set_active

    _run(set_active(get_settings(), username=args.username, active=active))
    done = "Reactivated" if active else "Deactivated (their sessions have ended)"
    print(f"{done}: {args.username!r}.")


def _validated(schema: type[T], **values: Any) -> T:
    """The values as `schema` takes them; each field's errors on a line of its own, then exit."""
    from app.core.errors import validation_errors

    try:
        return schema.model_validate(values)
    except ValidationError as error:
        for field, messages in validation_errors(error.errors()).items():
            print(f"error: {field}: {' '.join(messages)}", file=sys.stderr)
        raise SystemExit(1) from None


def _run(work: Coroutine[Any, Any, Any]) -> None:
    from app.core.errors import CommandError

    try:
        asyncio.run(work)
    except CommandError as error:
        raise SystemExit(f"error: {error}") from None


def rotate_keys(_: argparse.Namespace) -> None:
    from app.patients.commands import rotate_keys

    count = asyncio.run(rotate_keys(get_settings()))
    print(f"Re-encrypted {count} patient(s) under the current key.")


def purge(args: argparse.Namespace) -> None:
    from app.patients.commands import purge

    settings = get_settings()
    ids = asyncio.run(purge(settings, dry_run=args.dry_run))
    days = settings.patient_retention_days
    if args.dry_run:
        print(f"Would purge {len(ids)} patient(s) deleted more than {days} day(s) ago.")
    else:
        print(f"Purged {len(ids)} patient(s) deleted more than {days} day(s) ago.")
    for patient_id in ids:
        print(patient_id)


def payments_reconcile(args: argparse.Namespace) -> None:
    from app.payments.commands import reconcile

    report = asyncio.run(reconcile(get_settings(), args.since))
    print(
        f"Checked {report.checked} PaymentIntent(s): {len(report.posted)} posted, "
        f"{len(report.updated)} brought up to date, {len(report.mismatches)} mismatch(es)."
    )
    for intent in report.posted:
        print(f"posted {intent}")
    for intent in report.updated:
        print(f"updated {intent}")
    for mismatch in report.mismatches:
        print(f"mismatch {mismatch}")


def identity_clashes(_: argparse.Namespace) -> None:
    from app.patients.commands import identity_clashes

    clashes = asyncio.run(identity_clashes(get_settings()))
    for group in clashes.phones:
        print("phone number:", ", ".join(group))
    for group in clashes.emails:
        print("e-mail address:", ", ".join(group))
    for patient_id, staff_id in clashes.staff_emails:
        print(f"e-mail address: {patient_id}, staff member {staff_id}")
    if not any(clashes):
        print("No clashes.")


def seed_patients(args: argparse.Namespace) -> None:
    from app.db.database import database_url
    from app.seed.patients import SEED_PASSWORD, seed, stderr_progress

    settings = get_settings()
    report = asyncio.run(
        seed(
            settings,
            database_url(settings),
            args.count,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=stderr_progress(),
        )
    )
    print(
        f"Seeded {report.patients:,} patients and {report.ledger_rows:,} wallet transactions in "
        f"{report.seconds:.1f} s ({report.patients / report.seconds:,.0f} patients/s, "
        f"{report.workers} worker(s)). Their password is {SEED_PASSWORD!r}."
    )
    if args.audit_rows:
        seed_audit_events(args)


def seed_audit_events(args: argparse.Namespace) -> None:
    from app.core.errors import CommandError
    from app.db.database import database_url
    from app.seed.audit import seed_audit
    from app.seed.patients import stderr_progress

    try:
        report = asyncio.run(
            seed_audit(
                database_url(get_settings()),
                args.audit_rows,
                months=args.audit_months,
                workers=args.workers,
                progress=stderr_progress(),
            )
        )
    except CommandError as error:
        raise SystemExit(f"error: {error}") from None
    print(
        f"Seeded {report.events:,} audit events from {report.months[0]} to {report.months[-1]} "
        f"in {report.seconds:.1f} s ({report.events / report.seconds:,.0f} events/s, "
        f"{report.workers} worker(s))."
    )


def audit_partitions(args: argparse.Namespace) -> None:
    from app.audit.partitions import make_partitions
    from app.core.errors import CommandError

    try:
        report = asyncio.run(make_partitions(get_settings(), ahead=args.ahead))
    except CommandError as error:
        raise SystemExit(f"error: {error}") from None
    for month in report.created:
        print(f"Created {month.table}.")
    if not report.created:
        print("No partition was missing.")
    if report.moved_rows:
        print(f"Moved {report.moved_rows:,} event(s) from the default partition into their months.")
    if report.months:
        first, last = report.months[0], report.months[-1]
        print(f"Month partitions: {first} to {last} ({len(report.months)}).")
    default = report.default
    if default.count == 0:
        print("The default partition holds no events.")
    else:
        print(
            f"warning: the default partition holds {default.count:,} event(s) "
            f"({default.first:%Y-%m-%d %H:%M} to {default.last:%Y-%m-%d %H:%M} UTC), of months "
            f"more than --ahead {args.ahead} months ahead: run with a larger --ahead to move them.",
            file=sys.stderr,
        )


def _audit_partitions_after_migrating(url: str) -> str:
    """Every deploy extends the audit trail's partitions (cron is the guarantee, the default
    partition the safety net): what it did, in a line."""
    from app.audit.partitions import make_partitions

    report = asyncio.run(make_partitions(get_settings(), url))
    return (
        f"Audit partitions: {len(report.created)} made, {len(report.months)} months, "
        f"{report.default.count:,} event(s) in the default partition."
    )


def audit_archive(args: argparse.Namespace) -> None:
    from app.audit.partitions import Month, archive
    from app.core.errors import CommandError

    try:
        before = Month.parse(args.before)
        archived = asyncio.run(
            archive(get_settings(), before, args.output_dir, keep_table=args.keep_table)
        )
    except CommandError as error:
        raise SystemExit(f"error: {error}") from None
    for month in archived:
        fate = f"kept as the table {month.month.table}" if month.kept_table else "dropped"
        print(
            f"Archived {month.month}: {month.rows:,} events to {month.path} "
            f"({month.size / 1e6:,.1f} MB, {month.seconds:.1f} s); partition {fate}."
        )
    if not archived:
        print(f"No month partition before {before}: nothing to archive.")


def worker(args: argparse.Namespace) -> None:
    """Send the due appointment reminders until SIGTERM or SIGINT (or one batch, --once)."""
    from app.core.logging import configure_logging
    from app.reminders.worker import run_worker

    settings = get_settings()
    configure_logging(settings)
    asyncio.run(run_worker(settings, once=args.once, batch=args.batch))


def openapi(args: argparse.Namespace) -> None:
    """Print the OpenAPI document, as /openapi.json serves it; no database is needed."""
    from app.main import app

    document = json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(document)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(document, encoding="utf-8")


class _HelpFormatter(argparse.HelpFormatter):
    """Each command and its description on one line of --help: argparse measures the command
    names without the indent it prints them with, so a long one (createsuperuser) would wrap."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28, width=100)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        for subaction in self._iter_indented_subactions(action):
            length = len(self._format_action_invocation(subaction)) + self._current_indent
            self._action_max_length = max(self._action_max_length, length)


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _natural_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {number}")
    return number


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="TherapyConnect patient service.",
        epilog="`python -m app COMMAND --help` shows a command's options.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="Print the version and exit.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )

    def command(name: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=description, description=description, formatter_class=_HelpFormatter
        )

    serve_parser = command("serve", "Migrate, then serve the API (embedded PostgreSQL if no URL).")
    serve_parser.add_argument("--host", default=None, help="Bind address (default: HOST).")
    serve_parser.add_argument("--port", type=int, default=None, help="Port (default: PORT).")
    serve_parser.add_argument("--workers", type=int, default=None, help="Worker processes.")
    serve_parser.set_defaults(handler=serve)

    migrate_parser = command("migrate", "Apply the database migrations (alembic upgrade head).")
    migrate_parser.set_defaults(handler=lambda _: _migrate())

    for name, role, description in (
        ("createsuperuser", "admin", "Create an admin staff account."),
        ("createstaff", None, "Create a staff account with the given role."),
    ):
        staff_parser = command(name, description)
        staff_parser.add_argument(
            "--username", required=True, help="Letters, digits and @.+-_ (at most 150)."
        )
        staff_parser.add_argument("--password", help="Prompted for when absent.")
        staff_parser.add_argument("--email", help="For password-reset mails (optional).")
        if role is None:
            staff_parser.add_argument(
                "--role",
                choices=("admin", "therapist"),
                default="therapist",
                help="Default: %(default)s.",
            )
        staff_parser.set_defaults(
            handler=lambda args, fixed=role: create_staff(args, fixed or args.role)
        )

    password_parser = command(
        "changepassword", "Set a staff member's password; their sessions end."
    )
    password_parser.add_argument("--username", required=True)
    password_parser.add_argument("--password", help="Prompted for when absent.")
    password_parser.set_defaults(handler=change_password)
    for name, active, description in (
        ("deactivatestaff", False, "Deactivate a staff account; its sessions end."),
        ("activatestaff", True, "Reactivate a staff account."),
    ):
        active_parser = command(name, description)
        active_parser.add_argument("--username", required=True)
        active_parser.set_defaults(handler=lambda args, on=active: set_staff_active(args, on))

    rotate_parser = command("rotate-keys", "Re-encrypt PHI under an old key with the current key.")
    rotate_parser.set_defaults(handler=rotate_keys)

    purge_parser = command(
        "purge",
        "Remove patients deleted more than PATIENT_RETENTION_DAYS ago, for good (audited).",
    )
    purge_parser.add_argument(
        "--dry-run", action="store_true", help="Only list the patients it would remove."
    )
    purge_parser.set_defaults(handler=purge)

    reconcile_parser = command(
        "payments-reconcile",
        "Post the card payments the processor has and the ledger lacks, since a date (audited).",
    )
    reconcile_parser.add_argument(
        "--since",
        required=True,
        type=_date,
        help="YYYY-MM-DD: the PaymentIntents created since this day (UTC).",
    )
    reconcile_parser.set_defaults(handler=payments_reconcile)

    clashes_parser = command(
        "identity-clashes",
        "List, by id, the accounts whose phone numbers or e-mail addresses clash.",
    )
    clashes_parser.set_defaults(handler=identity_clashes)

    seed_parser = command("seed", "Load N made-up patients fast (password 'seed-password').")
    seed_parser.add_argument(
        "--count", type=_positive_int, required=True, metavar="N", help="Patients to add."
    )
    seed_parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=10_000,
        help="Rows per COPY (default: %(default)s).",
    )
    seed_parser.add_argument("--workers", type=_positive_int, help="Default: one per CPU core.")
    seed_parser.add_argument(
        "--audit-rows",
        type=_natural_int,
        default=0,
        metavar="M",
        help="Also add M made-up audit events naming the patients (default: none).",
    )
    seed_parser.add_argument(
        "--audit-months",
        type=_positive_int,
        default=6,
        metavar="K",
        help="Spread the audit events over the last K months (default: %(default)s).",
    )
    seed_parser.set_defaults(handler=seed_patients)

    partitions_parser = command(
        "audit-partitions", "Make the audit trail's monthly partitions ahead of time."
    )
    partitions_parser.add_argument(
        "--ahead",
        type=_natural_int,
        default=3,
        metavar="N",
        help="Months after the current one (default: %(default)s).",
    )
    partitions_parser.set_defaults(handler=audit_partitions)

    archive_parser = command(
        "audit-archive", "Export old audit months to .csv.gz files, then drop their partitions."
    )
    archive_parser.add_argument(
        "--before",
        required=True,
        metavar="YYYY-MM",
        help="Archive every month before this one (at most the current month).",
    )
    archive_parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="Where the files go (default: the current directory).",
    )
    archive_parser.add_argument(
        "--keep-table",
        action="store_true",
        help="Detach each partition but keep it as a table of its own.",
    )
    archive_parser.set_defaults(handler=audit_archive)

    worker_parser = command(
        "worker", "Send the due appointment reminders, polling until SIGTERM or SIGINT."
    )
    worker_parser.add_argument(
        "--once", action="store_true", help="Send one batch of due reminders, then exit."
    )
    worker_parser.add_argument(
        "--batch",
        type=_positive_int,
        default=50,
        metavar="N",
        help="Reminders claimed at a time (default: %(default)s).",
    )
    worker_parser.set_defaults(handler=worker)

    openapi_parser = command(
        "openapi", "Print the OpenAPI document (no database or server needed)."
    )
    openapi_parser.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="Write it to FILE instead of stdout."
    )
    openapi_parser.set_defaults(handler=openapi)

    args = parser.parse_args(argv)
    args.handler(args)


def _migrate() -> None:
    from app.db.database import database_url

    url = database_url(get_settings())
    migrate(url)
    print(_audit_partitions_after_migrating(url))


if __name__ == "__main__":
    main(sys.argv[1:])
