"""The curation actions as forms on the event page, over copies of a store filled from
samples/: each form (with the page's CSRF token) changes the store exactly as the matching
``ingestor`` command does, answers 303 to the page of the result, which says what was done;
mistakes are HTML error pages (400/404) that change nothing; hostile text stays escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.test_cli import Cli
from tests.web import (
    HOST,
    ORIGIN,
    client,
    copy_store,
    csrf_of,
    fill,
    seed_event_id,
    snapshot,
    store_bytes,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("forms"))


@pytest.fixture
def web_store(template: str, tmp_path: Path) -> str:
    return copy_store(template, tmp_path / "web")


@pytest.fixture
def cli(template: str, tmp_path: Path) -> Cli:
    """``ingestor`` over a second copy of the same store: what the form must match."""
    url = copy_store(template, tmp_path / "cli")
    config = tmp_path / "cli" / "ingestor.toml"
    config.write_text('log_format = "json"\n', encoding="utf-8")
    return Cli(config, url, {})


@contextmanager
def browser(url: str, **options: Any) -> Iterator[TestClient]:
    """A client that sends what a browser on the server's own page sends."""
    with client(url, hosts=(HOST,), **options) as test_client:
        test_client.headers.update({"origin": ORIGIN, "sec-fetch-site": "same-origin"})
        yield test_client


def post_form(web: TestClient, page: str, path: str, fields: dict[str, Any]) -> Any:
    """Open ``page``, then submit its form that posts to ``path`` with ``fields``."""
    html = web.get(page).text
    data = {"csrf": csrf_of(html, path), **fields}
    return web.post(path, data=data, follow_redirects=False)


def two_events(web: TestClient) -> tuple[int, int, list[int]]:
    """The seed event, another event, and the seed event's stories (canonical first)."""
    seed = seed_event_id(web)
    other = next(e["id"] for e in web.get("/api/events").json()["events"] if e["id"] != seed)
    variants = web.get(f"/api/events/{seed}").json()["variants"]
    stories = [v["story_id"] for v in sorted(variants, key=lambda v: not v["canonical"])]
    return seed, other, stories


def test_the_merge_form_merges_as_the_command_does(web_store: str, cli: Cli) -> None:
    """Merging another event in through the form: 303 to this event's page, which says so
    and lists the merge; the store then holds what ``events merge`` makes of it."""
    with browser(web_store) as web:
        seed, other, _ = two_events(web)
        answer = post_form(web, f"/events/{seed}", f"/events/{seed}/merge", {"gone": other})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/events/{seed}?done=merged&gone={other}"
        page = web.get(answer.headers["location"])
        assert f"Event {other} was merged into this event." in page.text
        assert f"Event {other} merged into this one" in page.text
    cli("events", "merge", str(seed), str(other))
    assert snapshot(web_store) == snapshot(cli.database_url)


def test_the_split_form_splits_the_ticked_variants_off(web_store: str, cli: Cli) -> None:
    """Ticking two variants and submitting makes a new event of them, as ``events split``
    does; the answer is the new event's page, saying where its variants came from."""
    with browser(web_store) as web:
        seed, _, stories = two_events(web)
        chosen = stories[-2:]
        answer = post_form(web, f"/events/{seed}", f"/events/{seed}/split", {"stories": chosen})
        assert answer.status_code == 303
        new = int(
            re.fullmatch(r"/events/(\d+)\?done=split&from=\d+", answer.headers["location"])[1]
        )  # type: ignore[index]
        assert sorted(
            v["story_id"] for v in web.get(f"/api/events/{new}").json()["variants"]
        ) == sorted(chosen)
        page = web.get(answer.headers["location"]).text
        assert f"These variants were split off event {seed} into this new event." in page
    out = cli("events", "split", str(seed), *map(str, chosen)).stdout
    assert out.split()[-1] == str(new)
    assert snapshot(web_store) == snapshot(cli.database_url)


def test_the_move_form_moves_one_variant(web_store: str, cli: Cli) -> None:
    """A variant's own form moves it into the event named, as ``stories move`` does; the
    answer is that event's page."""
    with browser(web_store) as web:
        seed, other, stories = two_events(web)
        story = stories[-1]
        answer = post_form(web, f"/events/{seed}", f"/stories/{story}/move", {"event": other})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/events/{other}?done=moved&story={story}&from={seed}"
        assert (
            f"Story {story} was moved here from event {seed}."
            in web.get(answer.headers["location"]).text
        )
    cli("stories", "move", str(story), str(other))
    assert snapshot(web_store) == snapshot(cli.database_url)


def test_the_delete_form_needs_its_box_ticked(web_store: str, cli: Cli) -> None:
    """Without the confirmation box the deletion is a 400 page and nothing changes; with it,
    the event is gone as after ``events delete`` and the index page says so."""
    with browser(web_store) as web:
        seed, _, _ = two_events(web)
        before = store_bytes(web_store)
        unconfirmed = post_form(web, f"/events/{seed}", f"/events/{seed}/delete", {})
        assert unconfirmed.status_code == 400
        assert "tick the box to confirm the deletion" in unconfirmed.text
        assert store_bytes(web_store) == before
        answer = post_form(web, f"/events/{seed}", f"/events/{seed}/delete", {"confirm": "yes"})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/?done=deleted&event={seed}"
        assert f"Event {seed} was deleted" in web.get(answer.headers["location"]).text
        assert web.get(f"/events/{seed}").status_code == 404
    cli("events", "delete", str(seed))
    assert snapshot(web_store) == snapshot(cli.database_url)


def test_mistakes_are_error_pages_that_change_nothing(web_store: str) -> None:
    """Merging an event into itself, splitting every story off, naming no variant or a bad
    id: 400 pages; an unknown event: 404; an id out of range in the path: 422. Each an HTML
    page with one line, no traceback, the store as it was."""
    with browser(web_store) as web:
        seed, _, stories = two_events(web)
        before = snapshot(web_store)
        page = f"/events/{seed}"
        cases = [
            (
                f"/events/{seed}/merge",
                {"gone": seed},
                400,
                f"cannot merge event {seed} into itself",
            ),
            (f"/events/{seed}/merge", {"gone": 999_999}, 404, "no event 999999"),
            (f"/events/{seed}/merge", {"gone": "1; DROP"}, 400, "give an id"),
            (f"/events/{seed}/merge", {"gone": str(2**63)}, 400, "give an id"),
            (f"/events/{seed}/split", {"stories": stories}, 400, "must leave at least one story"),
            (f"/events/{seed}/split", {}, 400, "tick at least one variant"),
            (f"/stories/{stories[-1]}/move", {"event": seed}, 400, "is already in event"),
            (f"/stories/{stories[-1]}/move", {"event": 999_999}, 404, "no event 999999"),
        ]
        for path, fields, status, message in cases:
            answer = post_form(web, page, path, fields)
            assert answer.status_code == status, (path, fields, answer.text)
            assert answer.headers["content-type"].startswith("text/html")
            assert message in answer.text, (path, fields)
            assert "Traceback" not in answer.text
        for path in ("/events/0/merge", f"/events/{2**63}/merge", "/events/x/merge"):
            assert web.post(path, data={"gone": 1}).status_code == 422, path
    assert snapshot(web_store) == before


def test_a_link_cannot_make_a_page_say_anything(template: str) -> None:
    """The line after an action is a fixed sentence with ids: anything else in the query
    shows no line at all."""
    with browser(template) as web:
        seed = seed_event_id(web)
        for query in ("done=merged&gone=<b>x</b>", "done=hacked&gone=1", "done=merged&gone=0",
                      "done=split", "done=<script>&from=1"):  # fmt: skip
            body = web.get(f"/events/{seed}?{query}").text
            assert 'class="notice"' not in body, query
            assert "<b>x</b>" not in body
        assert 'class="notice"' not in web.get("/?done=deleted&event=x").text


def test_a_hostile_title_is_escaped_on_a_page_with_forms(template: str) -> None:
    """The hostile story's page has its forms (the split list shows its title) and still no
    element from its title or source; every form posts to this server with a CSRF token."""
    with browser(template) as web:
        [event] = web.get("/api/events", params={"q": "<script>"}).json()["events"]
        response = web.get(f"/events/{event['id']}")
        body = response.text
        assert "form-action 'self'" in response.headers["content-security-policy"]
        # "no-referrer" would make a browser send "Origin: null" with the forms' POSTs.
        assert response.headers["referrer-policy"] == "same-origin"
        assert body.count('method="post"') == 3 + event["size"]
        assert "<script" not in body
        assert "<b>Evil" not in body
        assert body.count("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") >= 3
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body)
        for action in re.findall(r'<form[^>]*method="post" action="([^"]*)"', body):
            assert re.fullmatch(r"/(events|stories)/\d+/(merge|split|delete|move)", action)
            csrf_of(body, action)
