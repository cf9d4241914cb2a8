"""The ``ingestor`` command as an operator meets it: help everywhere, cheap start-up, every
command over a database filled by ``run --once`` from the sample feeds, and the exit codes
(0 ok, 1 error with one line on stderr, 2 usage).

Commands run in-process with click's ``CliRunner``. Each one gets an environment naming its own
configuration file and database under a temporary directory, with any ``INGESTOR_*`` variable
of the surrounding shell removed, so the repository's ``config/ingestor.toml`` is never read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
import structlog
from click.testing import CliRunner, Result
from structlog.testing import capture_logs

from ingestor.cli import cli
from ingestor.config import load_settings
from ingestor.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
FEEDS = SAMPLES / "feeds"
ARTICLES = SAMPLES / "articles"
HEAVY = ("numpy", "sqlalchemy", "datasketch", "trafilatura", "feedparser")
WEB = ("fastapi", "starlette", "uvicorn", "jinja2", "prometheus_client")
"""The server's stack: only ``serve`` and ``run --serve`` import it."""


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """Whatever a command configures, the next test starts with the logging it found."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@dataclass
class Cli:
    """``ingestor`` with its own configuration file and database."""

    config: Path
    database_url: str
    extra: dict[str, str | None]

    @classmethod
    def make(cls, directory: Path, feeds: Sequence[Path] = ()) -> Cli:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "ingestor.toml"
        urls = ", ".join(json.dumps(str(p)) for p in feeds)
        config.write_text(f'log_format = "json"\n\n[feeds]\nurls = [{urls}]\n', encoding="utf-8")
        return cls(config, f"sqlite:///{directory / 'ingestor.db'}", {})

    def env(self) -> dict[str, str | None]:
        outside: dict[str, str | None] = {k: None for k in os.environ if k.startswith("INGESTOR_")}
        return (
            outside
            | {
                "INGESTOR_CONFIG": str(self.config),
                "INGESTOR_DATABASE_URL": self.database_url,
            }
            | self.extra
        )

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, list(args), env=self.env(), prog_name="ingestor")
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        if code != 2:  # a usage error is click's SystemExit(2); everything else ends cleanly
            assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


def error_line(result: Result) -> str:
    """The one line an error leaves on stderr (log lines are JSON objects, errors are not)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A database filled by one ``run --once`` over the five sample feeds."""
    run = Cli.make(tmp_path_factory.mktemp("filled"), sorted(FEEDS.glob("*.xml")))
    result = run("run", "--once")
    assert "added 5 configured feed(s)" in result.stderr
    assert "13 new stories" in result.stderr
    return run


@pytest.fixture
def fresh(tmp_path: Path) -> Cli:
    """An empty configuration and a database that does not exist yet."""
    return Cli.make(tmp_path / "fresh")


# -- help and start-up -------------------------------------------------------------------------


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(_command_paths(cli)), ids=" ".join)
def test_every_command_and_group_has_help(fresh: Cli, path: tuple[str, ...]) -> None:
    """``--help`` works on every command and group, names it, and gives its summary."""
    result = fresh(*path, "--help")
    assert result.stdout.startswith(f"Usage: {' '.join(('ingestor', *path))} ")
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    summary = (command.help or "").split("\n")[0].strip()
    assert summary
    assert summary[:40] in " ".join(result.stdout.split())


def test_help_does_not_import_the_heavy_libraries() -> None:
    """``ingestor --help`` answers without importing numpy, SQLAlchemy, datasketch, trafilatura
    or feedparser, or the web server's stack."""
    probe = (
        "import json, runpy, sys\n"
        "sys.argv = ['ingestor', '--help']\n"
        "try:\n"
        "    runpy.run_module('ingestor', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        f"heavy = [m for m in {HEAVY + WEB!r} if m in sys.modules]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout.splitlines()[-1])
    assert report == {"code": 0, "heavy": []}


def _readme_commands() -> list[tuple[str, ...]]:
    """Every command the README's command-line reference names, as word paths."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command-line reference", 1)[1].split("\n## ", 1)[0]
    paths: list[tuple[str, ...]] = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split("|")[1]
        for chunk in re.findall(r"`([^`]+)`", first_cell):
            words = chunk.removeprefix("ingestor ").split()
            path = tuple(w for w in words[:2] if re.fullmatch(r"[a-z]+", w))
            if path and path not in paths:
                paths.append(path)
    return paths


@pytest.mark.parametrize("path", _readme_commands(), ids=" ".join)
def test_every_command_in_the_readme_exists(fresh: Cli, path: tuple[str, ...]) -> None:
    """Each command the README's reference table names answers ``--help``."""
    command: click.Command = cli
    for word in path:
        if not isinstance(command, click.Group):
            break
        assert word in command.commands, f"`ingestor {' '.join(path)}` does not exist"
        command = command.commands[word]
    fresh(*path, "--help")


# -- run, events -------------------------------------------------------------------------------


def test_events_list_shows_every_event_as_a_table_and_as_json(filled: Cli) -> None:
    """``events list`` prints one table row per event, newest first, and ``--json`` the same
    events with their sizes and titles."""
    rows = filled.json("events", "list")
    assert sorted(e["size"] for e in rows) == [1, 1, 1, 1, 1, 3, 5]
    last_seen = [datetime.fromisoformat(e["last_seen"]) for e in rows]
    assert last_seen == sorted(last_seen, reverse=True)
    table = filled("events", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "SIZE", "SOURCES"]
    assert [line.split()[0] for line in table[1:]] == [str(e["id"]) for e in rows]
    for line, event in zip(table[1:], rows, strict=True):
        assert event["title"][:40] in line


def test_events_list_filters_by_time_and_size(filled: Cli) -> None:
    """``--since`` (a time or a span like 24h) is ingestion time: the samples, published in 2024
    and ingested just now, are all in the last 24 hours and none after a time still to come;
    ``--min-size`` narrows the listing."""
    rows = filled.json("events", "list")
    assert filled.json("events", "list", "--since", "24h") == rows
    assert filled.json("events", "list", "--since", "2024-06-19T00:00Z") == rows
    assert filled.json("events", "list", "--since", "2100-01-01") == []
    assert filled("events", "list", "--since", "2100-01-01").stdout.strip() == "no events"
    big = filled.json("events", "list", "--min-size", "2")
    assert sorted(e["size"] for e in big) == [3, 5]
    assert len(filled.json("events", "list", "--limit", "2")) == 2


def _seed_event(filled: Cli) -> dict[str, Any]:
    (seed,) = [e for e in filled.json("events", "list") if e["size"] == 5]
    return seed


def test_events_show_gives_the_canonical_story_and_every_variant(filled: Cli) -> None:
    """``events show ID`` prints the canonical story and a row per variant; ``--json`` gives the
    variants with exactly one canonical among them."""
    seed = _seed_event(filled)
    text = filled("events", "show", str(seed["id"])).stdout
    assert text.startswith(f"Event {seed['id']}: 5 variant(s) from 5 source(s)")
    assert seed["title"] in text
    assert "(* canonical)" in text
    detail = filled.json("events", "show", str(seed["id"]))
    assert detail["id"] == seed["id"]
    assert len(detail["variants"]) == 5
    canonical = [v for v in detail["variants"] if v["canonical"]]
    assert len(canonical) == 1
    assert canonical[0]["story_id"] == seed["canonical_story_id"]
    assert {v["reason"] for v in detail["variants"]} <= {"new", "rewrite", "near-copy", "identical"}
    assert "signals" not in detail["variants"][0]


def test_events_show_explain_gives_signals_and_shared_passages(filled: Cli) -> None:
    """``--explain`` adds every variant's signals and the passages it shares with the canonical
    story, in the table and in ``--json``."""
    seed = _seed_event(filled)
    text = filled("events", "show", str(seed["id"]), "--explain").stdout
    assert text.count("  signals: ") == 5
    assert "cosine=" in text
    assert "this is the canonical story" in text
    assert "  shares: “" in text
    detail = filled.json("events", "show", str(seed["id"]), "--explain")
    for variant in detail["variants"]:
        assert "cosine" in variant["signals"]
        if variant["canonical"]:
            assert variant["shared_passages"] == []
    shared = [p for v in detail["variants"] for p in v["shared_passages"]]
    assert shared
    assert all(len(p.split()) >= 5 for p in shared)


def test_events_show_variants_bounds_what_is_shown_and_explained(filled: Cli) -> None:
    """``--variants 2`` shows and explains two of the seed event's five variants, the canonical
    story among them, and says how to see the rest."""
    seed = _seed_event(filled)
    text = filled("events", "show", str(seed["id"]), "--explain", "--variants", "2").stdout
    assert text.count("  signals: ") == 2
    assert "this is the canonical story" in text
    assert "Showing 2 of 5 variants (--variants 5 shows them all)." in text
    detail = filled.json("events", "show", str(seed["id"]), "--variants", "2")
    assert detail["variants_shown"] == 2
    assert any(v["canonical"] for v in detail["variants"])
    assert filled("events", "show", str(seed["id"]), "--variants", "0", code=2)


def test_an_unknown_event_is_an_error(filled: Cli) -> None:
    """``events show`` of an id that does not exist exits 1 with one line on stderr."""
    result = filled("events", "show", "999999", code=1)
    assert error_line(result) == "error: no event 999999"


def test_a_usage_error_exits_2(filled: Cli) -> None:
    """An unknown option, a missing argument or a bad value is a usage error: exit 2."""
    filled("events", "list", "--bogus", code=2)
    filled("events", "show", code=2)
    filled("events", "show", "seven", code=2)
    filled("events", "list", "--min-size", "0", code=2)
    filled("no-such-command", code=2)


def test_a_bad_since_is_an_error_naming_the_option(filled: Cli) -> None:
    """``--since`` that is neither a time nor a span exits 1 naming ``--since``."""
    result = filled("events", "list", "--since", "yesterday-ish", code=1)
    assert error_line(result).startswith("error: --since: ")


# -- feeds -------------------------------------------------------------------------------------


def test_feeds_list_shows_every_configured_feed(filled: Cli) -> None:
    """``feeds list`` shows the configured feeds as ``file:`` URIs with their last result."""
    feeds = filled.json("feeds", "list")
    assert sorted(f["url"] for f in feeds) == sorted(p.as_uri() for p in FEEDS.glob("*.xml"))
    assert {(f["status"], f["last_status"], f["consecutive_errors"]) for f in feeds} == {
        ("active", "ok", 0)
    }
    table = filled("feeds", "list").stdout.splitlines()
    assert table[0].split()[0] == "STATUS"
    assert len(table) == 1 + len(feeds)


def test_feeds_add_turns_a_local_path_into_a_file_uri(fresh: Cli, tmp_path: Path) -> None:
    """``feeds add`` of a relative local path stores its absolute ``file:`` URI; a path that
    does not exist or a scheme that is not http(s) is refused with exit 1."""
    feed = FEEDS / "rt-rss.xml"
    result = CliRunner().invoke(
        cli, ["feeds", "add", os.path.relpath(feed)], env=fresh.env(), prog_name="ingestor"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"added {feed.as_uri()} (due now)"
    assert [f["url"] for f in fresh.json("feeds", "list")] == [feed.as_uri()]
    fresh("feeds", "add", "https://news.example/feed.xml")
    assert len(fresh.json("feeds", "list")) == 2
    missing = fresh("feeds", "add", str(tmp_path / "nope.xml"), code=1)
    assert "neither an http(s) URL nor an existing file" in error_line(missing)
    ftp = fresh("feeds", "add", "ftp://news.example/feed.xml", code=1)
    assert "only http, https and local files" in error_line(ftp)


@pytest.mark.slow
def test_a_removed_configured_feed_stays_removed_after_the_next_run(tmp_path: Path) -> None:
    """``feeds remove`` of a feed the configuration lists marks it removed; the next ``run
    --once`` does not bring it back, and ``feeds list --all`` still shows it."""
    kept, dropped = FEEDS / "rt-rss.xml", FEEDS / "catchnews-atom.xml"
    run = Cli.make(tmp_path / "rm", [kept, dropped])
    run("run", "--once")
    removed = run("feeds", "remove", str(dropped))
    assert "still in the configuration" in removed.stdout
    assert f"removed {dropped.as_uri()}" in removed.stdout
    again = run("run", "--once")
    assert "added" not in again.stderr.split("polled")[0]
    assert [f["url"] for f in run.json("feeds", "list")] == [kept.as_uri()]
    everything = {f["url"]: f["status"] for f in run.json("feeds", "list", "--all")}
    assert everything == {kept.as_uri(): "active", dropped.as_uri(): "removed"}
    unknown = run("feeds", "remove", "https://news.example/none.xml", code=1)
    assert error_line(unknown) == "error: no such feed: https://news.example/none.xml"


# -- replay, eval, db ----------------------------------------------------------------------------


def test_replay_takes_files_and_directories(fresh: Cli) -> None:
    """``replay`` reads article files and directories of feeds, and reports its counts."""
    summary = fresh.json(
        "replay", str(ARTICLES / "rt-putin-north-korea-trip-goals.txt"), str(FEEDS)
    )
    assert summary["items"] == 6
    assert summary["errors"] == 0
    assert summary["new"] == 13
    assert summary["updated"] == 1  # the RT article has the address of its feed entry
    text = fresh("replay", str(FEEDS)).stdout
    assert text.startswith("replayed 5 item(s)")
    assert "13 duplicates" in text


def test_replay_reports_a_missing_path_without_a_traceback(fresh: Cli, tmp_path: Path) -> None:
    """A path that does not exist is reported as skipped and the other paths are replayed."""
    missing = tmp_path / "no-such-dir"
    result = fresh("replay", str(missing), str(FEEDS / "rt-rss.xml"))
    assert f"skipped: no such file or directory: {missing}" in result.stderr
    assert "3 new stories" in result.stdout
    # Nothing but the missing path: the summary still comes, and the exit code says it failed.
    summary = json.loads(fresh("replay", str(missing), "--json", code=1).stdout)
    assert summary["errors"] == 1
    assert summary["error_messages"] == [f"no such file or directory: {missing}"]


def test_eval_prints_the_scores_as_json(fresh: Cli) -> None:
    """``eval samples/stream.jsonl --json`` scores the sample stream perfectly."""
    report = fresh.json("eval", str(SAMPLES / "stream.jsonl"))
    assert report["documents"] == 13
    assert report["overall"]["bcubed"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert report["mixed_events"] == 0
    table = fresh("eval", str(SAMPLES / "stream.jsonl")).stdout
    assert "mixed events: 0" in table


def test_db_status_and_migrate(fresh: Cli) -> None:
    """``db status`` reports an empty schema, ``db migrate`` brings it to head (twice is
    harmless), and then ``db status`` shows the row counts."""
    before = fresh("db", "status").stdout
    assert "schema:   empty" in before
    head = re.search(r"this version needs (\w+)", before)
    assert head is not None
    assert fresh("db", "migrate").stdout.strip() == f"schema empty -> {head[1]}"
    assert fresh("db", "migrate").stdout.strip() == f"schema {head[1]} -> {head[1]}"
    after = fresh("db", "status").stdout
    assert f"schema:   {head[1]} (this version needs {head[1]})" in after
    assert re.search(r"^\s+stories: 0$", after, re.M)


def test_reading_an_empty_database_is_an_error(fresh: Cli) -> None:
    """Reading commands on an empty database exit 1 and say how to create it."""
    for args in (("events", "list"), ("feeds", "list"), ("events", "show", "1")):
        result = fresh(*args, code=1)
        assert "db migrate" in error_line(result)


def test_run_without_migrating_refuses_an_empty_database(fresh: Cli) -> None:
    """``run --no-migrate`` on a database without the schema exits 1 naming ``db migrate``."""
    result = fresh("run", "--once", "--no-migrate", code=1)
    assert "ingestor db migrate" in error_line(result)
    assert "schema:   empty" in fresh("db", "status").stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [("INGESTOR_FETCH_TIMEOUT_S", "abc"), ("INGESTOR_CLUSTER_CANONICAL", "loudest")],
)
def test_a_bad_setting_is_one_line_naming_it(fresh: Cli, variable: str, value: str) -> None:
    """A bad setting exits 1 with one line on stderr naming the setting and where its value
    came from, never a traceback."""
    fresh.extra[variable] = value
    result = fresh("run", "--once", code=1)
    name = variable.removeprefix("INGESTOR_").lower()
    line = error_line(result)
    assert line.startswith(f"error: setting {name} (from {variable}): ")
    assert result.stdout == ""


def test_a_bad_configuration_file_is_one_line(fresh: Cli) -> None:
    """An unknown key in the configuration file exits 1 naming the file and the key."""
    fresh.config.write_text("[fetch]\ntimeout = 3\n", encoding="utf-8")
    line = error_line(fresh("db", "status", code=1))
    assert line == f"error: {fresh.config}: unknown setting 'fetch_timeout'"


def test_the_stale_signature_hint_names_a_command_that_exists(filled: Cli) -> None:
    """Opening a store whose signatures another fingerprint recipe made warns once, and the
    command its hint names exists."""
    settings = load_settings(
        filled.config,
        flags={"database_url": filled.database_url, "fingerprint_shingle_size": 4},
        environ={},
    )
    with capture_logs() as logs:
        Pipeline.open(settings, migrate=False, now=datetime(2024, 6, 20, tzinfo=UTC)).close()
    (warning,) = [e for e in logs if e["event"] == "stale_signatures"]
    assert warning["count"] == 12  # every stored story in the window (not the 2023 one)
    named = re.search(r"`ingestor ([^`]+)`", warning["hint"])
    assert named is not None
    words = named[1].split()
    command: click.Command = cli
    while isinstance(command, click.Group) and words:
        assert words[0] in command.commands, f"`ingestor {named[1]}` does not exist"
        command = command.commands[words.pop(0)]
