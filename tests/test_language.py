"""Stories in other languages: detection, per-language background frequencies, and clustering
that neither merges unrelated stories on function words nor misses rewrites."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from benchmarks.languages import pseudo_documents
from ingestor import lexicon
from ingestor.cluster import Clusterer
from ingestor.fingerprint import VERSION, fingerprint
from ingestor.models import Signature, Story
from ingestor.words import FUNCTION_WORDS_FILE

T0 = datetime(2024, 6, 4, 9, 0, tzinfo=UTC)

# One sentence, the same news, in each language.
SENTENCES = {
    "en": "The government said on Tuesday that it would raise the minimum wage next year, after "
    "months of talks with the unions and employers.",
    "de": "Die Regierung hat am Dienstag angekündigt, dass der Mindestlohn im nächsten Jahr "
    "steigen soll, nachdem sie monatelang mit den Gewerkschaften verhandelt hatte.",
    "fr": "Le gouvernement a annoncé mardi que le salaire minimum sera relevé l'année prochaine, "
    "après des mois de discussions avec les syndicats et les employeurs.",
    "es": "El gobierno anunció el martes que el salario mínimo subirá el próximo año, después de "
    "meses de negociaciones con los sindicatos y los empresarios.",
    "it": "Il governo ha annunciato martedì che il salario minimo sarà aumentato il prossimo anno, "
    "dopo mesi di trattative con i sindacati e le imprese.",
    "pt": "O governo anunciou na terça-feira que o salário mínimo vai subir no próximo ano, depois "
    "de meses de negociações com os sindicatos e os empregadores.",
    "nl": "De regering heeft dinsdag aangekondigd dat het minimumloon volgend jaar omhoog gaat, na "
    "maanden van overleg met de vakbonden en de werkgevers.",
    "ru": "Правительство во вторник объявило, что минимальная зарплата в следующем году будет "
    "повышена после многомесячных переговоров с профсоюзами и работодателями.",
    "pl": "Rząd ogłosił we wtorek, że płaca minimalna wzrośnie w przyszłym roku, po wielu "
    "miesiącach rozmów ze związkami zawodowymi i pracodawcami.",
}


def story(text: str, title: str = "", source: str = "news.example") -> Story:
    return Story(source=source, title=title, text=text, fetched=T0, content_hash=str(hash(text)))


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_one_sentence_is_enough_to_tell_the_language(language: str) -> None:
    assert lexicon.detect_language(lexicon.tokens(SENTENCES[language])) == language


@pytest.mark.parametrize(
    "text",
    [
        "",
        "12 34 56",
        "政府周二宣布，经过与工会和雇主数月的谈判，明年将提高最低工资。",  # no spaces: one token
        "Updated 5: 40 p. m. ET, Early Friday morning, around 1: 30 a. m., the actress",
        "Putin Kim Jong Un Pyongyang Vostochny",  # names only
    ],
)
def test_without_enough_function_words_the_language_is_the_default(text: str) -> None:
    assert lexicon.detect_language(lexicon.tokens(text)) == lexicon.DEFAULT_LANGUAGE


def test_the_shipped_function_words_are_wordfreqs() -> None:
    """``function_words.json`` is what ``build_function_words`` makes of the installed wordfreq
    (regenerate it with ``write_function_words`` if wordfreq's lists change)."""
    shipped = json.loads(FUNCTION_WORDS_FILE.read_text(encoding="utf-8"))
    assert shipped == lexicon.build_function_words()
    english = set(shipped["en"])
    assert {"the", "and", "of"} <= english
    assert {"der", "und", "nicht"} <= set(shipped["de"])
    for language, words in shipped.items():
        assert len(words) == lexicon.FUNCTION_WORDS
        if language != "en":  # shared words count for the default; see build_function_words
            assert not english & set(words), language


def test_a_signature_keeps_its_language_through_storage() -> None:
    sig = fingerprint(story(SENTENCES["de"]))
    assert sig.language == "de"
    assert Signature.from_bytes(sig.to_bytes()) == sig
    # An English story is weighed exactly as before languages were told apart.
    assert fingerprint(story(SENTENCES["en"])).language == "en"


def test_a_german_word_weighs_by_german_frequencies() -> None:
    """ "und" is as common in German as "and" in English: in a German story it is not a rare
    word, while a name still is."""
    german = lexicon.background_idfs(["und", "dupper"], "de")
    english = lexicon.background_idfs(["and", "und"], "en")
    assert german["und"] == pytest.approx(english["and"], abs=0.5)
    assert german["und"] < 0.1
    assert english["und"] > 5  # what "und" weighed when every story was read as English
    assert german["dupper"] > 5


# -- clustering --------------------------------------------------------------------------------


def events_of(stories: list[Story]) -> Clusterer:
    clusterer = Clusterer()
    next_event = 1
    for story_id, item in enumerate(stories):
        signature = fingerprint(item)
        assignment = clusterer.assign(signature, T0)
        event_id = assignment.event_id
        if event_id is None:
            event_id, next_event = next_event, next_event + 1
        clusterer.add(
            story_id, event_id, signature, when=T0, source=item.source, assignment=assignment
        )
    return clusterer


@pytest.mark.parametrize("language", ["de", "fr", "es", "ru", "en"])
def test_unrelated_stories_in_one_language_stay_apart(language: str) -> None:
    stories = pseudo_documents(language, 40)
    assert {fingerprint(s).language for s in stories} == {language}
    assert events_of(stories).events == len(stories)


def test_read_as_english_unrelated_german_stories_would_merge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above has teeth: weighed by English frequencies, German function words look
    as rare as names, and unrelated German stories fall into a few large events."""
    monkeypatch.setattr(lexicon, "_language", lambda counts, total: lexicon.DEFAULT_LANGUAGE)
    stories = pseudo_documents("de", 40)
    assert events_of(stories).events < len(stories) // 2


FLOOD_A = (
    "Hochwasser in Passau: Donau erreicht zwölf Meter",
    "Die Donau hat in Passau am Dienstagmorgen einen Pegel von 12,2 Metern erreicht. Die Stadt "
    "rief den Katastrophenfall aus, die Altstadt wurde evakuiert. Oberbürgermeister Jürgen "
    "Dupper sagte, die Feuerwehr und das Technische Hilfswerk seien mit mehr als 800 Helfern im "
    "Einsatz. Auch der Inn und die Ilz traten über die Ufer. Der Deutsche Wetterdienst erwartet "
    "bis Mittwoch weiteren Starkregen im Bayerischen Wald. Schulen und Kindergärten in Passau "
    "bleiben geschlossen, die Bundesstraße 12 ist gesperrt.",
)
FLOOD_B = (
    "Passau ruft den Katastrophenfall aus",
    "Wegen des Hochwassers an Donau, Inn und Ilz hat Passau den Katastrophenfall ausgerufen. Am "
    "Dienstag stieg der Pegel der Donau auf über zwölf Meter, die Bewohner der Altstadt mussten "
    "ihre Häuser verlassen. Nach Angaben von Oberbürgermeister Dupper sind Hunderte Helfer von "
    "Feuerwehr und Technischem Hilfswerk im Einsatz. Der Wetterdienst rechnet bis Mittwoch mit "
    "neuem Starkregen im Bayerischen Wald. Die Bundesstraße 12 wurde gesperrt, Schulen in Passau "
    "bleiben geschlossen.",
)
FOOTBALL = (
    "Bayern gewinnt in Dortmund",
    "Der FC Bayern München hat das Spitzenspiel bei Borussia Dortmund mit 3:1 gewonnen. Harry "
    "Kane traf zweimal, Jamal Musiala erzielte das dritte Tor. Für Dortmund verkürzte Serhou "
    "Guirassy kurz nach der Pause. Trainer Vincent Kompany lobte die Abwehr seiner Mannschaft, "
    "die in der zweiten Halbzeit kaum eine Chance zugelassen habe. Mit dem Sieg baut der "
    "Rekordmeister seinen Vorsprung in der Tabelle auf sechs Punkte aus.",
)


def test_two_outlets_german_rewrites_of_one_story_form_one_event() -> None:
    stories = [
        story(FLOOD_A[1], FLOOD_A[0], "a.example"),
        story(FOOTBALL[1], FOOTBALL[0], "b.example"),
        story(FLOOD_B[1], FLOOD_B[0], "c.example"),
    ]
    clusterer = events_of(stories)
    assert clusterer.event_of(0) == clusterer.event_of(2)
    assert clusterer.event_of(1) != clusterer.event_of(0)
    assert clusterer.events == 2


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Poland's coach named Łukasz Fabiański in goal", {"łukasz", "fabiański"}),
        ("the talks with Maroš Šefčovič ended", {"maroš", "šefčovič"}),
        ("a call with President İlham Aliyev in Baku", {"president", "ilham", "aliyev", "baku"}),
        ("συνάντηση με τον Κυριάκο Μητσοτάκη στην Αθήνα", {"κυριάκο", "μητσοτάκη", "αθήνα"}),
        ("встреча с министром Сергеем Лавровым в Москве", {"сергеем", "лавровым", "москве"}),
        ("вона зустрілася з Їжаком і Євгеном", {"їжаком", "євгеном"}),
    ],
)
def test_names_are_capitals_of_any_cased_script(text: str, names: set[str]) -> None:
    """A capitalized word after a lower-case one is a name by Unicode letter category, not by a
    list of letter ranges: Polish, Slovak, Turkish, Greek, Russian and Ukrainian names are
    boosted like English ones (the fingerprint recipe ``fp3``), and a capital that starts the
    text is not a name."""
    analysis = lexicon.analyze(text, name_boost=3.0)
    boosted = {word for word, count in analysis.counts.items() if count > 1}
    assert boosted == names
    assert lexicon.tokens("İlham Aliyev") == ["ilham", "aliyev"]
    assert VERSION.startswith("fp3-")


def test_every_cased_letter_is_in_the_scanned_planes() -> None:
    """Name detection scans Unicode's first planes for cased letters; the running Python's
    Unicode database has none beyond them."""
    import sys
    import unicodedata

    beyond = range(lexicon.CASED_PLANES_END, sys.maxunicode + 1)
    cased = [cp for cp in beyond if unicodedata.category(chr(cp)) in ("Lu", "Lt", "Ll")]
    assert cased == []
