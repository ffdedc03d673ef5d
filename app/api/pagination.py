"""Page-number pagination as DRF's PageNumberPagination does it (`page`, `page_size`, `last`)."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Annotated, Any

from fastapi import Query, Request

from app.core.errors import InvalidPage


@dataclass(frozen=True)
class PageRequest:
    page: int | None  # None means "last"
    size: int

    @classmethod
    def parse(
        cls, page: str | None, page_size: str | None, *, default_size: int, max_size: int
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
        return cls(page=number, size=min(size, max_size))

    def resolve(self, count: int) -> int:
        """The 1-based page number, checked against the number of pages."""
        pages = max(1, ceil(count / self.size))
        page = pages if self.page is None else self.page
        if page > pages:
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


def page_links(request: Request, page: int, size: int, count: int) -> tuple[str | None, str | None]:
    """Absolute `next` and `previous` URLs that keep every other query parameter."""
    pages = max(1, ceil(count / size))
    url = request.url
    next_url = str(url.include_query_params(page=page + 1)) if page < pages else None
    previous_url = str(url.include_query_params(page=page - 1)) if page > 1 else None
    return next_url, previous_url


async def paginate(
    request: Request,
    page_request: PageRequest,
    count: Callable[[], Awaitable[int]],
    fetch: Callable[[int, int], Awaitable[Sequence[Any]]],
) -> dict[str, Any]:
    """A DRF page: `count`, absolute `next`/`previous` links, and the page's `results`."""
    total = await count()
    page = page_request.resolve(total)
    results = await fetch((page - 1) * page_request.size, page_request.size)
    next_url, previous_url = page_links(request, page, page_request.size, total)
    return {"count": total, "next": next_url, "previous": previous_url, "results": results}
