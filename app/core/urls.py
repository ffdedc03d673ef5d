"""Absolute URLs in response bodies, as DRF builds them from the request."""

from functools import cached_property

from fastapi import Request


class Links:
    """The absolute URLs of one request's answer: next and previous pages, and other resources."""

    def __init__(self, request: Request) -> None:
        self.request = request

    @cached_property
    def base(self) -> str:
        # Only answers that hold a URL need it: most reads by id have no picture.
        return str(self.request.base_url)

    def to(self, path: str) -> str:
        """The absolute URL of a path of this service (`api/patients/…`)."""
        return self.base + path.lstrip("/")

    def page(self, number: int) -> str:
        """This request's URL, with every other query parameter, on page `number`."""
        return str(self.request.url.include_query_params(page=number))
