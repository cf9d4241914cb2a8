"""The ``ingestor`` command over the operator's rough edges: out-of-range numbers are usage
errors, unreadable inputs are errors, exit codes say whether anything was done, and the feed
and event commands a first-time user reaches for. Commands run in-process (``tests.test_cli``'s
``Cli``), each over its own configuration file and database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestor.errors import ReplayError
from ingestor.replay import iter_replay
from tests.test_cli import FEEDS, SAMPLES, Cli, error_line


@pytest.fixture
def fresh(tmp_path: Path) -> Cli:
    """An empty configuration and a database that does not exist yet."""
    return Cli.make(tmp_path / "fresh")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A database filled by one ``run --once`` over the five sample feeds."""
    run = Cli.make(tmp_path_factory.mktemp("filled"), sorted(FEEDS.glob("*.xml")))
    run("run", "--once")
    return run


@pytest.mark.parametrize(
    "args",
    [
        ("events", "show", "99999999999999999999"),
        ("events", "list", "--limit", "99999999999999999999"),
        ("events", "list", "--min-size", "99999999999999999999"),
    ],
)
def test_numbers_past_64_bits_are_usage_errors(filled: Cli, args: tuple[str, ...]) -> None:
    """An id or count no database can hold is a usage error (exit 2) naming the range."""
    result = filled(*args, code=2)
    assert "is not in the range" in result.stderr


def test_eval_of_a_file_with_no_labelled_records_is_an_error(filled: Cli) -> None:
    """``eval`` of a file that holds no labelled record exits 1 with one line saying so."""
    result = filled("eval", "/etc/passwd", code=1)
    assert "no labelled records" in error_line(result)


# -- exit codes and skips ----------------------------------------------------------------------


def test_replay_of_nothing_readable_says_each_skip_once_and_exits_1(
    fresh: Cli, tmp_path: Path
) -> None:
    """A replay whose every input is skipped (a missing path, a corrupt gzip stream) prints each
    skip once and fails saying nothing was replayed; one readable input makes it a success."""
    missing = tmp_path / "no-such-file.xml"
    corrupt = tmp_path / "broken.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 this is not gzip data at all")
    result = fresh("replay", str(missing), str(corrupt), code=1)
    assert result.stderr.count(f"no such file or directory: {missing}") == 1
    assert result.stderr.count("broken.jsonl.gz") == 1
    assert "nothing replayed: all 2 input(s) were skipped" in result.stderr
    fresh("replay", "--json", str(missing), code=1)
    fresh("replay", str(missing), str(FEEDS / "rt-rss.xml"))


def test_run_once_exits_1_when_every_polled_feed_failed(tmp_path: Path) -> None:
    """``run --once`` over feeds that all fail exits 1 naming where to look; one healthy feed
    among them makes it a success."""
    junk = tmp_path / "junk.xml"
    junk.write_text("this is not a feed", encoding="utf-8")
    failing = Cli.make(tmp_path / "failing", [junk, tmp_path / "missing.xml"])
    result = failing("run", "--once", code=1)
    assert "every polled feed failed (2)" in result.stderr
    mixed = Cli.make(tmp_path / "mixed", [junk, FEEDS / "rt-rss.xml"])
    mixed("run", "--once")


def test_a_directory_walk_passes_over_the_collections_documentation(tmp_path: Path) -> None:
    """README, LICENSE, CHANGELOG (any case, any suffix) found by a directory walk are not
    stories; named as a path, a README is replayed like any other text file."""
    (tmp_path / "README.md").write_text("# Samples\nWhat these files are.", encoding="utf-8")
    (tmp_path / "LICENSE").write_text("Permission is granted.", encoding="utf-8")
    (tmp_path / "changelog.txt").write_text("1.0: first.", encoding="utf-8")
    (tmp_path / "story.md").write_text("# Flood\nThe river rose.", encoding="utf-8")
    walked = [i.path for i in iter_replay([tmp_path]) if not isinstance(i, ReplayError)]
    assert walked == ["story.md"]
    named = [i.path for i in iter_replay([tmp_path / "README.md"])]
    assert named == ["README.md"]


def test_replay_of_the_samples_directory_stores_no_readme(fresh: Cli) -> None:
    """``replay samples/`` stores the sample feeds and articles, never samples/README.md."""
    fresh("replay", str(SAMPLES))
    titles = {e["title"] for e in fresh.json("events", "list", "--limit", "1000")}
    assert not any("Samples" in title or "sample" in title.lower() for title in titles)
