"""The README and the docs site stay true to the repository: every path of it they name exists,
and the README stays the newcomer's page (at most 300 lines). `make docs` (mkdocs build
--strict, in CI) checks the links between the pages."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
DOCS = PROJECT_ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
# A path of the repository as the docs write it: from one of its top-level folders, up to the
# first character no path of ours has. Placeholders (<domain>, {id}, …, *) end it early.
TOP_LEVEL = ("app", "tests", "scripts", "bench", "clients", "alembic", "docs", "requirements")
PATH = re.compile(rf"(?<![\w./$-])(?:{'|'.join(TOP_LEVEL)}|\.ci)/[\w./-]*")
# Made by a command, never committed (.gitignore): named in the docs all the same.
GENERATED = {
    "bench/out/",  # python -m bench.audit writes its plans there
    "clients/typescript/openapi.json",  # make client
    "clients/typescript/src/schema.d.ts",  # make client
}


def named_paths(text: str) -> set[str]:
    paths = set()
    for match in PATH.finditer(text):
        path = match.group().rstrip(".-")
        end = match.end()
        if end < len(text) and text[end] in "<{…*":
            path = path[: path.rfind("/") + 1]  # the folder the placeholder lives in
        paths.add(path)
    return paths


def test_the_path_pattern_finds_paths_and_stops_at_placeholders():
    text = (
        "`tests/core/test_openapi.py`, app/core/. See tests/<domain>/, app/{x}.py and "
        "bench/README.md, not https://example.org/app/x nor DATA_DIR/outbox/ nor $x/app/y."
    )
    assert named_paths(text) == {"tests/core/test_openapi.py", "app/core/", "tests/", "app/"} | {
        "bench/README.md"
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_every_path_named_exists(page: Path):
    missing = sorted(
        path
        for path in named_paths(page.read_text())
        if not (PROJECT_ROOT / path).exists() and not path.startswith(tuple(GENERATED))
    )
    assert missing == []


def test_the_generated_paths_are_ignored_by_git():
    ignored = (PROJECT_ROOT / ".gitignore").read_text()
    for path in GENERATED - {"bench/out/"}:
        assert path in ignored, path
    assert "site/" in ignored.splitlines()


def test_the_readme_is_at_most_300_lines():
    assert len(README.read_text().splitlines()) <= 300


def test_every_page_is_in_the_nav():
    """mkdocs --strict refuses a page left out of the nav too; this says which, without mkdocs."""
    config = (PROJECT_ROOT / "mkdocs.yml").read_text()
    # The config names a Python function (!!python/name), which safe_load refuses: drop the tag.
    nav = yaml.safe_load(re.sub(r"!!python/name:\S+", "''", config))["nav"]

    def pages(entries: list[Any]) -> set[str]:
        found: set[str] = set()
        for entry in entries:
            values = entry.values() if isinstance(entry, dict) else [entry]
            for value in values:
                found |= pages(value) if isinstance(value, list) else {value}
        return found

    on_disk = {str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md")}
    assert pages(nav) == on_disk
