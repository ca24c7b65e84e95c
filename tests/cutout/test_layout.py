"""The cutout package's import graph: no cycles, lazy imports and TYPE_CHECKING ones included."""

from __future__ import annotations

import grimp

PACKAGE = "workers.services.cutout"


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("workers", include_external_packages=False)
    modules = sorted(m for m in graph.modules if m.startswith(PACKAGE + "."))
    cycles = [
        (a, b)
        for i, a in enumerate(modules)
        for b in modules[i + 1 :]
        if graph.chain_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a)
    ]
    assert cycles == []
