"""The ``ingestor`` command over the operator's rough edges: out-of-range numbers are usage
errors, unreadable inputs are errors, exit codes say whether anything was done, and the feed
and event commands a first-time user reaches for. Commands run in-process (``tests.test_cli``'s
``Cli``), each over its own configuration file and database."""

from __future__ import annotations

import pytest

from tests.test_cli import FEEDS, Cli, error_line


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
