"""The layers point down only: services know nothing of HTTP, forms or JSON bodies."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.settings import Settings

SRC = Path(__file__).resolve().parents[1] / "src" / "filedock"
# What only web/ (and the entry points above it) may import.
HTTP_ONLY = ("starlette", "filedock.web", "filedock.cli", "python_multipart", "uvicorn")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_services_import_nothing_of_http() -> None:
    modules = sorted((SRC / "services").glob("*.py"))
    assert modules
    for path in modules:
        found = {
            name
            for name in _imports(path)
            if any(name == banned or name.startswith(banned + ".") for banned in HTTP_ONLY)
        }
        assert not found, f"{path.name} imports {found}"


def test_services_name_no_form_fields() -> None:
    for path in sorted((SRC / "services").glob("*.py")):
        text = path.read_text()
        assert "expires_after[" not in text, path.name
        assert "check_field_name" not in text, path.name
        assert "Mapping[str, Any]" not in text, path.name  # raw JSON bodies stay in web/


def test_the_wiring_point_is_the_only_builder_of_services() -> None:
    built = re.compile(
        r"(?<![\w.])(QuotaService|Processor|FileService|UploadService|Sweeper|ApiKeys"
        r"|ProjectService|Metrics)\("
    )
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "components.py":
            continue
        for line in path.read_text().splitlines():
            if built.search(line) and not line.strip().startswith(("class ", "def ", "#")):
                raise AssertionError(f"{path.relative_to(SRC)} builds a service: {line}")


def test_components_share_one_instance_of_each_part(tmp_path: Path) -> None:
    clock = FakeClock()
    c = Components.build(Settings(data_dir=tmp_path / "data"), clock=clock)
    assert c.files.quotas is c.uploads.quotas is c.quotas
    assert c.files.processor is c.processor
    assert c.uploads.files is c.files
    assert c.processor.metrics is c.metrics.processing
    for part in (c.files, c.uploads, c.quotas, c.processor, c.sweeper, c.projects):
        assert part.clock is clock, part
    assert c.files.metadata is c.uploads.metadata is c.sweeper.metadata is c.metadata
    assert c.files.blobs is c.uploads.blobs is c.sweeper.blobs is c.blobs


def _module_graph() -> dict[str, set[str]]:
    """filedock's modules and the filedock modules each imports when it is imported (top-level
    imports; an import inside a function runs later and cannot close a circle at import)."""
    modules: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = ("filedock", *path.relative_to(SRC).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"  # `from package import module`
                    target = sub if sub in modules else node.module
                    if target in modules and target != name:
                        graph[name].add(target)
    return graph


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = _module_graph()
    assert len(graph) > 100 and graph["filedock.components"]  # the graph was read
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert circles == []
