"""The architecture, checked: dependencies flow one way, no module imports one that imports it back, the core
holds no batch machinery, no module grows past 450 lines, and the service runs without the Dask extra."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "batch", "training", "api", "moderate")
#: What each package may import besides itself (STYLE.md: training -> model, batch -> model, api -> model).
ALLOWED = {
    "model": set(),
    "batch": {"model"},
    "training": {"model"},
    "api": {"model"},
    "moderate": {"model", "batch", "training", "api"},
}
#: Libraries of the batch machinery that the core must never import.
BATCH_MACHINERY = {"dask", "distributed", "multiprocessing", "concurrent"}
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (PROJECT_ROOT / package).rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file, inside functions too (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def project_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {imported for imported in imports_of(path) if imported in modules and imported != name}
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_a_module_that_imports_it_back() -> None:
    assert find_cycle(project_graph()) is None


def test_dependencies_flow_one_way_between_packages() -> None:
    wrong = []
    for name, targets in project_graph().items():
        package = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other != package and other not in ALLOWED[package]:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_core_holds_no_batch_machinery() -> None:
    found = [
        f"{name} imports {imported}"
        for name, path in project_modules().items() if name.split(".")[0] == "model"
        for imported in imports_of(path) if imported.split(".")[0] in BATCH_MACHINERY
    ]
    assert found == []


def test_no_module_is_over_450_lines() -> None:
    long = {name: n for name, path in project_modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_dask_is_an_optional_extra_and_the_service_runs_without_it(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.startswith(("dask", "distributed")) for d in project["dependencies"])
    assert any(d.startswith("dask") for d in project["optional-dependencies"]["dask"])
    # A fresh interpreter in which dask and distributed cannot be imported, as after `pip install -e .`.
    script = f"""
import sys
class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(f"{{name}} is not installed")
sys.meta_path.insert(0, NoDask())
from fastapi.testclient import TestClient
from api.app import create_app
from api.settings import Settings
settings = Settings(model_path={str(tiny_bundle_dir)!r}, database_path={str(tmp_path / "db.sqlite3")!r},
                    reload_poll_seconds=0, api_key=None)
with TestClient(create_app(settings)) as client:
    article = {{"id": "a1", "title": "Council passes budget", "body": "The council voted 5-2 on the budget."}}
    answer = client.post("/classify", json={{"article": article, "comments": [{{"id": "c1", "text": "5-2 again?"}}]}})
    assert answer.status_code == 200, answer.text
    print(answer.json()["results"][0]["label"])
from moderate.cli import app
from typer.testing import CliRunner
result = CliRunner().invoke(app, ["score", "x.csv", "--engine", "dask", "-o", "out"])
print(result.exit_code, " ".join(result.output.split()))
assert not any(m.split(".")[0] in ("dask", "distributed") for m in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    label, dask_line = done.stdout.strip().splitlines()[-2:]
    assert label in ("on_topic", "off_topic", "spam")
    assert dask_line.startswith("1 ") and "pip install -e '.[dask]'" in dask_line
