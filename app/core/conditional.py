"""ETags on responses and If-Match on writes (RFC 9110, 8.8.3 and 13.1.1), for resources that
carry a `version` drawn anew on every write."""

from collections.abc import Collection
from typing import Annotated

from fastapi import Depends, Header, Response

MAX_VERSION_DIGITS = 18  # versions are bigints; a longer tag cannot name one

Versions = Collection[int] | None
"""The versions a conditional write accepts (from If-Match); None for an unconditional write."""


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> Versions:
    """The versions an If-Match header names; None when any will do (no header, or `*`).

    Weak tags (`W/"…"`) and tags this service never made name no version: If-Match compares
    strongly, so they can only fail."""
    if header is None:
        return None
    versions: set[int] = set()
    for member in header.split(","):
        tag = member.strip()
        if tag == "*":
            return None
        opaque = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if opaque.isascii() and opaque.isdigit() and len(opaque) <= MAX_VERSION_DIGITS:
            versions.add(int(opaque))
    return frozenset(versions)


def tag(response: Response, version: int) -> None:
    """The answer's ETag: the version it shows."""
    response.headers["ETag"] = etag(version)


class Conditional:
    """A write's precondition (None: none), and the response to tag with the version written."""

    def __init__(self, response: Response, versions: Versions) -> None:
        self.response = response
        self.versions = versions


async def _conditional(
    response: Response,
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="The patient's ETag as last read; a stale one is a 412.",
            examples=['"42"'],
        ),
    ] = None,
) -> Conditional:
    return Conditional(response, parse_if_match(if_match))


ConditionalDep = Annotated[Conditional, Depends(_conditional)]
