"""The shape of the package: imports point down the pipeline, and each third-party library lives
in the one stage that owns it (../shared/STYLE.md and docs/design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ingestor"

# What each top-level module or package of ingestor may import from ingestor. Stages on one
# level do not import each other; only the orchestrator calls more than one stage.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "models": {"errors"},
    "policies": set(),
    "config": {"errors", "policies"},
    "logs": {"errors"},
    "words": set(),
    "lexicon": {"words"},
    "agencies": set(),
    "charsets": {"errors"},
    "budget": {"errors"},
    "fetch": {"errors", "models", "policies"},
    "parse": {"errors", "models"},
    "normalize": {"errors", "models", "words"},
    "fingerprint": {"errors", "models", "policies", "lexicon", "agencies"},
    "cluster": {"errors", "models", "policies", "lexicon", "agencies"},
    "store": {"errors", "models"},
    "schedule": {"errors", "models", "policies"},
    "replay": {"errors", "charsets"},
    "evaluate": set(),
    "explain": set(),
    "opml": {"errors", "charsets"},
    "render": {"errors", "models", "logs", "explain"},
    "render_ops": {"errors", "models", "explain"},
    "pipeline": {
        "errors",
        "models",
        "policies",
        "config",
        "budget",
        "fetch",
        "parse",
        "normalize",
        "fingerprint",
        "cluster",
        "store",
        "schedule",
        "replay",
        "charsets",
        "evaluate",
    },
    "app": {
        "errors",
        "models",
        "policies",
        "config",
        "store",
        "replay",
        "opml",
        "evaluate",
        "pipeline",
    },
    "daemon": {"errors", "models", "app"},
    "web": {"errors", "models", "app", "render", "explain", "__version__"},
    "cli": {
        "errors",
        "config",
        "logs",
        "app",
        "daemon",
        "render",
        "render_ops",
        "web",
        "__version__",
    },
    "__main__": {"cli"},
    "__init__": set(),
}

# Third-party libraries and the only part of ingestor that may import them.
OWNERS: dict[str, set[str]] = {
    "feedparser": {"parse"},
    "datasketch": {"fingerprint", "cluster"},
    "redis": {"cluster"},
    "httpx": {"fetch"},
    "httpcore": {"fetch"},
    "brotli": {"fetch"},
    "sqlalchemy": {"store"},
    "alembic": {"store"},
    "psycopg": {"store"},
    "apscheduler": {"daemon"},
    "click": {"cli"},
    "trafilatura": {"normalize"},
    "lxml": {"normalize"},
    "nh3": {"normalize"},
    "wordfreq": {"lexicon"},
    "pydantic": {"policies", "config"},
    "pydantic_settings": {"config"},
    "charset_normalizer": {"charsets"},
    "fastapi": {"web"},
    "starlette": {"web"},
    "uvicorn": {"web"},
    "jinja2": {"web"},
    "prometheus_client": {"web"},
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out.append((parts[0], path))
    return out


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "ingestor":
                found.update(f"ingestor.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


@pytest.mark.parametrize(("owner", "path"), _modules(), ids=lambda v: str(v))
def test_imports_point_down_the_pipeline(owner: str, path: Path) -> None:
    """A module imports only the parts of ingestor below it (no cycles, no sideways stages)."""
    allowed = ALLOWED[owner] | {owner}
    for name in _imports(path):
        if name.startswith("ingestor."):
            target = name.split(".")[1]
            assert target in allowed, f"{path.relative_to(PACKAGE)} imports ingestor.{target}"


@pytest.mark.parametrize(("owner", "path"), _modules(), ids=lambda v: str(v))
def test_each_library_lives_in_its_stage(owner: str, path: Path) -> None:
    """feedparser only in parse, httpx only in fetch, SQL drivers only in the store, and so on."""
    for name in _imports(path):
        library = name.split(".")[0]
        if library in OWNERS:
            assert owner in OWNERS[library], f"{path.relative_to(PACKAGE)} imports {library}"


def test_every_module_is_placed() -> None:
    """Every module of the package appears in the layer map, so a new one is placed on purpose."""
    assert {owner for owner, _ in _modules()} <= set(ALLOWED)


MAX_LINES = 400
"""../shared/STYLE.md: a module past ~400 lines is probably two stages or two concerns."""


@pytest.mark.parametrize(("owner", "path"), _modules(), ids=lambda v: str(v))
def test_no_module_is_over_400_lines(owner: str, path: Path) -> None:
    """Every module of the package stays within ``MAX_LINES`` lines."""
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"
