"""normalize: main text of whole pages, and the article-likeness that picks it among extractions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestor.normalize import normalize_article
from ingestor.normalize._prose import (
    net_prose,
    pick_article,
    prose_units,
    strip_script,
    trim_to_prose,
    unwrap,
)
from ingestor.normalize._text import page_text

FETCHED = datetime(2007, 1, 4, 12, 0, tzinfo=UTC)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

ARTICLE = [
    "LOS ANGELES - LG Electronics said Wednesday it plans to sell a DVD player that will play "
    "both warring high-definition DVD formats.",
    "The first dual-format player will play discs in the HD DVD format, which is backed by a "
    "consortium headed by Toshiba Corp., as well as the rival Blu-ray format, backed by a group "
    "led by Sony Corp.",
    "The unit will be unveiled at next week's Consumer Electronics Show in Las Vegas, the company "
    "said. Details, including pricing and availability, will become available then.",
    "The two formats have been battling for market share since being introduced last year, and "
    "both are expected to get a boost this year as more studios release films.",
    "But the formats are incompatible, forcing consumers to choose, and studios have said the "
    "resulting format war would delay the adoption of high-definition discs.",
]
POLICY = [
    "To submit your comment you must enter your name, your comment, and the letters from the "
    "verification box.",
    "You are solely responsible for the content you submit, and you grant us a perpetual license "
    "to publish it in any form.",
    "If you choose to rely on any such content for any reason, you do so at your own risk.",
]
MENU = ["Weather", "Traffic", "Sports", "Business", "Entertainment", "Blogs", "Obituaries"]
TEASERS = [
    "Sinn Fein In Police Talks",
    "Events in the Life of Saddam Hussein",
    ">>More",
    "Print-friendly version",
    "Email to a friend",
]


def _page(body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><title>LG to sell dual-format player</title>"
        f"<script>var s = 1;</script></head><body>{body}</body></html>"
    )


def _table_page() -> str:
    """A 2007 table layout: menu in one cell, the article as <br>-separated text in another,
    and a comment policy in proper <p> paragraphs below (which a precision extractor prefers)."""
    menu = "".join(f'<a href="/{m.lower()}">{m}</a><br>' for m in MENU)
    article = "<br><br>".join(ARTICLE)
    policy = "".join(f"<p>{p}</p>" for p in POLICY)
    return _page(
        f'<table><tr><td class="left">{menu}</td><td class="main"><font size="2">'
        f"<b>LG to Sell Dual-Format DVD Player</b><br><br>{article}</font></td></tr></table>"
        f'<div class="policy">{policy}</div>'
    )


# -- whole pages ---------------------------------------------------------------------------------


def test_article_wins_over_a_comment_policy_in_cleaner_markup() -> None:
    """On a table-layout page whose only <p> paragraphs are a comment policy, the text is the
    article, without the policy or the menu."""
    story = normalize_article(
        _table_page(), is_html=True, title="LG to sell dual-format DVD player",
        url="http://www.casperstartribune.net/articles/2007/01/04/lg.txt", source=None,
        published=None, fetched=FETCHED,
    )  # fmt: skip
    assert story.text == "\n".join(ARTICLE)


def test_menu_and_teaser_lines_at_the_edges_are_cut() -> None:
    """Navigation before the story and headline lists after it are not part of the text."""
    body = (
        "<div>" + "".join(f'<a href="/{m}">{m}</a> ' for m in MENU) + "</div>"
        "<div><h1>LG to Sell Dual-Format DVD Player</h1>"
        + "".join(f"<p>{p}</p>" for p in ARTICLE)
        + "</div><div>"
        + "".join(f"<div>{t}</div>" for t in TEASERS)
        + "</div>"
    )
    text = page_text(_page(body), None)
    assert text.splitlines()[0] == ARTICLE[0]
    assert text.splitlines()[-1] == ARTICLE[-1]
    for clutter in (*MENU, *TEASERS):
        assert clutter not in text


def test_inline_script_inside_a_paragraph_is_removed() -> None:
    """Script source pasted into a paragraph goes; the sentence around it stays."""
    script = (
        "if(window.yzq_d==null)window.yzq_d=new Object(); "
        "window.yzq_d['h38TANG_fyk-']='&amp;U=13adsin3h%2fN%3dh38TANG';"
    )
    body = f"<p>{ARTICLE[0]} {script}</p>" + "".join(f"<p>{p}</p>" for p in ARTICLE[1:])
    text = page_text(_page(body), None)
    assert "window" not in text
    assert "yzq" not in text
    assert text == "\n".join(ARTICLE)


def test_page_in_a_language_without_function_words_keeps_the_length_rule() -> None:
    """Where no sentence reads as prose (here Chinese), the first extraction with enough text is
    kept whole, as before the article-likeness score existed."""
    sentence = "中国科学家周三宣布在南极冰盖下发现了一个巨大的湖泊，面积约为一百平方公里。"
    paragraphs = [sentence * 3] * 4
    text = page_text(_page("".join(f"<p>{p}</p>" for p in paragraphs)), None)
    assert text == "\n".join(paragraphs)


def test_page_text_is_deterministic() -> None:
    """The same page gives the same text every time (no state carried between pages)."""
    page = _table_page()
    assert page_text(page, None) == page_text(page, None) == page_text(page, "http://x.org/a")


# -- choosing among candidates -------------------------------------------------------------------


def test_precision_first_when_a_later_candidate_only_adds_teasers() -> None:
    """A later candidate holding the same article plus a little more prose does not replace the
    earlier, more precise one."""
    precise = "\n".join(ARTICLE)
    broader = "\n".join([*ARTICLE, "The city council approved next year's budget on Tuesday."])
    assert pick_article([precise, broader]) == precise


def test_later_candidate_with_clearly_more_prose_replaces_the_first() -> None:
    """A first candidate that is a comment policy loses to a later one holding the article."""
    assert pick_article(["\n".join(POLICY), "\n".join([*MENU, *ARTICLE])]) == "\n".join(ARTICLE)


def test_without_prose_the_first_long_enough_candidate_is_kept() -> None:
    """When no candidate holds prose: the first with 250 characters, else the first with any."""
    short, long_ = "Home\nNews", "\n".join(MENU * 6)
    assert pick_article(["", short, long_]) == long_
    assert pick_article(["", short, "Sports"]) == short
    assert pick_article(["", ""]) == ""


def test_reader_address_and_menus_are_furniture_and_news_sentences_prose() -> None:
    """Sentences addressing the reader, menus and headlines are furniture; reported sentences
    and a short sentence inside a paragraph of prose are prose."""
    units = prose_units("\n".join([POLICY[0], "Weather Traffic Sports", ARTICLE[2], "Short."]))
    kinds = [(u.text[:12], u.prose) for u in units]
    assert kinds == [
        ("To submit yo", False),
        ("Weather Traf", False),
        ("The unit wil", True),
        ("Details, inc", True),
        ("Short.", False),
    ]
    assert net_prose("\n".join(ARTICLE)) > 0 > net_prose("\n".join(MENU + POLICY))


def test_trim_keeps_the_densest_run_and_leaves_prose_free_text_alone() -> None:
    """Trimming cuts furniture at the edges, keeps a short line between prose lines, and does
    nothing to a text without prose."""
    text = "\n".join([*MENU, ARTICLE[0], ARTICLE[1], "Advertisement", ARTICLE[2], *TEASERS])
    assert trim_to_prose(text) == "\n".join([ARTICLE[0], ARTICLE[1], "Advertisement", ARTICLE[2]])
    assert trim_to_prose("\n".join(MENU)) == "\n".join(MENU)


def test_hard_wrapped_lines_are_joined_and_menu_lines_are_not() -> None:
    """A line cut mid-sentence joins the next; lines that end a sentence or are whole menu
    items stay apart."""
    lines = ["A vast ice shelf in the", "Canadian Arctic has broken up, a sign", "of warming.",
             "Weather", "Traffic"]  # fmt: skip
    joined, links = unwrap(lines, [False, False, False, True, True])
    assert joined == [
        "A vast ice shelf in the Canadian Arctic has broken up, a sign of warming.",
        "Weather",
        "Traffic",
    ]
    assert links == [False, True, True]


def test_strip_script_leaves_prose_with_code_like_characters() -> None:
    """Style and script statements go; a sentence with a parenthesis, a semicolon or an equals
    sign stays."""
    prose = "The score was 3-2 (after extra time); fans said the result = justice."
    assert strip_script(f"{prose}\nbody{{font:12px}}\n_uacct = 'UA-1'; urchinTracker();") == prose


# -- properties --------------------------------------------------------------------------------

_WORDS = st.sampled_from(
    ["the", "a", "said", "Sports", "you", "your", "window.x=1;", "f();", "{", "}", "Home", "of",
     "police", "Friday.", "in", "—", "", "é", "\u00ad", ">>More", "to", "was", "It", "news."]
)  # fmt: skip
_TEXT = st.lists(st.lists(_WORDS, max_size=30).map(" ".join), max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, max_size=4))
def test_pick_article_never_invents_text(candidates: list[str]) -> None:
    """The chosen text is made only of words found in the candidates, and picking it again from
    itself changes nothing but the trimming of its edges."""
    chosen = pick_article(candidates)
    assert set(chosen.split()) <= {w for c in candidates for w in c.split()}
    again = pick_article([chosen])
    assert set(again.split()) <= set(chosen.split())


_TAGS = st.sampled_from(
    ["p", "div", "td", "table", "tr", "br", "a", "script", "style", "nav", "font", "b", "li"]
)
_MARKUP = st.lists(
    st.one_of(
        _TAGS.map(lambda t: f"<{t}>"),
        _TAGS.map(lambda t: f"</{t}>"),
        _WORDS,
        st.text(max_size=20),
        st.sampled_from(ARTICLE + POLICY),
    ),
    max_size=60,
).map(lambda parts: "<html><body>" + " ".join(parts))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_MARKUP)
def test_page_text_never_crashes_on_arbitrary_markup(page: str) -> None:
    """Any markup gives a string without control characters or markup, and never raises."""
    text = page_text(page, None)
    assert isinstance(text, str)
    assert not CONTROL.search(text)
    assert "<script" not in text.lower()
