from collections.abc import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.config import Settings


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
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


def server_settings(settings: Settings) -> dict[str, str]:
    """The session settings of every connection (the benchmark's floors use them too)."""
    return {
        "application_name": "therapyconnect-patients",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        # Statements are prepared (asyncpg), and a generic plan cannot see a search's pattern:
        # it picked a 125 ms plan for a 2 ms page at a million patients.
        "plan_cache_mode": "force_custom_plan",
        # JIT compiling costs more than it saves on queries this short.
        "jit": "off",
    }


def create_sessionmaker(
    engine: AsyncEngine, *, autocommit: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions of the pool; `autocommit` ones send no BEGIN or COMMIT, for one-statement reads."""
    if autocommit:
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One request, one transaction: commit when the endpoint returns, roll back if it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        yield session
