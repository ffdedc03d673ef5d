"""The tree's shape: no module imports itself through others (import-linter, run by `make lint`,
checks the way imports run within and between the packages: pyproject.toml), and every domain
package has the same kinds of module, or says in its docstring why not."""

import ast
import re
from pathlib import Path

import grimp
import pytest

from app.core.config import PROJECT_ROOT


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("app")
    cycles = {
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    }
    assert cycles == set()


# Every domain package has the same kinds of module; the command line's entry to a domain is
# commands.py where it has one. The infrastructure the domains stand on is shaped by its own job.
KINDS = ("routes", "dependencies", "service", "repository", "schemas")
OPTIONAL_KINDS = ("commands",)
INFRASTRUCTURE = {
    "core": "settings, errors, field rules and the HTTP plumbing every domain uses",
    "db": "the pool, compiled statements, the generic repository",
    "models": "the tables, kept together for Alembic",
    "requests": "how a request runs: its unit of work and route class",
    "admin": "a second UI over the domains' services: its modules are its pages",
}
DEPARTURE = re.compile(r"^- (no )?((?:\w+\.py(?:, )?)+):", re.MULTILINE)


def _departures(package: Path) -> tuple[set[str], set[str]]:
    """The modules a package's docstring gives a reason for: (extra ones, missing kinds)."""
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
    extra: set[str] = set()
    missing: set[str] = set()
    for match in DEPARTURE.finditer(docstring):
        names = {name.strip().removesuffix(".py") for name in match.group(2).split(",")}
        (missing if match.group(1) else extra).update(names)
    return extra, missing


def _domains() -> list[Path]:
    return sorted(
        path
        for path in (PROJECT_ROOT / "app").iterdir()
        if (path / "__init__.py").exists() and path.name not in INFRASTRUCTURE
    )


@pytest.mark.parametrize("package", _domains(), ids=lambda path: path.name)
def test_a_domain_has_the_kinds_of_module_or_says_why_not(package: Path):
    modules = {path.stem for path in package.glob("*.py")} - {"__init__"}
    extra, missing = _departures(package)
    assert (modules - set(KINDS) - set(OPTIONAL_KINDS), set(KINDS) - modules) == (extra, missing), (
        f"app/{package.name}/__init__.py names each module that is not one of {KINDS} "
        "('- name.py: why') and each of them it lacks ('- no name.py: why'), and only those"
    )


def test_the_departures_are_read_from_the_docstring(tmp_path: Path):
    (tmp_path / "__init__.py").write_text(
        '"""A domain.\n\n- hours.py, series.py: why.\n- no dependencies.py, schemas.py: why not.\n'
        '-not a departure.py: no\n"""\n'
    )
    assert _departures(tmp_path) == ({"hours", "series"}, {"dependencies", "schemas"})
