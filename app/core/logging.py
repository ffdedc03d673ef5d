"""Keep PHI out of the access log: search values are names, phone numbers and emails
(`search` is the admin list's search box)."""

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED_QUERY_PARAMS = frozenset({"name", "phone", "email", "search"})


def redact_query(path: str) -> str:
    parts = urlsplit(path)
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    redacted = [(key, "***" if key in REDACTED_QUERY_PARAMS else value) for key, value in pairs]
    return urlunsplit(parts._replace(query=urlencode(redacted, safe="*")))


class RedactQueryFilter(logging.Filter):
    """uvicorn's access records carry (client, method, path with query, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_query(args[2]), args[3], args[4])
        return True


def install_access_log_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in access.filters):
        access.addFilter(RedactQueryFilter())
