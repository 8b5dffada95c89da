"""The shape of the code: no import cycle in tap_spapi or spapi_standin, at runtime or
under TYPE_CHECKING (the layers themselves are import-linter's contracts in
pyproject.toml, checked by `make lint`)."""

from __future__ import annotations

import itertools

import grimp
import pytest


@pytest.mark.parametrize("package", ["tap_spapi", "spapi_standin"])
def test_no_module_imports_itself_through_others(package):
    graph = grimp.build_graph(package, include_external_packages=False)
    cycles = set()
    for first, second in itertools.combinations(sorted(graph.modules), 2):
        there = graph.find_shortest_chain(importer=first, imported=second)
        back = there and graph.find_shortest_chain(importer=second, imported=first)
        if there and back:
            cycles.add(" -> ".join((*there, *back[1:])))
    assert not cycles, "\n".join(sorted(cycles))
