"""The library facade (``ingestor.app.Ingestor``) opens only what each operation needs: reading
commands write nothing and create nothing, in a fresh directory or over a filled store and a
shared index; curating the feed list touches the store alone."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result

from ingestor.cli import cli
from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[1]
FEEDS = ROOT / "samples" / "feeds"
READING = [
    ("events", "list"),
    ("events", "show", "1"),
    ("feeds", "list"),
    ("feeds", "export"),
    ("index", "status"),
    ("db", "status"),
    ("stories", "show", "1"),
    ("stories", "diff", "1", "2"),
    ("search", "the"),
    ("events", "export"),
    ("events", "export", "--format", "csv"),
    ("prune", "--older-than", "3650d", "--dry-run"),
]


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """Whatever a command configures, the next test starts with the logging it found."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def configure(directory: Path, *lines: str) -> Path:
    """A configuration whose database is the default one under ``directory/data``."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "ingestor.toml"
    config.write_text('data_dir = "data"\nlog_format = "json"\n' + "".join(lines), "utf-8")
    return config


def ingestor(config: Path, *args: str) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("INGESTOR_")}
    env["INGESTOR_CONFIG"] = str(config)
    return CliRunner().invoke(cli, list(args), env=env, prog_name="ingestor")


def tree(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def logged(result: Result) -> list[str]:
    return [json.loads(line)["event"] for line in result.stderr.splitlines() if line[:1] == "{"]


def test_reading_commands_create_nothing_in_a_fresh_directory(tmp_path: Path) -> None:
    """Every reading command on a database that does not exist creates neither the data
    directory nor the SQLite file: ``db status`` reports an empty schema, the others say how to
    create it and exit 1."""
    config = configure(tmp_path / "fresh")
    before = tree(tmp_path)
    for args in READING:
        result = ingestor(config, *args)
        if args == ("db", "status"):
            assert result.exit_code == 0, result.stderr
            assert "schema:   empty" in result.stdout
        else:
            assert result.exit_code == 1, (args, result.stdout, result.stderr)
            assert "ingestor db migrate" in result.stderr
        assert "Traceback" not in result.stderr
    assert tree(tmp_path) == before
    assert not (tmp_path / "fresh" / "data").exists()


def _redis_snapshot(url: str, namespace: str) -> dict[bytes, Any]:
    import redis

    client = redis.Redis.from_url(url)
    return {key: client.dump(key) for key in client.scan_iter(match=f"{namespace}*")}


@pytest.mark.redis
def test_reading_commands_change_nothing_in_a_store_or_its_shared_index(tmp_path: Path) -> None:
    """Over a store filled by ``run --once`` with a shared Redis index, every reading command
    leaves the database file's bytes and time and the index's keys and values as they were (a
    read-only SQLite connection may add only SQLite's own ``-wal``/``-shm`` files)."""
    url = require_redis()
    urls = json.dumps([str(p) for p in sorted(FEEDS.glob("*.xml"))])
    config = configure(
        tmp_path / "filled",
        f'index_url = "{url}"\n[feeds]\nurls = {urls}\n',
        "[fingerprint]\nmax_terms = 197\n",  # a namespace of this test's own in the shared index
    )
    filled = ingestor(config, "run", "--once")
    assert filled.exit_code == 0, filled.stderr
    status = ingestor(config, "index", "status", "--json")
    namespace = json.loads(status.stdout)["namespace"]
    database = tmp_path / "filled" / "data" / "ingestor.db"
    files = tree(tmp_path)
    stat, digest = database.stat(), hashlib.sha256(database.read_bytes()).hexdigest()
    index = _redis_snapshot(url, namespace)
    assert index
    try:
        for args in READING:
            result = ingestor(config, *args)
            assert result.exit_code == 0, (args, result.stderr)
            assert "index_loaded" not in logged(result)
        assert hashlib.sha256(database.read_bytes()).hexdigest() == digest
        assert database.stat().st_mtime_ns == stat.st_mtime_ns
        assert _redis_snapshot(url, namespace) == index
        coordination = {f"filled/data/ingestor.db-{suffix}" for suffix in ("wal", "shm")}
        assert tree(tmp_path) - files <= coordination
    finally:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"{namespace}*"):
            client.delete(key)


def test_curating_feeds_touches_the_store_alone(tmp_path: Path) -> None:
    """``feeds add``, ``import`` and ``remove`` open the store and nothing else: no clustering
    window is loaded and the shared index is never reached (here it is a Redis nobody serves)."""
    config = configure(tmp_path / "curate", 'index_url = "redis://127.0.0.1:9/0"\n')
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline type="rss" xmlUrl="https://b.example/rss"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    for args in (
        ("feeds", "add", "https://a.example/rss"),
        ("feeds", "import", str(opml)),
        ("feeds", "remove", "https://a.example/rss"),
    ):
        result = ingestor(config, *args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "index_loaded" not in logged(result)
    listed = json.loads(ingestor(config, "feeds", "list", "--all", "--json").stdout)
    assert {f["url"]: f["status"] for f in listed} == {
        "https://a.example/rss": "removed",
        "https://b.example/rss": "active",
    }
