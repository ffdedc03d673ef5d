"""`python -m app …`: the service's command line."""

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from app import __version__
from app.core.config import PROJECT_ROOT, get_settings

# On SIGTERM, requests in flight get this long to finish (statement_timeout is 15 s by default);
# the Dockerfile gives the image's uvicorn the same through UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN.
GRACEFUL_SHUTDOWN_SECONDS = 20


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def serve(args: argparse.Namespace) -> None:
    """Start the embedded PostgreSQL when DATABASE_URL is unset, migrate, then serve."""
    import uvicorn

    from app.commands import database_url

    settings = get_settings()
    url = database_url(settings)
    # Workers and the app's lifespan read the same URL, so they share one server.
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate(url)
    uvicorn.run(
        "app.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level=settings.log_level,
        proxy_headers=True,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


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
    from app.commands import CommandError, create_staff
    from app.schemas.staff import StaffCreate

    try:
        staff = StaffCreate(username=args.username, password=_password(args), role=role)
    except ValidationError as error:
        from app.core.errors import validation_errors

        for field, messages in validation_errors(error.errors()).items():
            print(f"error: {field}: {' '.join(messages)}", file=sys.stderr)
        raise SystemExit(1) from None
    try:
        asyncio.run(
            create_staff(
                get_settings(), username=staff.username, password=staff.password, role=role
            )
        )
    except CommandError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"Created {role} {staff.username!r}.")


def rotate_keys(_: argparse.Namespace) -> None:
    from app.commands import rotate_keys

    count = asyncio.run(rotate_keys(get_settings()))
    print(f"Re-encrypted {count} patient(s) under the current key.")


def seed_patients(args: argparse.Namespace) -> None:
    from app.commands import database_url
    from app.seed import SEED_PASSWORD, seed, stderr_progress

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


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m app", description="TherapyConnect patient service."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve", help="Migrate and serve the API (embedded PostgreSQL when DATABASE_URL is unset)."
    )
    serve_parser.add_argument("--host", default=None)
    serve_parser.add_argument("--port", type=int, default=None)
    serve_parser.add_argument("--workers", type=int, default=None)
    serve_parser.set_defaults(handler=serve)

    migrate_parser = commands.add_parser(
        "migrate", help="Apply the database migrations (alembic upgrade head)."
    )
    migrate_parser.set_defaults(handler=lambda _: _migrate())

    for name, role, description in (
        ("createsuperuser", "admin", "Create an admin staff account."),
        ("createstaff", None, "Create a staff account with the given role."),
    ):
        staff_parser = commands.add_parser(name, help=description, description=description)
        staff_parser.add_argument("--username", required=True)
        staff_parser.add_argument("--password", help="Prompted for when absent.")
        if role is None:
            staff_parser.add_argument("--role", choices=("admin", "therapist"), default="therapist")
        staff_parser.set_defaults(
            handler=lambda args, fixed=role: create_staff(args, fixed or args.role)
        )

    rotate_parser = commands.add_parser(
        "rotate-keys", help="Re-encrypt PHI still under an old key with the first configured key."
    )
    rotate_parser.set_defaults(handler=rotate_keys)

    seed_parser = commands.add_parser(
        "seed", help="Load N made-up patients fast (COPY); all share the password 'seed-password'."
    )
    seed_parser.add_argument("--count", type=_positive_int, required=True, metavar="N")
    seed_parser.add_argument("--batch-size", type=_positive_int, default=10_000)
    seed_parser.add_argument("--workers", type=_positive_int, help="Default: one per CPU core.")
    seed_parser.set_defaults(handler=seed_patients)

    args = parser.parse_args(argv)
    args.handler(args)


def _migrate() -> None:
    from app.commands import database_url

    migrate(database_url(get_settings()))


if __name__ == "__main__":
    main(sys.argv[1:])
