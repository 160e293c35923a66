"""aiortc's and aioice's private internals are touched only in `media_gateway/aiortc_hooks/`,
and every one the hooks touch is checked by `check_compatibility`.

The rule, applied by parsing every module of the repository outside the hooks package:
a *private name of aiortc/aioice* is any `_name` (not `__dunder__`) those libraries define
or use on an object, a `__mangled` name in its `_Class__name` form included. A module
breaks the rule when it

- reads or writes `<anything but self/cls>.<private name>`;
- in a subclass of an aiortc/aioice class, uses `self.<a private name of that class>`;
- passes a private name (or a `_Class__` prefix of an aiortc/aioice class) as a string
  to getattr/setattr/hasattr/delattr (monkeypatch's included);
- imports a private name from aiortc or aioice.

A name our own code also defines (say `_codecs`) is still caught on a foreign object:
reaching into another object's private attribute is what the rule is about.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aioice
import aiortc

from media_gateway.aiortc_hooks import compat

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "media_gateway" / "aiortc_hooks"
LIBRARIES = ("aiortc", "aioice")
ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _mangle(name: str, cls: str | None) -> str:
    if name.startswith("__") and cls is not None:
        return f"_{cls.lstrip('_')}{name}"
    return name


@dataclass
class LibraryPrivates:
    names: set[str]  # every private name the libraries define or use on an object
    by_class: dict[str, set[str]]  # class name -> its own private attributes and methods
    classes: set[str]


def _library_privates() -> LibraryPrivates:
    found = LibraryPrivates(set(), {}, set())
    for package in (aiortc, aioice):
        assert package.__file__ is not None
        for path in Path(package.__file__).parent.rglob("*.py"):
            _collect(ast.parse(path.read_text(), str(path)), None, found)
    return found


def _collect(node: ast.AST, cls: str | None, found: LibraryPrivates) -> None:
    for child in ast.iter_child_nodes(node):
        inner = cls
        if isinstance(child, ast.ClassDef):
            inner = child.name
            found.classes.add(child.name)
            found.by_class.setdefault(child.name, set())
            if _private(child.name):
                found.names.add(child.name)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and _private(child.name):
            name = _mangle(child.name, cls)
            found.names.add(name)
            if cls is not None:
                found.by_class[cls].add(name)
        elif isinstance(child, ast.Attribute) and _private(child.attr):
            name = _mangle(child.attr, cls)
            found.names.add(name)
            if cls is not None and isinstance(child.value, ast.Name) and child.value.id == "self":
                found.by_class[cls].add(name)
        _collect(child, inner, found)


LIB = _library_privates()


@dataclass(frozen=True)
class Use:
    path: str
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} uses {self.name}"


def _library_bases(tree: ast.Module) -> dict[str, str]:
    """Local names bound to aiortc/aioice classes by this module's imports."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            for alias in node.names:
                if alias.name in LIB.classes:
                    bound[alias.asname or alias.name] = alias.name
    return bound


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "string" assignments (prefixes like "_RTCRtpSender__")."""
    out: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _string_value(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string_value(node.left, constants), _string_value(node.right, constants)
        if left is not None and right is not None:
            return left + right
    return None


_MANGLED = re.compile(r"_([A-Za-z][A-Za-z0-9]*)__")


def _is_library_private_string(value: str) -> bool:
    if value in LIB.names:
        return True
    m = _MANGLED.match(value)
    return m is not None and m.group(1) in LIB.classes


def private_uses(path: Path) -> Iterator[Use]:
    """Every use of an aiortc/aioice private name in one module (see the rule above)."""
    return private_uses_in(path.read_text(), str(path.relative_to(ROOT)))


def private_uses_in(source: str, rel: str) -> Iterator[Use]:
    tree = ast.parse(source, rel)
    bases = _library_bases(tree)
    constants = _string_constants(tree)

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            for alias in node.names:
                if _private(alias.name):
                    yield Use(rel, node.lineno, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in LIBRARIES and any(_private(p) for p in parts[1:]):
                    yield Use(rel, node.lineno, alias.name)
        elif isinstance(node, ast.ClassDef):
            inherited = set().union(
                *(
                    LIB.by_class.get(bases.get(b.id, ""), set())
                    for b in node.bases
                    if isinstance(b, ast.Name)
                )
            )
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "self"
                    and inner.attr in inherited
                ):
                    yield Use(rel, inner.lineno, inner.attr)
        elif isinstance(node, ast.Attribute) and node.attr in LIB.names:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield Use(rel, node.lineno, node.attr)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in ATTRIBUTE_CALLS and len(node.args) >= 2:
                value = _string_value(node.args[1], constants)
                if value is not None and _is_library_private_string(value):
                    yield Use(rel, node.lineno, value)


# Test and bench clients (not the gateway) that reach in on purpose, with the reason.
# Any other use, or another name in these files, fails.
PACKETIZERS = frozenset({"_packetize", "_split_bitstream"})
ALLOWED: dict[str, tuple[frozenset[str], str]] = {
    "tests/test_aiortc_hooks.py": (
        frozenset({"_run_rtcp", "_send_rtcp_pli", "_send_rtcp_nack"}),
        "the hooks' own tests: they move internals to see check_compatibility fail",
    ),
    "tests/peers.py": (
        frozenset({"_RTCRtpReceiver__decoder_queue"}),
        "the test viewer keeps the encoded frames aiortc reassembles (proof of no transcoding)",
    ),
    "tests/test_lifecycle.py": (
        frozenset({"_connection", "_protocols"}),
        "stalls a test viewer's socket to show a congested viewer costs the others nothing",
    ),
    "tests/recordings.py": (PACKETIZERS, "aiortc's packetizers make RTP for fake wires"),
    "tests/test_catalog.py": (PACKETIZERS, "aiortc's packetizers make RTP for fake wires"),
    "tests/test_disk_full.py": (PACKETIZERS, "aiortc's packetizers make RTP for fake wires"),
    "tests/test_codecs_relay.py": (PACKETIZERS, "aiortc's H.264 NAL splitter, for expectations"),
    "bench/recorder_cost.py": (PACKETIZERS, "aiortc's packetizers make RTP for fake wires"),
    "bench/loadgen.py": (
        frozenset(
            {
                "_connection",
                "_protocols",
                "_send_rtp",
                "_handle_rtp_packet",
                "_RTCRtpReceiver__remote_streams",
                "_RTCRtpReceiver__codecs",
            }
        ),
        "the load generator is a client: it stamps sockets and times packets",
    ),
}


def _allowed(use: Use) -> bool:
    names, _ = ALLOWED.get(use.path, (frozenset(), ""))
    return use.name in names


def _modules_outside_the_hooks() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.py")
        if HOOKS not in p.parents and not any(part.startswith(".") for part in p.parts)
    )


def test_no_module_outside_the_hooks_uses_a_private_aiortc_or_aioice_name() -> None:
    found = [
        str(use)
        for path in _modules_outside_the_hooks()
        for use in private_uses(path)
        if not _allowed(use)
    ]
    assert found == []


def test_the_rule_catches_what_peer_py_did_before_the_hooks_offered_a_function() -> None:
    source = (
        "from aiortc.rtcrtpreceiver import _XYZ\n"
        "def f(t, s, r):\n"
        "    a = t._offerDirection\n"
        "    b = s._ssrc\n"
        "    c = getattr(r, '_RTCRtpReceiver__decoder_queue')\n"
        "    return a, b, c\n"
    )
    names = {use.name for use in private_uses_in(source, "media_gateway/peer.py")}
    assert names == {"_XYZ", "_offerDirection", "_ssrc", "_RTCRtpReceiver__decoder_queue"}


def test_the_rule_catches_a_subclass_reaching_into_its_aiortc_base() -> None:
    source = (
        "from aiortc import MediaStreamTrack\n"
        "class T(MediaStreamTrack):\n"
        "    def f(self):\n"
        "        return self._id, self._mine\n"
    )
    names = {use.name for use in private_uses_in(source, "camera_agents/testsrc.py")}
    assert names == {"_id"}


def _checked_by_compat(name: str, checked: str) -> bool:
    """check_compatibility names a mangled `_Class__name` as `__name`."""
    m = _MANGLED.match(name)
    return (name[m.end() - 2 :] if m else name) in checked


def test_every_private_name_the_hooks_use_is_checked_by_check_compatibility() -> None:
    checked = inspect.getsource(compat.check_compatibility)
    used = {use.name for path in sorted(HOOKS.rglob("*.py")) for use in private_uses(path)}
    assert "_offerDirection" in used, "the scan missed a known use: the rule itself is broken"
    assert sorted(n for n in used if not _checked_by_compat(n, checked)) == []
