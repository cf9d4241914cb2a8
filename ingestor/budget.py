"""Run a function on hostile input under a per-document time budget.

Owns: a small pool of persistent worker processes (``BudgetRunner``). A call is sent to an idle
worker; if no answer comes within the budget the worker is killed, the call raises
``ParseTimeout``, and a fresh worker takes its slot. Threads cannot be interrupted, processes can:
a pathological document (feedparser's quadratic author regex, deeply nested markup) costs one
worker process, never a thread of the caller's pool.

Does not: decide what to run (``pipeline`` sends ``parse.parse_feed`` and ``normalize`` calls),
retry, or log. Workers start with the ``forkserver`` method (``spawn`` where that is missing),
never plain ``fork``: the daemon is multithreaded, and forking a threaded process can copy a lock
that some other thread held.

Rules for callers: ``fn`` must be a picklable module-level function, its arguments and result
picklable (use ``functools.partial`` or keyword arguments for keyword-only parameters). An
``IngestorError`` raised in the worker is raised again in the caller with its type and message;
any other exception is a bug and comes back as the same type with the worker's traceback as a
note. A worker that dies (crash, out of memory) fails the call with ``ParseError``.
``workers=0`` runs everything in the calling thread with no budget (tests, ``ingestor eval``).
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import pickle
import queue
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from ingestor.errors import IngestorError, ParseBusy, ParseError, ParseTimeout

__all__ = ["BudgetRunner"]

T = TypeVar("T")

START_TIMEOUT_S = 60.0
"""How long a new worker may take to import its modules and say it is ready (not budgeted)."""


def _rebuild(cls: type[IngestorError], message: str, state: dict[str, Any]) -> IngestorError:
    """An ``IngestorError`` of any subclass, whatever its constructor takes."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    error.message = message
    return error


def _worker_main(conn: Connection, preload: Sequence[str]) -> None:
    """The worker loop: receive ``(fn, args, kwargs)``, answer with a tagged tuple."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which shuts us down
    for name in preload:
        importlib.import_module(name)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        try:
            fn, args, kwargs = message
            reply: tuple[Any, ...] = ("ok", fn(*args, **kwargs))
        except IngestorError as e:
            state = {k: v for k, v in vars(e).items() if k != "message"}
            reply = ("error", type(e), e.message, state)
        except BaseException as e:  # a bug in fn: hand it to the caller, who re-raises it
            reply = ("bug", e, traceback.format_exc())
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            detail = f"{type(e).__name__}: {e}"
            conn.send(("bug", RuntimeError(f"unpicklable result: {detail}"), ""))


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, preload: Sequence[str]) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=_worker_main, args=(child, tuple(preload)), daemon=True, name="ingestor-budget"
        )
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            if not self.conn.poll(START_TIMEOUT_S):
                raise RuntimeError(f"budget worker did not start within {START_TIMEOUT_S:.0f} s")
            greeting = self.conn.recv()
        except (EOFError, OSError) as e:
            self.kill()
            raise RuntimeError(f"budget worker failed to start: {e!r}") from e
        except BaseException:
            self.kill()
            raise
        if greeting != ("ready",):
            self.kill()
            raise RuntimeError("budget worker sent an unexpected greeting")
        self.ready = True

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        if not self.conn.closed:
            self.conn.close()

    def stop(self) -> None:
        if not self.conn.closed:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.process.join(timeout=2)
        self.kill()


_CLOSED = object()
"""Put in the idle queue by ``close`` so that callers waiting for a worker wake up and fail."""


class BudgetRunner:
    """Persistent worker processes that run one call each at a time, under a time budget.

    Thread-safe: each call borrows an idle worker and gives it back afterwards. If all are busy
    it waits for one, at most until the caller's ``deadline`` (``ParseBusy`` after that): the
    wait counts against the caller's deadline, so documents that use up their budgets in other
    threads cannot hold a healthy feed's poll for longer than that poll may take.
    """

    def __init__(
        self, *, workers: int = 2, budget_s: float = 5.0, preload: Sequence[str] = ()
    ) -> None:
        """``preload`` names modules every worker imports before it takes work, so the first
        document of a worker does not pay for imports inside its budget."""
        if workers < 0 or budget_s <= 0:
            raise ValueError("workers must be >= 0 and budget_s > 0")
        self.workers = workers
        self.budget_s = budget_s
        self._preload = tuple(preload)
        method = (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self._ctx = multiprocessing.get_context(method)
        self._idle: queue.Queue[Any] = queue.Queue()
        self._closed = False
        for _ in range(workers):
            self._idle.put(_Worker(self._ctx, self._preload))

    def __enter__(self) -> BudgetRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        budget_s: float | None = None,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)`` in a worker; ``ParseTimeout`` if it takes longer than the
        budget (the worker is killed and replaced). ``deadline`` (a ``time.monotonic()`` value)
        bounds the wait for an idle worker: ``ParseBusy`` when none is free before it. The
        call then has its whole budget (cutting it short would fail a healthy document for
        the time other documents took)."""
        if self._closed:
            raise RuntimeError("BudgetRunner is closed")
        if self.workers == 0:
            return fn(*args, **kwargs)
        budget = self.budget_s if budget_s is None else budget_s
        worker = self._borrow(deadline)
        if worker is _CLOSED:
            self._idle.put(_CLOSED)
            raise RuntimeError("BudgetRunner is closed")
        try:
            worker.wait_ready()
            return self._call(worker, fn, args, kwargs, budget)
        finally:
            self._give_back(worker)

    def _borrow(self, deadline: float | None) -> Any:
        """An idle worker (or ``_CLOSED``), waiting at most until ``deadline``."""
        if deadline is None:
            return self._idle.get()
        try:
            return self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise ParseBusy("no parse worker was free before the poll's deadline") from None

    def _call(
        self, worker: _Worker, fn: Callable[..., T], args: Any, kwargs: Any, budget: float
    ) -> T:
        worker.conn.send((fn, args, kwargs))  # a pickling error leaves the worker untouched
        started = time.monotonic()
        try:
            if not worker.conn.poll(budget):
                name = getattr(fn, "__name__", type(fn).__name__)
                raise ParseTimeout(f"{name} used up its {budget:g} s budget")
            reply = worker.conn.recv()
        except (EOFError, OSError) as e:
            worker.kill()
            elapsed = time.monotonic() - started
            code = worker.process.exitcode
            raise ParseError(f"worker died after {elapsed:.1f} s (exit code {code})") from e
        except BaseException:
            worker.kill()  # a request is outstanding: this worker's pipe is out of step
            raise
        if reply[0] == "ok":
            result: T = reply[1]
            return result
        if reply[0] == "error":
            raise _rebuild(reply[1], reply[2], reply[3])
        error: BaseException = reply[1]
        if reply[2]:
            error.add_note(f"raised in a budget worker:\n{reply[2]}")
        raise error

    def _give_back(self, worker: _Worker) -> None:
        if self._closed:
            worker.stop()
            return
        if worker.conn.closed or not worker.process.is_alive():
            worker.kill()
            worker = _Worker(self._ctx, self._preload)  # boots while idle, off the budget
        self._idle.put(worker)

    def close(self) -> None:
        """Stop every worker. Calls still running finish or time out; later calls raise."""
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not _CLOSED:
                worker.stop()
        self._idle.put(_CLOSED)
