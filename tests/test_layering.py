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
    "netobj.link": {"netobj.errors", "netobj.transport", "netobj.wire", "netobj.protocols",
                    "netobj.handshake", "netobj.dialer"},
    "netobj.protocols": {"netobj.errors", "netobj.protocols"},
    "netobj.var": {"netobj.errors", "netobj.unify"},
    "netobj.unify": {"netobj.errors", "netobj.var", "netobj.record"},
    "netobj.record": {"netobj.errors", "netobj.wire"},
    "netobj.port": {"netobj.errors", "netobj.var"},
    "netobj.ticket": {"netobj.errors"},
    "netobj.proxy": {"netobj.wire", "netobj.var", "netobj.link"},
    "netobj.classes": {"netobj.errors"},
    "netobj.mobile": {"netobj.errors", "netobj.classes", "netobj.protocols", "netobj.proxy",
                      "netobj.var", "netobj.wire", "netobj.link"},
    "netobj.site": {"netobj.errors", "netobj.wire", "netobj.transport", "netobj.link",
                    "netobj.protocols", "netobj.var", "netobj.ticket", "netobj.proxy",
                    "netobj.port", "netobj.record", "netobj.unify", "netobj.classes",
                    "netobj.mobile"},
    "netobj.api": {"netobj.link", "netobj.proxy", "netobj.port", "netobj.var",
                   "netobj.classes", "netobj.mobile"},
    "netobj.testing": {"netobj.transport", "netobj.testing"},
    "netobj.repl": {"netobj"},
    "netobj.__main__": {"netobj", "netobj.repl"},
}
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
