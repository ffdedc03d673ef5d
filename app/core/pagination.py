"""Page-number pagination as DRF's PageNumberPagination does it (`page`, `page_size`, `last`).

`count` is exact up to `LIST_EXACT_COUNT_LIMIT` matches and PostgreSQL's estimate beyond
(app/db/counting.py); `next` comes from the page itself (one row more is fetched), so it is
right whether the count is exact or not.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.core.errors import InvalidPage
from app.core.schemas import BaseSchema
from app.core.urls import Links
from app.db.counting import Count

ItemT = TypeVar("ItemT", bound=BaseModel)

PageCount = Annotated[
    int,
    Field(
        ge=0,
        description="Matches in all: exact up to LIST_EXACT_COUNT_LIMIT (1,000), PostgreSQL's "
        "estimate beyond, and exact on the last page.",
    ),
]
EXAMPLE_BASE = "http://127.0.0.1:8000"


class Page(BaseSchema, Generic[ItemT]):
    """A page of a list, with absolute links to the next and previous pages."""

    count: PageCount
    next: str | None
    previous: str | None
    results: list[ItemT]

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        name: str = params[0].__name__
        return name.removesuffix("Read") + "Page"  # PatientRead: PatientPage

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The example of a page of the item's example (its `list_path` makes the links)."""
        schema = handler(core_schema)
        (item,) = cls.__pydantic_generic_metadata__["args"] or (None,)
        examples = (getattr(item, "model_config", {}).get("json_schema_extra") or {}).get(
            "examples"
        )
        path: str | None = getattr(item, "list_path", None)
        if examples and path:
            url = EXAMPLE_BASE + path
            schema["examples"] = [
                {
                    "count": 57,
                    "next": f"{url}?page=3&page_size=20",
                    "previous": f"{url}?page=1&page_size=20",
                    "results": examples[:1],
                }
            ]
        return schema


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


class PageQuery(BaseModel):
    """The query parameters of every list's page, for the OpenAPI document: their values are
    read leniently, as DRF's paginator reads them (PageRequest.parse)."""

    page: str | None = Field(
        default=None, description="Page number, from 1, or `last`.", examples=["1"]
    )
    page_size: str | None = Field(
        default=None,
        description="Results per page (default 20, larger than 100 is clamped).",
        examples=["20"],
    )


def _positive_int(raw: str, cap: int = 10**9) -> int | None:
    """A positive whole number, capped at `cap` however long; None when it is not one."""
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    digits = raw.lstrip("0")
    if not digits:
        return None
    return cap if len(digits) > len(str(cap)) else min(int(digits), cap)


async def paginate(
    links: Links,
    page_request: PageRequest,
    item: type[ItemT],
    count: Callable[[int | None], Awaitable[Count]],
    fetch: Callable[[int, int], Awaitable[Sequence[ItemT]]],
) -> Page[ItemT]:
    """A DRF page of `item`s: `count`, absolute `next`/`previous` links, and the `results`
    that `fetch(offset, limit)` returns."""
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
    return Page[item](  # type: ignore[valid-type]
        count=total,
        next=links.page(page + 1) if has_next else None,
        previous=links.page(page - 1) if page > 1 else None,
        results=list(results),
    )
