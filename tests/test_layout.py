"""The tree's shape: no module imports itself through others (import-linter, run by `make lint`,
checks the way imports run within and between the packages: pyproject.toml)."""

import grimp


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("app")
    cycles = {
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.find_shortest_chain(importer=imported, imported=module)
    }
    assert cycles == set()
