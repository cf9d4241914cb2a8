"""Natural-language word lists: every vocabulary a stage judges text by, in one place.

Owns: the word lists, each named for its one job, and the per-language function-word table
shipped beside this module (``function_words.json``). Pure data and one loader; the standard
library only.

Does not: tokenize or weigh anything (``lexicon``), or judge lines and sentences (``normalize``).

Why several lists rather than one: each was chosen for its own question and measured there, so
merging them would change the answers. ``STOPWORDS`` are English words that carry no topic,
dropped from a story's terms. ``LINE_FUNCTION_WORDS`` are the few words a widget label holds
besides widget vocabulary ("Share on Facebook"): any longer list lets short sentences pass as
widgets. ``PROSE_FUNCTION_WORDS`` are closed-class words of seven languages whose share makes a
sentence prose. ``FUNCTION_WORDS_FILE`` holds each language's hundred most frequent words (built
from wordfreq by ``lexicon.build_function_words``), which tell a story's language.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "DATE_WORDS",
    "FUNCTION_WORDS_FILE",
    "LINE_FUNCTION_WORDS",
    "PROSE_FUNCTION_WORDS",
    "READER_WORDS",
    "SOCIAL_NETWORKS",
    "STOPWORDS",
    "WIDGET_WORDS",
    "function_word_table",
    "word_set",
]


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of a vocabulary literal."""
    return frozenset(words.split())


# -- terms (lexicon) ---------------------------------------------------------------------------
STOPWORDS = frozenset(
    """
    a about above across after afterwards again against all almost alone along already also
    although always am among an and another any anyhow anyone anything anyway anywhere are
    around as at back be became because become becomes been before beforehand behind being
    below beside besides between beyond both but by can cannot could did do does doing done
    down due during each either else elsewhere enough etc even ever every everyone
    everything everywhere except few for former formerly from further get gets got had has
    have having he hence her here hereafter hereby herein hers herself him himself his how
    however i ie if in indeed into is it its itself just last latter least less made many
    may me meanwhile might more moreover most mostly much must my myself namely neither
    never nevertheless new next no nobody none noone nor not nothing now nowhere of off
    often on once one only onto or other others otherwise our ours ourselves out over own
    per perhaps please put rather re said same say says see seem seemed seeming seems
    several she should since so some somehow someone something sometime sometimes somewhere
    still such than that the their theirs them themselves then thence there thereafter
    thereby therefore therein thereupon these they this those though through throughout thru
    thus to together too toward towards under until up upon us very via was we well were
    what whatever when whence whenever where whereafter whereas whereby wherein whereupon
    wherever whether which while whither who whoever whole whom whose why will with within
    without would yet you your yours yourself yourselves told tell like would year years
    week day days time mr mrs ms dr
    """.split()  # noqa: SIM905 - a word list reads better as text
)
"""English words that carry no topic: never one of a story's terms."""

# -- boilerplate lines (normalize) -------------------------------------------------------------
LINE_FUNCTION_WORDS = word_set(
    "a an and are as at be by can for from here in is it its me my new now of on or our out the "
    "this that to up us via we with you your all also x"
)
"""Words a widget label may hold besides widget vocabulary ("Leave a Reply")."""
SOCIAL_NETWORKS = tuple(
    """
    facebook twitter linkedin whatsapp telegram reddit pinterest tumblr flipboard messenger vk
    viber instagram youtube tiktok bluesky mastodon snapchat weibo wechat xing kakaotalk
    kakaostory
    """.split()  # noqa: SIM905 - a word list reads better as text
)
"""Networks named by share bars and follow-us lines."""
WIDGET_WORDS = word_set(
    " ".join(SOCIAL_NETWORKS) + " "
    # share buttons
    "pocket threads email e-mail mail print share shares shared sharing caring tweet retweet pin "
    "copy link links url follow like likes social media "
    # comments
    "reply replies comment comments commented discussion conversation responses thoughts leave "
    "cancel closed join login log register sign "
    # subscriptions
    "subscribe subscribed subscription newsletter newsletters updates alerts inbox "
    "notifications curated get "
    # navigation
    "advertisement advertisements advert ad ads sponsored promoted categories category tags tag "
    "topics related trending popular latest top most read more continue reading next previous "
    "prev back home menu skip content search navigation sections section archive archives see page "
    "view show hide click recommended stories story articles article posts post news headlines "
    "watch listen play "
    # media labels
    "photo photos image images picture pictures video videos gallery galleries caption credit "
    "credits source audio podcast slideshow graphic"
)
"""Labels of share buttons, comment forms, subscriptions, navigation and media."""
DATE_WORDS = word_set(
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july "
    "august september october november december mon tue wed thu fri sat sun monday tuesday "
    "wednesday thursday friday saturday sunday am pm a.m. p.m. gmt utc est edt cst cdt pst pdt "
    "cet cest msk ist bst et pt updated published posted last on at st nd rd th"
)
"""What a date- or time-only line is made of besides digits ("14 March, 01:32 GMT")."""

# -- prose (normalize) -------------------------------------------------------------------------
PROSE_FUNCTION_WORDS = word_set(
    # English
    "a about after against all also an and any are as at be been before being but by can could "
    "did do does during for from had has have he her hers him his how i if in into is it its just "
    "may me might more most must my no nor not now of off on once one only or other our out over "
    "own said says she should since so some such than that the their them then there these they "
    "this those though through to too under until up upon very was we were what when where which "
    "while who whom whose why will with would yet you your "
    # French
    "au aux avec ce ces cette dans de des du elle en est et il ils je la le les leur lui mais ne "
    "nous on ou par pas plus pour qu que qui sa se ses son sont sur un une été être "
    # German
    "aber als am auch auf aus bei das dass dem den der des die ein eine einem einen einer eines "
    "es für hat im ist mit nach nicht noch oder sich sie sind über um und von vor war wie wird "
    "wurde zu zum zur "
    # Spanish
    "al como con del el en es esta este fue ha las lo los más para pero por se sin su sus una "
    "uno y "
    # Italian
    "alla anche che da della delle di gli il lo nel nella non per più si sono tra una "
    # Portuguese
    "ao as com da das do dos em foi mais na não no os para pela pelo por uma "
    # Dutch
    "aan bij dat een en er het hij ik in is met niet om ook op te van voor wat werd zijn"
)
"""Closed-class words of English, French, German, Spanish, Italian, Portuguese and Dutch: a
sentence with enough of them is prose."""
READER_WORDS = word_set(
    "you your yours yourself yourselves vous votre vos toi dich dir dein deine deinem deinen "
    "deiner usted ustedes vosotros tú tus tuo tua tuoi vostro vostra você vocês jij jou jouw"
)
"""Second-person words: a sentence with two of them addresses the reader (instructions, terms,
comment rules, calls to action), which news prose rarely does outside quotes."""

# -- languages (lexicon) -----------------------------------------------------------------------
FUNCTION_WORDS_FILE = Path(__file__).with_name("function_words.json")
"""Each language's most frequent words (``lexicon.build_function_words`` writes it)."""


def function_word_table() -> dict[str, list[str]]:
    """``FUNCTION_WORDS_FILE`` as shipped: language -> its function words, most frequent first."""
    table: dict[str, list[str]] = json.loads(FUNCTION_WORDS_FILE.read_text(encoding="utf-8"))
    return table
