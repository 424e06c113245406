"""The package's shape: no import cycles, small modules, run-time stages free of training and IoT."""
import glob
import importlib.util
import os

from helpers import ROOT


def _build():
    spec = importlib.util.spec_from_file_location("lambda_build", os.path.join(ROOT, "lambda_package", "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_graph():
    """Module -> the package's modules it imports anywhere in its text (function-level imports too)."""
    build = _build()
    graph = {}
    for path in glob.glob(os.path.join(ROOT, "reaction", "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, ROOT)[: -len(".py")].replace(os.sep, ".")
        module = rel[: -len(".__init__")] if rel.endswith(".__init__") else rel
        found = build._imported_modules(path, module)
        graph[module] = {m for m in found if build._module_file(ROOT, m) and m != module}
    return graph


def find_cycle(graph):
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert graph["reaction.training.ensemble"] >= {"reaction.training.train"}  # the graph sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_run_time_stages_import_neither_training_nor_the_cli():
    graph = import_graph()
    for module, imported in graph.items():
        if module.count(".") == 1 and module != "reaction.__main__":  # reaction.<stage>
            assert not any(m.startswith(("reaction.training", "reaction.cli", "reaction.iot.sink")) for m in imported), \
                module


def test_modules_stay_small():
    long = {}
    for path in glob.glob(os.path.join(ROOT, "reaction", "**", "*.py"), recursive=True):
        with open(path) as f:
            n = sum(1 for _ in f)
        if n > 400:
            long[os.path.relpath(path, ROOT)] = n
    assert not long
