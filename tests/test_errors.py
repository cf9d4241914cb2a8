"""``errors.one_line``: the one way messages and hostile values are made safe for one line."""

from __future__ import annotations

from ingestor.errors import StoreError, one_line


def test_text_keeps_its_words_with_control_characters_escaped() -> None:
    """Newlines, terminal escapes and Unicode line separators in text are escaped (``\\xNN``,
    ``\\uNNNN``); everything else is left as it is."""
    assert one_line("Putin\nvisits\x1b[2J Pyongyang\u2028“now”") == (
        "Putin\\x0avisits\\x1b[2J Pyongyang\\u2028“now”"
    )


def test_an_exception_gives_its_first_line_or_its_type() -> None:
    """An exception's message is its first non-blank line with whitespace runs folded (a driver
    appends the SQL and notes below it); a message-less exception is named by its type."""
    error = RuntimeError("\n  connection   refused\n[SQL: SELECT 1]\n(Background on this error)")
    assert one_line(error) == "connection refused"
    assert one_line(StoreError("")) == "StoreError"


def test_a_limit_cuts_with_an_ellipsis() -> None:
    """With ``limit``, a longer result ends in an ellipsis at exactly that length; a shorter
    one is unchanged."""
    assert one_line("x" * 50, limit=10) == "x" * 9 + "…"
    escaped = one_line("\n" * 50, limit=10)
    assert len(escaped) == 10
    assert escaped.startswith("\\x0a\\x0a")
    assert escaped.endswith("…")
    assert one_line("short", limit=10) == "short"
