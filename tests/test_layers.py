"""The package's layers, read from the source (every import, function-local ones included):
fer_core <- branches (fer_face, fer_audio) <- ensemble <- dashboard, no cycles, inference apart from training."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER = {"fer_core": 0, "fer_face": 1, "fer_audio": 1, "ensemble": 2, "dashboard": 3}
# what serves a photo, a video or a shipped model; none of it may reach the training loop
INFERENCE = ["fer_face.predict", "fer_face.inference", "fer_face.landmarks.predict", "fer_audio.predict",
             "fer_audio.inference", "ensemble.photo", "ensemble.video", "ensemble.predict_cli", "ensemble.live",
             "ensemble.live_source", "ensemble.live_cli"]
TRAINING = {"fer_core.loop", "fer_face.train", "fer_audio.train"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere in its body (``from a import b`` counts a.b when b is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = [p for top in LAYER for p in (ROOT / top).rglob("*.py")]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def test_no_module_imports_a_layer_above_it_or_a_sibling_branch(graph):
    def top(module):
        return module.split(".")[0]

    bad = [f"{a} -> {b}" for a, targets in graph.items() for b in targets
           if LAYER[top(b)] > LAYER[top(a)] or (LAYER[top(b)] == LAYER[top(a)] and top(b) != top(a))]
    assert not bad, bad


def test_the_import_graph_has_no_cycles(graph):
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_inference_never_reaches_the_training_code(graph):
    for start in INFERENCE:
        assert start in graph, start
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        assert not seen & TRAINING, f"{start} reaches {sorted(seen & TRAINING)}"
