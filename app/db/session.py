"""SQLAlchemy's engine, for what reads through SQLAlchemy's session: the admin's lists, details
and forms (sqladmin). The service's own statements run on the asyncpg pool (app.db.database)."""

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import Settings
from app.db.database import server_settings

ADMIN_POOL_SIZE = 2  # clinic staff browsing the admin: a few connections, growing on demand


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=min(ADMIN_POOL_SIZE, settings.db_pool_size),
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=False,
        hide_parameters=True,  # statement parameters are PHI: keep them out of errors and logs
        connect_args={
            "timeout": settings.db_connect_timeout,
            "command_timeout": settings.db_statement_timeout_ms / 1000 or None,
            "server_settings": server_settings(settings),
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
