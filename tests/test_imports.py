"""The package's imports point one way: no module of `src/citechat` can reach itself through the imports of ours
it makes, at the top of a module or inside a function. The graph is read from the source with `ast`; importing a
module also runs its packages' `__init__`, so those count as imported too."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "citechat"
# Bottom of the graph: they import nothing of ours but errors (config raises SettingsError).
BOTTOM = {"citechat.errors": set(), "citechat.config": {"citechat.errors"}}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ours that importing `name` runs: what it imports, and their packages."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                targets.add(submodule if submodule in known else origin)
    ours = {t for t in targets if t == PACKAGE or t.startswith(PACKAGE + ".")}
    named, resolved = set(), set()
    for target in ours:
        while target not in known and "." in target:  # `import citechat.x.y` where y is a name
            target = target.rpartition(".")[0]
        named.add(target)
        resolved.add(target)
        resolved.update(p for p in packages_of(target) if p in known)
    # A module's own packages run before it, so they are no import of its own, unless it names one itself
    # (`from . import READERS` in a submodule of the package that defines READERS).
    return resolved - {name} - (set(packages_of(name)) - named)


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def all_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each holds at least one cycle)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return groups


def test_no_module_can_reach_itself_through_its_imports():
    edges = graph()
    cycle = find_cycle(edges)
    groups = all_cycles(edges)
    assert cycle is None, (f"import cycle: {' -> '.join(cycle)}; modules in cycles: "
                           + "; ".join(", ".join(g) for g in groups))


def test_config_and_errors_are_at_the_bottom():
    edges = graph()
    for name, allowed in BOTTOM.items():
        assert edges[name] <= allowed, f"{name} imports {sorted(edges[name] - allowed)}"


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


if __name__ == "__main__":
    for group in all_cycles(graph()):
        print(f"{len(group)} modules in a cycle: {', '.join(group)}")
    print("a cycle:", " -> ".join(find_cycle(graph()) or ["none"]))
