"""The curation actions of the JSON API, and what keeps any action from being made by another
site: the ``Host`` and ``Origin`` rules, the forms' CSRF token, ``serve.token`` and
``serve.actions``. Every refusal leaves the database's bytes as they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingestor.app import Ingestor
from ingestor.config import Settings
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

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return fill(tmp_path_factory.mktemp("actions"))


@pytest.fixture
def store(template: str, tmp_path: Path) -> str:
    return copy_store(template, tmp_path / "web")


@pytest.fixture
def twin(template: str, tmp_path: Path) -> str:
    """A second copy, changed through the facade the commands call."""
    return copy_store(template, tmp_path / "facade")


@contextmanager
def server(url: str, **options: Any) -> Iterator[TestClient]:
    with client(url, hosts=(HOST,), **options) as test_client:
        yield test_client


def events(web: TestClient) -> tuple[int, int, list[int]]:
    """The seed event, another one, and the seed event's other stories than the canonical."""
    if web.app.state.actions.token:  # type: ignore[attr-defined]
        with client(str(web.app.state.ingestor.settings.database_url)) as reading:  # type: ignore[attr-defined]
            return events(reading)
    seed = seed_event_id(web)
    other = next(e["id"] for e in web.get("/api/events").json()["events"] if e["id"] != seed)
    variants = web.get(f"/api/events/{seed}").json()["variants"]
    return seed, other, [v["story_id"] for v in variants if not v["canonical"]]


def test_the_api_actions_change_the_store_as_the_facade_does(store: str, twin: str) -> None:
    """Split, move, merge and delete through the API, in turn, each answering JSON; the same
    calls on the facade (what the commands run) leave the twin store the same."""
    with server(store) as web, Ingestor(Settings(database_url=twin)) as facade:
        seed, other, stories = events(web)
        split = web.post(f"/api/events/{seed}/split", json={"stories": stories[:2]})
        assert split.status_code == 200, split.text
        new = split.json()["event"]
        assert split.json() == {"event": new, "split_from": seed, "stories": sorted(stories[:2]),
                                "href": f"/api/events/{new}"}  # fmt: skip
        assert facade.split_event(seed, stories[:2]) == new
        moved = web.post(f"/api/stories/{stories[2]}/move", json={"event": other}).json()
        assert moved == {"story": stories[2], "event": other, "left": seed,
                         "href": f"/api/events/{other}"}  # fmt: skip
        assert facade.move_story(stories[2], other) == seed
        merged = web.post(f"/api/events/{other}/merge", json={"gone": new}).json()
        facade.merge_events(other, new)
        assert merged["event"] == other
        assert merged["merged"] == new
        assert merged["size"] == facade.get_event(other).event.size
        deleted = web.delete(f"/api/events/{seed}")
        assert deleted.json() == {"deleted": seed, "stories_kept": facade.delete_event(seed)}
        assert web.get(f"/api/events/{seed}").status_code == 404
    assert snapshot(store) == snapshot(twin)


def test_api_mistakes_are_one_line_json_errors(store: str) -> None:
    """Merging into itself and splitting every story off are 400, an unknown id 404, a bad
    body or an id out of range 422, a body that is not JSON 415; none changes anything."""
    with server(store) as web:
        seed, _, stories = events(web)
        before = snapshot(store)
        variants = [v["story_id"] for v in web.get(f"/api/events/{seed}").json()["variants"]]
        cases = [
            (f"/api/events/{seed}/merge", {"gone": seed}, 400),
            (f"/api/events/{seed}/merge", {"gone": 999_999}, 404),
            ("/api/events/999999/split", {"stories": stories[:1]}, 404),
            (f"/api/events/{seed}/split", {"stories": variants}, 400),
            (f"/api/events/{seed}/split", {"stories": []}, 422),
            (f"/api/events/{seed}/merge", {"gone": 2**63}, 422),
            (f"/api/events/{seed}/merge", {"gone": "x"}, 422),
            (f"/api/events/{2**63}/merge", {"gone": 1}, 422),
            (f"/api/stories/{stories[0]}/move", {"event": seed}, 400),
        ]
        for path, body, status in cases:
            answer = web.post(path, json=body)
            assert answer.status_code == status, (path, body, answer.text)
            assert "\n" not in answer.json()["error"]
        plain = web.post(f"/api/events/{seed}/merge", content=b'{"gone": 2}',
                         headers={"content-type": "text/plain"})  # fmt: skip
        assert plain.status_code == 415
        assert web.delete("/api/events/999999").status_code == 404
    assert snapshot(store) == before


def test_the_actions_are_in_the_openapi_description(template: str) -> None:
    with server(template) as web:
        paths = web.get("/api/openapi.json").json()["paths"]
    for path, method in (("/api/events/{event_id}/merge", "post"),
                         ("/api/events/{event_id}/split", "post"),
                         ("/api/stories/{story_id}/move", "post"),
                         ("/api/events/{event_id}", "delete")):  # fmt: skip
        assert method in paths[path], path
        assert "403" in paths[path][method]["responses"]
    assert not any(p.endswith(("/merge", "/split", "/move", "/delete")) and not p.startswith("/api")
                   for p in paths)  # fmt: skip


def _form(web: TestClient, seed: int) -> tuple[str, str]:
    path = f"/events/{seed}/merge"
    return path, csrf_of(web.get(f"/events/{seed}").text, path)


def test_forms_without_their_token_or_from_another_site_are_refused(store: str) -> None:
    """No CSRF token, a wrong one, another form's, a foreign ``Origin``, ``Origin: null``,
    ``Sec-Fetch-Site: cross-site`` or ``same-site`` without an Origin, or a ``Host`` that is
    not this server's (DNS rebinding): 403 each, and not a byte of the database changes."""
    with server(store) as web:
        seed, other, _ = events(web)
        path, csrf = _form(web, seed)
        split_csrf = csrf_of(web.get(f"/events/{seed}").text, f"/events/{seed}/split")
        own = {"origin": ORIGIN}
        before = store_bytes(store)
        refused = [
            ({"gone": other}, own),
            ({"gone": other, "csrf": ""}, own),
            ({"gone": other, "csrf": "0" * 64}, own),
            ({"gone": other, "csrf": csrf[:-1]}, own),
            ({"gone": other, "csrf": split_csrf}, own),
            ({"gone": other, "csrf": csrf}, {"origin": "http://evil.example"}),
            ({"gone": other, "csrf": csrf}, {"origin": "http://testserver.evil.example"}),
            ({"gone": other, "csrf": csrf}, {"origin": "null"}),
            ({"gone": other, "csrf": csrf}, {"sec-fetch-site": "cross-site"}),
            ({"gone": other, "csrf": csrf}, {"sec-fetch-site": "same-site"}),
            (
                {"gone": other, "csrf": csrf},
                {"host": "evil.example", "origin": "http://evil.example"},
            ),
        ]
        for fields, headers in refused:
            answer = web.post(path, data=fields, headers=headers, follow_redirects=False)
            assert answer.status_code == 403, (fields, headers, answer.text)
            assert answer.headers["content-type"].startswith("text/html")
        assert store_bytes(store) == before
        # The same form with its token, from the page itself, goes through.
        done = web.post(
            path, data={"gone": other, "csrf": csrf}, headers=own, follow_redirects=False
        )
        assert done.status_code == 303


def test_api_calls_from_another_site_are_refused_even_with_the_token(store: str) -> None:
    """A foreign ``Origin`` or a cross-site fetch is 403 on every API action, with a valid
    bearer token too; a client that is no browser (no Origin) with the token goes through."""
    bearer = {"authorization": f"Bearer {TOKEN}"}
    with server(store, token=TOKEN) as web:
        seed, other, stories = events(web)
        before = store_bytes(store)
        for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"},
                        {"host": "rebound.example"}):  # fmt: skip
            sent = bearer | headers
            calls = [
                web.post(f"/api/events/{seed}/merge", json={"gone": other}, headers=sent),
                web.post(f"/api/events/{seed}/split", json={"stories": stories[:1]}, headers=sent),
                web.post(f"/api/stories/{stories[0]}/move", json={"event": other}, headers=sent),
                web.delete(f"/api/events/{seed}", headers=sent),
            ]
            assert [c.status_code for c in calls] == [403] * 4, headers
        assert store_bytes(store) == before
        assert (
            web.post(f"/api/events/{seed}/merge", json={"gone": other}, headers=bearer).status_code
            == 200
        )


def test_with_a_token_set_actions_need_it(store: str) -> None:
    """With ``serve.token`` set, a form without the token or with a wrong one, and an API call
    without the bearer token or with a wrong one, are 401 and change nothing; the event page
    asks for the token in a password field; with the token both go through."""
    with server(store, token=TOKEN) as web:
        web.headers.update({"origin": ORIGIN})
        seed, other, stories = events(web)
        page = web.get(f"/events/{seed}").text
        assert page.count('<input type="password" name="token" required') == 3 + len(stories) + 1
        path, csrf = _form(web, seed)
        before = store_bytes(store)
        for fields in ({}, {"token": ""}, {"token": "wrong"}, {"token": TOKEN + "x"}):
            answer = web.post(path, data={"gone": other, "csrf": csrf, **fields})
            assert answer.status_code == 401, fields
        for auth in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}):
            assert web.post(f"/api/events/{seed}/merge", json={"gone": other},
                            headers=auth).status_code == 401, auth  # fmt: skip
            assert web.delete(f"/api/events/{seed}", headers=auth).status_code == 401, auth
        assert store_bytes(store) == before
        done = web.post(path, data={"gone": other, "csrf": csrf, "token": TOKEN},
                        follow_redirects=False)  # fmt: skip
        assert done.status_code == 303
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert web.delete(f"/api/events/{seed}", headers=bearer).status_code == 200


def test_with_actions_off_there_are_no_forms_and_every_action_is_refused(store: str) -> None:
    """``serve.actions = false``: the event page has no POST form, and every form path and API
    action is 403; the database is untouched."""
    with server(store, actions=False) as web:
        web.headers.update({"origin": ORIGIN})
        seed, other, stories = events(web)
        page = web.get(f"/events/{seed}").text
        assert 'method="post"' not in page
        assert "csrf" not in page
        before = store_bytes(store)
        calls = [
            web.post(f"/events/{seed}/merge", data={"gone": other, "csrf": "0" * 64}),
            web.post(f"/events/{seed}/split", data={"stories": stories[0]}),
            web.post(f"/stories/{stories[0]}/move", data={"event": other}),
            web.post(f"/events/{seed}/delete", data={"confirm": "yes"}),
            web.post(f"/api/events/{seed}/merge", json={"gone": other}),
            web.post(f"/api/events/{seed}/split", json={"stories": stories[:1]}),
            web.post(f"/api/stories/{stories[0]}/move", json={"event": other}),
            web.delete(f"/api/events/{seed}"),
        ]
        assert [c.status_code for c in calls] == [403] * len(calls)
        assert "serve.actions" in calls[0].text
        assert "serve.actions" in calls[-1].json()["error"]
    assert store_bytes(store) == before


def test_the_serve_policy_turns_actions_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``serve.actions`` is on by default and ``INGESTOR_SERVE_ACTIONS=false`` turns it off."""
    from ingestor.config import load_settings

    monkeypatch.delenv("INGESTOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings().serve.actions is True
    monkeypatch.setenv("INGESTOR_SERVE_ACTIONS", "false")
    assert load_settings().serve.actions is False
