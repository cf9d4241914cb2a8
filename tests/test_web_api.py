"""The JSON API (``/api/...``) over a store filled from samples/: listing with filters and a
cursor, one event with every variant and why it joined, stories, feeds, errors, the OpenAPI
description, and the bearer token."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.web import HOSTILE_TITLE, SEED_SOURCES, client, fill, seed_event_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("api"))


@pytest.fixture
def api(store: str) -> Iterator[TestClient]:
    with client(store) as test_client:
        yield test_client


def test_events_are_listed_newest_first_with_a_cursor_through_every_page(api: TestClient) -> None:
    """Pages of two follow one another through ``next_cursor`` until it is null, newest first
    (by last seen), with no event twice and none left out."""
    everything = api.get("/api/events", params={"limit": 200}).json()
    assert everything["next_cursor"] is None
    whole = [e["id"] for e in everything["events"]]
    assert len(whole) >= 7
    seen = [e["last_seen"] for e in everything["events"]]
    assert seen == sorted(seen, reverse=True)
    paged: list[int] = []
    cursor = None
    for _ in range(20):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/api/events", params=params).json()
        paged += [e["id"] for e in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == whole


def test_events_are_filtered_by_size_title_source_and_time(api: TestClient) -> None:
    """``min_size``, ``q`` (in the canonical title, case aside), ``source`` (a variant's,
    case aside) and ``since`` (ingestion time) each narrow the listing."""
    big = api.get("/api/events", params={"min_size": 3}).json()["events"]
    assert big
    assert all(e["size"] >= 3 for e in big)
    quake = api.get("/api/events", params={"q": "EARTHQUAKE"}).json()["events"]
    assert len(quake) == 2
    assert all("earthquake" in e["title"].lower() for e in quake)
    by_rt = api.get("/api/events", params={"source": "rt"}).json()["events"]
    assert seed_event_id(api) in [e["id"] for e in by_rt]
    assert api.get("/api/events", params={"q": "100%_"}).json()["events"] == []
    # ``since`` is ingestion time, as in ``events list``: every sample story joined just now,
    # whatever its publication time, and none joins in the future.
    everything = api.get("/api/events", params={"limit": 200}).json()["events"]
    joined = api.get("/api/events", params={"since": "2020-01-01T00:00Z", "limit": 200})
    assert joined.json()["events"] == everything
    assert api.get("/api/events", params={"since": "2999-01-01T00:00Z"}).json()["events"] == []


def test_an_event_has_its_variants_sources_similarity_and_why_they_joined(api: TestClient) -> None:
    """``/api/events/{id}`` gives the canonical story and every variant with its source, time,
    similarity, reason, signals and shared passages, and the score that decided."""
    event_id = seed_event_id(api)
    body = api.get(f"/api/events/{event_id}").json()
    assert sorted({v["story"]["source"] for v in body["variants"]}) == SEED_SOURCES
    assert sum(v["canonical"] for v in body["variants"]) == 1
    assert [v["reason"] for v in body["variants"]].count("new") == 1  # the one that began it
    joined = [v for v in body["variants"] if v["reason"] != "new"]
    assert all(0 < v["similarity"] <= 1 and "cosine" in v["signals"] for v in joined)
    assert all(v["shared_passages"] for v in body["variants"] if not v["canonical"])
    assert all(v["story"]["published"] for v in body["variants"])
    assert "weights" in body["score"]
    assert body["merged"] == []


def test_an_event_lists_as_many_variants_as_asked_the_canonical_among_them(
    api: TestClient,
) -> None:
    """``variants=N`` bounds what one event's answer lists and explains (the canonical story
    always among them), and says how many it shows; it is a bounded number."""
    event_id = seed_event_id(api)
    body = api.get(f"/api/events/{event_id}", params={"variants": 2}).json()
    assert (body["size"], body["variants_shown"], len(body["variants"])) == (5, 2, 2)
    assert sum(v["canonical"] for v in body["variants"]) == 1
    assert api.get(f"/api/events/{event_id}").json()["variants_shown"] == 5
    for bad in ("0", "10001", "many"):
        answer = api.get(f"/api/events/{event_id}", params={"variants": bad})
        assert answer.status_code == 422
        assert "error" in answer.json()


def test_ids_past_64_bits_are_refused_not_a_server_error(api: TestClient) -> None:
    for path in ("/api/events/99999999999999999999", "/api/stories/99999999999999999999"):
        answer = api.get(path)
        assert answer.status_code == 422, path
        assert "error" in answer.json()


def test_a_story_names_its_event(api: TestClient) -> None:
    """``/api/stories/{id}`` gives the story, its event and how it joined."""
    event_id = seed_event_id(api)
    detail = api.get(f"/api/events/{event_id}").json()
    story_id = detail["variants"][1]["story_id"]
    body = api.get(f"/api/stories/{story_id}").json()
    assert body["event_id"] == event_id
    assert body["reason"] == detail["variants"][1]["reason"]
    assert body["story"]["title"] == detail["variants"][1]["story"]["title"]


def test_feeds_are_listed(api: TestClient) -> None:
    """``/api/feeds`` lists the feeds the store polls (none here: everything was replayed)."""
    assert api.get("/api/feeds").json() == {"feeds": []}


def test_hostile_text_comes_back_as_data(api: TestClient) -> None:
    """A title with markup and control characters is returned as the JSON string it is."""
    [event] = api.get("/api/events", params={"q": "<script>"}).json()["events"]
    assert event["title"].startswith("<script>alert('x')</script>")
    assert HOSTILE_TITLE.split("\x01")[0] in event["title"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/events?limit=0", 422),
        ("/api/events?limit=abc", 422),
        ("/api/events?min_size=-1", 422),
        ("/api/events?since=yesterday-ish", 400),
        ("/api/events?cursor=not-a-cursor", 400),
        ("/api/events?cursor=WyJ4IiwxXQ", 400),
        ("/api/events/abc", 422),
        ("/api/events/999999", 404),
        ("/api/stories/999999", 404),
        ("/api/nothing", 404),
    ],
)
def test_bad_requests_get_a_status_and_a_one_line_json_error(
    api: TestClient, path: str, status: int
) -> None:
    """Bad parameters are 400 or 422, unknown ids 404, each with a JSON ``error`` line."""
    response = api.get(path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error
    assert "\n" not in error


def test_the_openapi_description_lists_every_endpoint(api: TestClient) -> None:
    """``/api/openapi.json`` is an OpenAPI document naming the API's paths and parameters."""
    document = api.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path in ("/api/events", "/api/events/{event_id}", "/api/stories/{story_id}",
                 "/api/feeds", "/events.atom", "/events.json", "/healthz"):  # fmt: skip
        assert path in document["paths"], path
    names = {p["name"] for p in document["paths"]["/api/events"]["get"]["parameters"]}
    assert {"since", "min_size", "q", "source", "limit", "cursor"} <= names


def test_the_token_guards_the_api_only(store: str) -> None:
    """With ``serve.token`` set, ``/api/...`` needs ``Authorization: Bearer <token>`` (401
    without it or with another), while the page, the feeds and the health check stay open."""
    with client(store, token="s3cret") as guarded:
        assert guarded.get("/api/events").status_code == 401
        wrong = guarded.get("/api/events", headers={"Authorization": "Bearer s3cre"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert guarded.get("/api/events", headers={"Authorization": "Basic s3cret"}).status_code \
            == 401  # fmt: skip
        right = guarded.get("/api/events", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        for path in ("/", "/events.atom", "/events.json", "/healthz", "/api/openapi.json"):
            assert guarded.get(path).status_code == 200, path


def test_the_pages_feeds_and_health_answer_head(api: TestClient) -> None:
    """A feed reader or an uptime check may ask with HEAD: the same status and type as GET,
    no body."""
    event_id = seed_event_id(api)
    for path in ("/", f"/events/{event_id}", "/events.atom", "/events.json", "/healthz"):
        got, head = api.get(path), api.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.content == b"", path


def test_reading_writes_nothing(store: str, tmp_path: Path) -> None:
    """Every endpoint leaves the database file's bytes and time as they were."""
    database = Path(store.removeprefix("sqlite:///"))
    before = database.stat().st_mtime_ns, hashlib.sha256(database.read_bytes()).hexdigest()
    with client(store) as test_client:
        event_id = seed_event_id(test_client)
        for path in ("/", f"/events/{event_id}", "/events.atom", "/events.json", "/api/events",
                     f"/api/events/{event_id}", "/api/stories/1", "/api/feeds", "/metrics",
                     "/healthz"):  # fmt: skip
            assert test_client.get(path).status_code == 200, path
    after = database.stat().st_mtime_ns, hashlib.sha256(database.read_bytes()).hexdigest()
    assert after == before


def test_a_merged_event_redirects_to_the_event_it_is_part_of(store: str, tmp_path: Path) -> None:
    """An event folded into another (a row of the merge log) answers 301 to the event its
    stories are in now, which lists the merge."""
    copy = tmp_path / "merged.db"
    copy.write_bytes(Path(store.removeprefix("sqlite:///")).read_bytes())
    with client(f"sqlite:///{copy}") as test_client:
        into = seed_event_id(test_client)
    with sqlite3.connect(copy) as db:
        db.execute(
            "INSERT INTO event_merges (into_event_id, gone_event_id, story_id, merged_at) "
            "VALUES (?, 9999, 1, '2024-06-18 07:00:00.000000')",
            (into,),
        )
    with client(f"sqlite:///{copy}") as test_client:
        moved = test_client.get("/api/events/9999", follow_redirects=False)
        assert moved.status_code == 301
        assert moved.headers["location"] == f"/api/events/{into}"
        body = test_client.get("/api/events/9999").json()
        assert body["id"] == into
        assert [m["event_id"] for m in body["merged"]] == [9999]
        page = test_client.get("/events/9999", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (301, f"/events/{into}")
