from typing import Annotated

from fastapi import Depends, Path, Request

from app.audit.service import AuditEntry
from app.core.dependencies import client_address
from app.core.ratelimit import RateLimiter
from app.requests.routing import action_of, caller_dependency, use_work
from app.requests.work import UnitOfWork

FEED_ACTOR_KIND = "calendar_feed"

# A secret that cannot exist (not 43 URL-safe characters) is simply not found.
SecretPath = Annotated[
    str,
    Path(
        description="The feed's secret, as in the URL its POST gave.",
        pattern=r"^[A-Za-z0-9_-]{43}$",
    ),
]


@caller_dependency
async def _feed_work(request: Request) -> UnitOfWork:
    """A feed read's audited work: its actor is the feed (the calendar app knows no token),
    named by its therapist once found; an unknown secret is audited too. Limited per client
    address at the API's rate."""
    address = client_address(request)
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit_api(f"{FEED_ACTOR_KIND}:{address}")
    entry = AuditEntry(
        action=action_of(request),
        actor=FEED_ACTOR_KIND,
        actor_kind=FEED_ACTOR_KIND,
        patient_id=None,
        client_address=address,
    )
    work = UnitOfWork(request.app.state.database, entry)
    use_work(request, work)
    return work


FeedWorkDep = Annotated[UnitOfWork, Depends(_feed_work)]
