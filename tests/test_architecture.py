"""Rules of the code's shape that a reviewer would otherwise have to remember: every status has
one writer, adapters never query tables themselves, runtime modules import at the top. (The
layers themselves are checked by import-linter, in the README's test command.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.world import active_indicator, build_world
from vigil.db import transaction
from vigil.indicators.models import Indicator

SRC = Path(__file__).resolve().parents[1] / "src" / "vigil"


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC)), ast.parse(p.read_text(), str(p)))
            for p in sorted(SRC.rglob("*.py")) if "migrations" not in p.parts]


#: Known exceptions, each with its reason: intake builds a report and hands it to the lifecycle
#: at once (``transition(..., new=True)``); the API benchmark fills a throwaway database with a
#: million active indicators in bulk (no log: ``vigil audit verify`` would rightly refuse it).
ALLOWED = {"reports/service.py": "builds a Report", "bench/api.py": "insert(Indicator)"}
#: (model, the one module that may write its status, its table)
STATUS_HOMES = (("Indicator", "indicators/lifecycle.py", "indicators"),
                ("Report", "reports/lifecycle.py", "reports"),
                ("Referral", "takedown/referrals/lifecycle.py", "referrals"))


def test_only_each_lifecycle_writes_its_status() -> None:
    """``Indicator.status``, ``Report.status`` and ``Referral.status`` are read-only properties
    over ``_status``: only the lifecycle module touches ``_status``, no other module builds those rows or
    updates them in bulk, and no SQL text sets their status."""
    found = []
    homes = {home for _, home, _ in STATUS_HOMES}
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "_status" and name not in homes \
                    and not (name.endswith("models.py") and isinstance(node.ctx, ast.Load)):
                found.append(f"{name}:{node.lineno}: touches _status")
            if isinstance(node, ast.Call):
                fn = node.func
                callee = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                for model, home, _table in STATUS_HOMES:
                    args = [a.id for a in node.args if isinstance(a, ast.Name)]
                    if callee in ("update", "insert") and model in args:
                        found.append(f"{name}:{node.lineno}: {callee}({model}) in bulk")
                    if callee == model and name != home:
                        found.append(f"{name}:{node.lineno}: builds a {model} outside {home}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for _, _, table in STATUS_HOMES:
                    if re.search(rf"update\s+{table}\s+set[^;]*\bstatus\b", node.value, re.I):
                        found.append(f"{name}:{node.lineno}: SQL sets {table}.status")
    found = [f for f in found if f.split(":")[0] not in ALLOWED or ALLOWED[f.split(":")[0]] not in f]
    assert not found, "\n".join(found)


def test_a_status_cannot_be_assigned(factory: sessionmaker[Session]) -> None:
    w = build_world(factory)
    ind_id = active_indicator(factory, w, "md5", "ab" * 16)
    with transaction(factory) as s:
        ind = s.get(Indicator, ind_id)
        assert ind is not None and ind.status == "active"
        with pytest.raises(AttributeError):
            ind.status = "retracted"  # type: ignore[misc]


#: Domain tables whose reads are decided by a repository (and the rest of the schema, which
#: adapters have no business selecting either).
ADAPTERS = re.compile(r"(^|/)(endpoints|log_endpoints)\.py$|^web/")


def test_adapters_never_select_tables_themselves() -> None:
    """Endpoints and pages parse, call one service or repository function, render: they import
    no table and no query builder, so who may read what is decided in one place per domain."""
    found = []
    for name, tree in _modules():
        if not ADAPTERS.search(name):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.endswith(".models"):
                    found.append(f"{name}:{node.lineno}: imports tables from {node.module}")
                if node.module == "sqlalchemy" and {a.name for a in node.names} & {
                        "select", "update", "insert", "delete", "text", "func"}:
                    found.append(f"{name}:{node.lineno}: builds queries")
    assert not found, "\n".join(found)


def test_runtime_modules_import_vigil_at_the_top() -> None:
    """Imports inside functions hide the dependency graph from readers and from import-linter's
    layers; the command line alone imports lazily (``vigil --help`` must not load the server)."""
    found = []
    for name, tree in _modules():
        if name.startswith(("cli/", "bench/")):
            continue
        top = {id(n) for n in tree.body}
        for node in tree.body:
            if isinstance(node, ast.If):  # if TYPE_CHECKING: ...
                top |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and id(node) not in top and \
                    (node.module or "").startswith("vigil"):
                found.append(f"{name}:{node.lineno}: from {node.module} import ...")
    assert not found, "\n".join(found)
