"""Layers import downward only; protocol machines do no I/O, sleeping, clock or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import netobj

PKG = Path(netobj.__file__).parent
ROOT = PKG.parent

# module (or package) -> the netobj modules it may import
ALLOWED: dict[str, set[str]] = {
    "netobj.errors": set(),
    "netobj.wire": {"netobj.errors", "netobj.wire"},
    "netobj.transport": {"netobj.errors", "netobj.transport"},
    "netobj.handshake": {"netobj.transport", "netobj.wire"},
    "netobj.dialer": {"netobj.handshake", "netobj.transport"},
    "netobj.link_writer": {"netobj.transport", "netobj.wire", "netobj.protocols"},
    "netobj.link_reader": {"netobj.transport", "netobj.wire", "netobj.protocols"},
    "netobj.link": {"netobj.errors", "netobj.transport", "netobj.wire", "netobj.protocols",
                    "netobj.handshake", "netobj.dialer", "netobj.link_writer",
                    "netobj.link_reader"},
    "netobj.protocols": {"netobj.errors", "netobj.protocols"},
    "netobj.var": {"netobj.errors"},
    "netobj.unify": {"netobj.errors", "netobj.var", "netobj.record"},
    "netobj.byneed": {"netobj.errors", "netobj.var", "netobj.unify"},
    "netobj.record": {"netobj.errors", "netobj.wire"},
    "netobj.port": {"netobj.errors", "netobj.var"},
    "netobj.ticket": {"netobj.errors"},
    # the site's parts; netobj.mobile reaches them only through a handed-in table
    "netobj.runtime": {"netobj.errors", "netobj.wire", "netobj.transport", "netobj.handshake",
                       "netobj.link",
                       "netobj.protocols", "netobj.var", "netobj.unify", "netobj.record",
                       "netobj.port", "netobj.proxy", "netobj.ticket", "netobj.classes",
                       "netobj.runtime"},
    "netobj.proxy": {"netobj.wire", "netobj.var", "netobj.link"},
    "netobj.classes": {"netobj.errors"},
    "netobj.mobile": {"netobj.errors", "netobj.classes", "netobj.protocols", "netobj.proxy",
                      "netobj.var", "netobj.wire", "netobj.link", "netobj.runtime"},
    "netobj.site": {"netobj.errors", "netobj.wire", "netobj.transport", "netobj.link",
                    "netobj.var", "netobj.ticket", "netobj.proxy", "netobj.port",
                    "netobj.record", "netobj.mobile", "netobj.runtime"},
    "netobj.faults": {"netobj.link", "netobj.proxy", "netobj.port", "netobj.var"},
    "netobj.api": {"netobj.proxy", "netobj.classes", "netobj.faults"},
    "netobj.testing": {"netobj.transport", "netobj.testing"},
    "netobj.repl": {"netobj"},
    "netobj.__main__": {"netobj", "netobj.repl"},
}
#: No class of netobj may be longer than this (lines, decorators to last statement).
MAX_CLASS_LINES = 400
FORBIDDEN_IN_PROTOCOLS = {"socket", "asyncio", "grpc", "time", "random", "threading",
                          "selectors", "os", "secrets", "subprocess", "uuid", "datetime"}


def _layer(module: str) -> str:
    for name in sorted(ALLOWED, key=len, reverse=True):
        if module == name or module.startswith(name + "."):
            return name
    raise AssertionError(f"{module} belongs to no layer: add it to ALLOWED")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module != "netobj":
                out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _modules() -> list[tuple[str, Path]]:
    mods = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts == ["netobj"] or "netobj_pb2" in parts[-1]:
            continue
        mods.append((".".join(parts), path))
    return mods


def test_layers_import_downward_only() -> None:
    problems = []
    for module, path in _modules():
        layer = _layer(module)
        for imp in _imports(path):
            if not imp.startswith("netobj"):
                continue
            try:
                target = _layer(imp)
            except AssertionError:
                target = "netobj"  # the public package itself (netobj, netobj.Site, ...)
            if target != layer and target not in ALLOWED[layer]:
                problems.append(f"{module} imports {imp} ({target})")
    assert not problems, "\n".join(problems)


def _module_names() -> set[str]:
    return {module for module, _ in _modules()}


def _module_of(name: str, known: set[str]) -> str | None:
    """The netobj module ``name`` (a module, or ``module.attribute``) lives in, if any."""
    while name and name != "netobj":
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _module_imports(path: Path, known: set[str]) -> set[str]:
    """The netobj modules a file imports, anywhere in it (lazy imports count too):
    ``from pkg import sub`` is an edge to ``pkg.sub``, ``from mod import name`` to ``mod``."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            found = _module_of(name, known)
            if found is not None:
                out.add(found)
    return out


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found is not None:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


def test_find_cycle_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_allowed_layers_form_no_cycle() -> None:
    graph = {layer: {t for t in allowed if t != layer and t in ALLOWED}
             for layer, allowed in ALLOWED.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "ALLOWED has a cycle: " + " -> ".join(cycle)


def test_modules_import_no_cycle() -> None:
    """No circle among netobj's modules, counting imports inside functions: a lazy import
    only hides a circle. (The package ``netobj`` itself, which re-exports the public API, and
    a module's own parent packages, which Python runs first anyway, are left out.)"""
    known = _module_names()
    graph: dict[str, set[str]] = {}
    for module, path in _modules():
        graph[module] = {
            t for t in _module_imports(path, known)
            if t != module and not module.startswith(t + ".")
        }
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_var_and_unify_import_one_way() -> None:
    known = _module_names()
    assert "netobj.unify" not in _module_imports(PKG / "var.py", known)
    assert "netobj.var" in _module_imports(PKG / "unify.py", known)


def test_protocols_are_sans_io() -> None:
    problems = []
    for module, path in _modules():
        if not module.startswith("netobj.protocols"):
            continue
        for imp in _imports(path):
            top = imp.split(".")[0]
            if top in FORBIDDEN_IN_PROTOCOLS:
                problems.append(f"{module} imports {imp}")
        text = path.read_text()
        for word in ("sleep(", "time()", "monotonic", "open(", "print("):
            if word in text:
                problems.append(f"{module} uses {word}")
    assert not problems, "\n".join(problems)


def test_transactional_store_uses_public_api_only() -> None:
    store = ROOT / "transactional_store"
    for path in store.rglob("*.py"):
        for imp in _imports(path):
            if imp.startswith("netobj"):
                name = imp.split(".")
                assert name[0] == "netobj" and (len(name) == 1 or name[1] in netobj.__all__), (
                    f"{path} imports {imp}: transactional_store may use only the public API")


def _class_sizes() -> list[tuple[int, str]]:
    sizes = []
    for module, path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                assert node.end_lineno is not None
                sizes.append((node.end_lineno - start + 1, f"{module}.{node.name}"))
    return sorted(sizes, reverse=True)


def test_no_class_is_too_big() -> None:
    """One job per class: none over MAX_CLASS_LINES lines (run with -s to see the biggest)."""
    sizes = _class_sizes()
    for lines, name in sizes[:10]:
        print(f"{lines:5d}  {name}")
    too_big = [f"{name}: {lines} lines" for lines, name in sizes
               if lines > MAX_CLASS_LINES]
    assert not too_big, "\n".join(too_big)


def test_runtime_does_not_import_mobile_or_site() -> None:
    known = _module_names()
    for module, path in _modules():
        if module.startswith("netobj.runtime"):
            imported = _module_imports(path, known)
            assert not any(m == "netobj.site" or m.startswith("netobj.mobile")
                           for m in imported), f"{module} imports {imported}"


def _calls_of(path: Path, name: str) -> list[int]:
    """Lines of ``path`` that call a function or method named ``name``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if called == name:
                out.append(node.lineno)
    return out


def _site_modules() -> list[tuple[str, Path]]:
    return [(m, p) for m, p in _modules()
            if m == "netobj.site" or m.startswith(("netobj.runtime", "netobj.mobile"))]


def test_one_sequenced_send() -> None:
    """Per-link FIFO has one keeper: Peer.send is the only caller of Link.send_sequenced."""
    callers = {m: lines for m, p in _site_modules() if (lines := _calls_of(p, "send_sequenced"))}
    assert set(callers) == {"netobj.runtime.peers"}, callers


def test_one_way_into_the_loop() -> None:
    """Other threads reach the site's loop through netobj.runtime.loop.LoopGate only."""
    callers = {m: lines for m, p in _site_modules()
               if (lines := _calls_of(p, "call_soon_threadsafe"))}
    assert set(callers) == {"netobj.runtime.loop"}, callers
