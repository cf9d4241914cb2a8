"""The server as it runs: over a real socket on 127.0.0.1, ``ingestor serve`` and ``ingestor
run --serve`` from the command line, ``/metrics`` and ``/healthz``, and one structured access
log line per request."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from ingestor.app import Ingestor
from ingestor.cli import cli
from ingestor.config import Settings
from ingestor.models import Counts, FeedRunResult
from ingestor.web import Metrics, ServerThread, create_app
from tests.web import SAMPLES, client, fill, seed_event_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("server"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_server_answers_over_a_real_socket(store: str) -> None:
    """uvicorn in a thread on 127.0.0.1 (a port the system picks) answers the API, the page and
    the feeds, and stops when asked."""
    with Ingestor(Settings(database_url=store)) as reader:
        thread = ServerThread(create_app(reader), host="127.0.0.1", port=0).start()
        try:
            base = f"http://127.0.0.1:{thread.port}"
            with httpx.Client(base_url=base, timeout=10) as http:
                events = http.get("/api/events").json()["events"]
                assert len(events) >= 7
                assert http.get(f"/events/{events[0]['id']}").status_code == 200
                assert (
                    http.get("/events.atom")
                    .headers["content-type"]
                    .startswith("application/atom+xml")
                )
                assert "server" not in http.get("/healthz").headers
        finally:
            thread.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/healthz", timeout=2)


def test_metrics_count_the_ticks_and_read_the_store(store: str) -> None:
    """``/metrics`` reports the polls a daemon's ticks are observed with, by status, their
    durations as histograms, and the store's stories, events and merges."""
    with Ingestor(Settings(database_url=store)) as reader:
        metrics = Metrics(reader, indexed=lambda: 6)
        results = [
            FeedRunResult("https://a.example/rss", "ok", Counts(new=3, new_events=2), 120),
            FeedRunResult("https://b.example/rss", "ok", Counts(new=1, merges=1), 80),
            FeedRunResult("https://c.example/rss", "error", Counts(), 3000),
        ]
        metrics.observe_tick(results, 3.5)
        with client(store, metrics=metrics) as test_client:
            response = test_client.get("/metrics")
            counts = reader.counts()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(response.text.splitlines())
    for line in (
        'ingestor_polls_total{status="ok"} 2.0',
        'ingestor_polls_total{status="error"} 1.0',
        'ingestor_polls_total{status="not_modified"} 0.0',
        "ingestor_new_stories_total 4.0",
        "ingestor_new_events_total 2.0",
        "ingestor_merges_total 1.0",
        "ingestor_fetch_seconds_count 3.0",
        'ingestor_fetch_seconds_bucket{le="0.1"} 1.0',
        "ingestor_tick_seconds_count 1.0",
        "ingestor_tick_seconds_sum 3.5",
        f"ingestor_stories {float(counts['stories'])}",
        f"ingestor_events {float(counts['events'])}",
        "ingestor_event_merges 0.0",
        "ingestor_webhook_backlog 0.0",
        "ingestor_index_events 6.0",
        "ingestor_store_up 1.0",
    ):
        assert line in lines, line


def test_healthz_reports_the_store_and_the_ages(store: str) -> None:
    """``/healthz`` is 200 with the store reachable, and gives the last poll's and the last
    tick's ages (null when there was none); a daemon in the process that has not finished a
    tick for three intervals and the longest poll is 503 (stalled), and so is a store that
    cannot be reached."""
    with client(store) as test_client:
        body = test_client.get("/healthz").json()
    assert body == {"status": "ok", "store": "ok", "last_poll_at": None,
                    "last_poll_age_s": None, "last_tick_age_s": None}  # fmt: skip
    with Ingestor(Settings(database_url=store)) as reader:
        metrics = Metrics(reader)
        metrics.observe_tick([], 0.1)
        with client(store, metrics=metrics) as test_client:
            assert test_client.get("/healthz").json()["last_tick_age_s"] >= 0
    with Ingestor(Settings(database_url=store)) as reader:
        metrics = Metrics(reader, tick_s=60)
        metrics.observe_tick([], 0.1)
        with client(store, metrics=metrics) as test_client:
            assert test_client.get("/healthz").status_code == 200
            metrics.last_tick = time.monotonic() - (3 * 60 + 601)  # no tick for that long
            stalled = test_client.get("/healthz")
        assert stalled.status_code == 503
        assert stalled.json()["status"] == "stalled"
    with client("postgresql+psycopg://nobody@127.0.0.1:9/none") as test_client:
        down = test_client.get("/healthz")
        assert down.status_code == 503
        assert down.json()["store"] == "unreachable"
        assert "ingestor_store_up 0.0" in test_client.get("/metrics").text


def test_each_request_logs_one_structured_line(store: str) -> None:
    """Every request gives one ``http_request`` line with its method, path, status and time."""
    with client(store) as test_client, capture_logs() as logs:
        event_id = seed_event_id(test_client)
        test_client.get(f"/events/{event_id}")
        test_client.get("/api/events/999999")
    lines = [line for line in logs if line["event"] == "http_request"]
    assert [(line["method"], line["status"]) for line in lines] == [
        ("GET", 200), ("GET", 200), ("GET", 404)
    ]  # fmt: skip
    assert lines[1]["path"] == f"/events/{event_id}"
    assert all(line["elapsed_ms"] >= 0 for line in lines)


def _ingestor(tmp_path: Path, *args: str) -> tuple[int, str]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("INGESTOR_")}
    env["INGESTOR_DATA_DIR"] = str(tmp_path / "data")
    result = CliRunner().invoke(cli, list(args), env=env, prog_name="ingestor")
    return result.exit_code, result.stderr


def test_serve_refuses_a_missing_database_and_bad_flags(tmp_path: Path) -> None:
    """``ingestor serve`` on a database that does not exist says how to create it and exits 1,
    creating nothing; a bad port is a usage error; ``run --serve --once`` too."""
    code, err = _ingestor(tmp_path, "serve", "--port", str(_free_port()))
    assert code == 1
    assert "ingestor db migrate" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()
    assert _ingestor(tmp_path, "serve", "--port", "70000")[0] == 2
    code, err = _ingestor(tmp_path, "run", "--serve", "--once")
    assert code == 2
    assert "--once" in err


def test_serve_says_when_its_port_is_taken(store: str, tmp_path: Path) -> None:
    """A port another socket holds is one line on stderr and exit code 1, before any request."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: None for k in os.environ if k.startswith("INGESTOR_")}
        env["INGESTOR_DATABASE_URL"] = store
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)], env=env)
    assert result.exit_code == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


@pytest.mark.slow
def test_run_serve_polls_and_serves_until_sigterm(tmp_path: Path) -> None:
    """``ingestor run --serve`` polls the configured feeds and serves them: ``/healthz`` sees
    the tick, ``/metrics`` counts its polls, the page lists the events, an API action splits a
    story off (a foreign origin's is refused), and SIGTERM ends both
    with exit code 0 (bounded: 60 s at most)."""
    port = _free_port()
    feeds = json.dumps([str(p) for p in sorted((SAMPLES / "feeds").glob("*.xml"))])
    config = tmp_path / "ingestor.toml"
    config.write_text(
        f'data_dir = "data"\nlog_format = "json"\n[feeds]\nurls = {feeds}\n'
        f"[daemon]\ntick_s = 3600\n[serve]\nport = {port}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGESTOR_")}
    env["INGESTOR_CONFIG"] = str(config)
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestor", "run", "--serve"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        health = None
        for _ in range(300):  # 60 s at most
            response = _get(f"{base}/healthz")
            if response is not None and response.json().get("last_tick_age_s") is not None:
                health = response.json()
                break
            if process.poll() is not None:
                break
            time.sleep(0.2)
        assert health is not None, process.stderr.read() if process.poll() is not None else ""
        assert health["last_poll_age_s"] is not None
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'ingestor_polls_total{status="ok"} 5.0' in metrics
        assert "ingestor_tick_seconds_count 1.0" in metrics
        assert "ingestor_index_events " in metrics
        events = httpx.get(f"{base}/api/events", timeout=5).json()["events"]
        assert any(e["sources"] == 5 for e in events)
        # An action beside the daemon: the server's writer splits a story off the seed event.
        seed = next(e["id"] for e in events if e["sources"] == 5)
        variants = httpx.get(f"{base}/api/events/{seed}", timeout=5).json()["variants"]
        story = next(v["story_id"] for v in variants if not v["canonical"])
        split = httpx.post(f"{base}/api/events/{seed}/split", json={"stories": [story]}, timeout=10)
        assert split.status_code == 200, split.text
        new = httpx.get(f"{base}/api/events/{split.json()['event']}", timeout=5).json()
        assert [v["story_id"] for v in new["variants"]] == [story]
        foreign = httpx.delete(
            f"{base}/api/events/{seed}", headers={"origin": "http://evil.example"}
        )
        assert foreign.status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    assert process.returncode == 0, err
    logged = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "daemon_stopped" in logged
    assert "http_request" in logged
