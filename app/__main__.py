"""`python -m app …`: the service's command line."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from app import __version__
from app.core.config import PROJECT_ROOT, get_settings


def migrate(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


def serve(args: argparse.Namespace) -> None:
    """Start the embedded PostgreSQL when DATABASE_URL is unset, migrate, then serve."""
    import uvicorn

    from app.db.embedded import embedded_database_url

    settings = get_settings()
    database_url = settings.database_url or embedded_database_url(settings.data_dir)
    # Workers and the app's lifespan read the same URL, so they share one server.
    os.environ["DATABASE_URL"] = database_url
    get_settings.cache_clear()
    migrate(database_url)
    uvicorn.run(
        "app.main:app",
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level=settings.log_level,
        proxy_headers=True,
    )


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
    migrate_parser.set_defaults(handler=lambda _: migrate(_resolved_database_url()))

    args = parser.parse_args(argv)
    args.handler(args)


def _resolved_database_url() -> str:
    from app.db.embedded import embedded_database_url

    settings = get_settings()
    return settings.database_url or embedded_database_url(settings.data_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
