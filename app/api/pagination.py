"""Page-number pagination as DRF's PageNumberPagination does it (`page`, `page_size`, `last`).

`count` is exact up to `LIST_EXACT_COUNT_LIMIT` matches and PostgreSQL's estimate beyond
(app/repositories/counting.py); `next` comes from the page itself (one row more is fetched), so
it is right whether the count is exact or not.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Annotated, Any

from fastapi import Query, Request

from app.core.errors import InvalidPage
from app.repositories.counting import Count


@dataclass(frozen=True)
class PageRequest:
    page: int | None  # None means "last"
    size: int
    exact_count_limit: int | None = None  # None: always count exactly

    @classmethod
    def parse(
        cls,
        page: str | None,
        page_size: str | None,
        *,
        default_size: int,
        max_size: int,
        exact_count_limit: int | None = None,
    ) -> "PageRequest":
        """A page that is not a positive number (or `last`) is a 404; a bad size falls back."""
        number: int | None = None
        if page is None:
            number = 1
        elif page.strip() != "last":
            number = _positive_int(page)
            if number is None:
                raise InvalidPage
        size = _positive_int(page_size or "", cap=max_size) or default_size
        return cls(page=number, size=min(size, max_size), exact_count_limit=exact_count_limit)

    @property
    def count_up_to(self) -> int | None:
        """How far the count must be exact: entirely for `last`, which is found from it."""
        return None if self.page is None else self.exact_count_limit

    def resolve(self, count: Count) -> int:
        """The 1-based page number, checked against the number of pages when that is known."""
        pages = max(1, ceil(count.total / self.size))
        page = pages if self.page is None else self.page
        if count.exact and page > pages:
            raise InvalidPage
        return page


PageParam = Annotated[
    str | None, Query(description="Page number, from 1, or `last`.", examples=["1"])
]
PageSizeParam = Annotated[
    str | None,
    Query(
        description="Results per page (default 20, larger than 100 is clamped).", examples=["20"]
    ),
]


def _positive_int(raw: str, cap: int = 10**9) -> int | None:
    """A positive whole number, capped at `cap` however long; None when it is not one."""
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    digits = raw.lstrip("0")
    if not digits:
        return None
    return cap if len(digits) > len(str(cap)) else min(int(digits), cap)


def page_links(request: Request, page: int, has_next: bool) -> tuple[str | None, str | None]:
    """Absolute `next` and `previous` URLs that keep every other query parameter."""
    url = request.url
    next_url = str(url.include_query_params(page=page + 1)) if has_next else None
    previous_url = str(url.include_query_params(page=page - 1)) if page > 1 else None
    return next_url, previous_url


async def paginate(
    request: Request,
    page_request: PageRequest,
    count: Callable[[int | None], Awaitable[Count]],
    fetch: Callable[[int, int], Awaitable[Sequence[Any]]],
) -> dict[str, Any]:
    """A DRF page: `count`, absolute `next`/`previous` links, and the page's `results`."""
    counted = await count(page_request.count_up_to)
    page = page_request.resolve(counted)
    offset = (page - 1) * page_request.size
    rows = await fetch(offset, page_request.size + 1)
    results, has_next = rows[: page_request.size], len(rows) > page_request.size
    if not results and page > 1:
        raise InvalidPage
    total = counted.total
    if not counted.exact:  # an estimate, but never below what this page shows
        total = offset + len(results) if not has_next else max(total, offset + len(rows))
    next_url, previous_url = page_links(request, page, has_next)
    return {"count": total, "next": next_url, "previous": previous_url, "results": results}
