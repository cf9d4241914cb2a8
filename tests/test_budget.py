"""BudgetRunner: hostile work is cut off at its budget, the runner recovers, errors keep types."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ingestor.budget import BudgetRunner
from ingestor.errors import HTTPStatusError, NormalizeError, ParseError, ParseTimeout
from ingestor.parse import parse_feed

pytestmark = pytest.mark.timeout(60)


# Module-level so the worker processes can unpickle them.
def _echo(value: object) -> object:
    return value


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _spin(seconds: float) -> int:
    """Burn CPU (a pathological regex or a quadratic loop looks like this)."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
    return n


def _raise_normalize() -> None:
    raise NormalizeError("nothing usable left")


def _raise_http() -> None:
    raise HTTPStatusError("gone", 410)


def _raise_bug() -> None:
    raise KeyError("a bug")


def _die() -> None:
    os._exit(7)


def _pid() -> int:
    return os.getpid()


def _add(a: int, b: int = 0, *, c: int = 0) -> int:
    return a + b + c


@pytest.fixture(scope="module")
def runner() -> Iterator[BudgetRunner]:
    with BudgetRunner(workers=2, budget_s=5.0) as r:
        yield r


def test_returns_the_result_of_fn(runner: BudgetRunner) -> None:
    """A call inside its budget returns fn's value, with positional and keyword arguments."""
    assert runner.run(_echo, {"a": [1, 2]}) == {"a": [1, 2]}
    assert runner.run(_add, 1, 2, c=3) == 6


def test_sleeping_past_the_budget_raises_parse_timeout_promptly(runner: BudgetRunner) -> None:
    """A call that sleeps past its budget raises ParseTimeout within budget + 1 s."""
    started = time.monotonic()
    with pytest.raises(ParseTimeout, match="budget"):
        runner.run(_sleep, 30, budget_s=0.5)
    assert time.monotonic() - started < 0.5 + 1.0


def test_busy_loop_past_the_budget_is_cut_off(runner: BudgetRunner) -> None:
    """A CPU-bound call (which no thread could interrupt) is cut off at its budget too."""
    started = time.monotonic()
    with pytest.raises(ParseTimeout):
        runner.run(_spin, 30, budget_s=0.5)
    assert time.monotonic() - started < 0.5 + 1.0


def test_a_pathological_feed_is_cut_off_at_its_budget(runner: BudgetRunner) -> None:
    """A feed whose author field sends feedparser's e-mail regex quadratic (tens of seconds) is
    stopped at the budget, and the next feed parses normally."""
    hostile = (
        '<rss version="2.0"><channel><title>t</title><item><title>x</title>'
        f"<author>{'a.' * 40_000}</author></item></channel></rss>"
    ).encode()
    now = datetime(2024, 6, 20, tzinfo=UTC)
    started = time.monotonic()
    with pytest.raises(ParseTimeout):
        runner.run(parse_feed, hostile, url="https://e.com/feed", now=now, budget_s=1.0)
    assert time.monotonic() - started < 1.0 + 1.0
    fine = hostile.replace(b"a." * 40_000, b"Jane Reporter")
    feed = runner.run(parse_feed, fine, url="https://e.com/feed", now=now)
    assert feed.entries[0].author == "Jane Reporter"


def test_runner_keeps_working_after_a_timeout(runner: BudgetRunner) -> None:
    """After a timeout the killed worker is replaced and the next calls succeed."""
    with pytest.raises(ParseTimeout):
        runner.run(_sleep, 30, budget_s=0.3)
    assert [runner.run(_echo, i) for i in range(5)] == list(range(5))


def test_ingestor_errors_propagate_with_their_type(runner: BudgetRunner) -> None:
    """An IngestorError raised in the worker is raised in the caller with type and message."""
    with pytest.raises(NormalizeError, match="nothing usable left"):
        runner.run(_raise_normalize)


def test_ingestor_errors_with_extra_fields_keep_them(runner: BudgetRunner) -> None:
    """Subclasses with their own constructor arguments come back whole (status_code here)."""
    with pytest.raises(HTTPStatusError) as info:
        runner.run(_raise_http)
    assert info.value.status_code == 410
    assert info.value.message == "gone"


def test_bugs_come_back_as_the_same_exception_with_the_worker_traceback(
    runner: BudgetRunner,
) -> None:
    """A non-IngestorError (a bug) is re-raised as its own type, noting the worker traceback."""
    with pytest.raises(KeyError) as info:
        runner.run(_raise_bug)
    assert any("_raise_bug" in note for note in getattr(info.value, "__notes__", []))


def test_a_worker_that_dies_fails_the_call_with_parse_error(runner: BudgetRunner) -> None:
    """A worker that exits mid-call fails that call with ParseError and is replaced."""
    with pytest.raises(ParseError, match="exit code 7"):
        runner.run(_die)
    assert runner.run(_echo, "alive") == "alive"


def test_unpicklable_functions_fail_in_the_caller_without_harming_the_worker(
    runner: BudgetRunner,
) -> None:
    """A lambda cannot be sent to a worker; the error is raised and the worker stays usable."""
    with pytest.raises(Exception, match=r"pickle|lambda"):
        runner.run(lambda: 1)
    assert runner.run(_echo, 1) == 1


def test_workers_are_persistent(runner: BudgetRunner) -> None:
    """The happy path reuses worker processes instead of starting one per call."""
    pids = {runner.run(_pid) for _ in range(20)}
    assert len(pids) <= 2
    assert os.getpid() not in pids


def test_concurrent_callers_each_get_their_own_answer(runner: BudgetRunner) -> None:
    """Many threads sharing two workers each receive the result of their own call."""
    results: dict[int, object] = {}

    def call(i: int) -> None:
        results[i] = runner.run(_add, i, 1000)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {i: i + 1000 for i in range(16)}


def test_a_timeout_in_one_thread_does_not_stall_the_others(runner: BudgetRunner) -> None:
    """While one call runs into its budget, calls from other threads still complete."""
    outcome: list[BaseException] = []

    def hostile() -> None:
        try:
            runner.run(_sleep, 30, budget_s=1.0)
        except ParseTimeout as e:
            outcome.append(e)

    thread = threading.Thread(target=hostile)
    thread.start()
    assert [runner.run(_echo, i) for i in range(10)] == list(range(10))
    thread.join(timeout=10)
    assert len(outcome) == 1


def test_in_process_mode_runs_in_the_calling_process() -> None:
    """workers=0 runs fn inline (no budget), and errors surface unchanged."""
    with BudgetRunner(workers=0) as inline:
        assert inline.run(_pid) == os.getpid()
        assert inline.run(_add, 2, c=3) == 5
        with pytest.raises(NormalizeError):
            inline.run(_raise_normalize)


def test_closed_runner_refuses_work() -> None:
    """After close(), calls raise instead of hanging, and the workers are gone."""
    r = BudgetRunner(workers=1, budget_s=5.0)
    assert r.run(_echo, 1) == 1
    r.close()
    with pytest.raises(RuntimeError, match="closed"):
        r.run(_echo, 1)
    r.close()  # closing twice is harmless


def test_preloaded_modules_are_imported_before_the_first_call() -> None:
    """preload names modules the workers import at start, outside any budget."""
    with BudgetRunner(workers=1, budget_s=5.0, preload=("ingestor.parse",)) as r:
        assert r.run(_echo, "ok") == "ok"


def test_invalid_settings_are_rejected() -> None:
    """A negative worker count or a non-positive budget is a programming error."""
    with pytest.raises(ValueError, match="workers"):
        BudgetRunner(workers=-1)
    with pytest.raises(ValueError, match="budget_s"):
        BudgetRunner(workers=0, budget_s=0)
