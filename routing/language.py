"""Which language a post is written in, from its stop words: en, es, fr, de, pt, it or nl.

Posts are short and full of names, handles and hashtags, so content words say little; the small words every
sentence needs ("the", "und", "que", "het") say a lot, and a dictionary lookup per word is cheap enough to
run on every post. A few letters only some of these languages use (ñ, ß, ã) break ties. When the evidence is
thin or two languages score alike the answer is "", never a guess: the networks' own language tag, when
present, is better than a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "pt", "it", "nl")

# Frequent function words and everyday words of each language. A word several languages share ("de", "a")
# is listed under each and counts for each only a fraction (see _WEIGHTS), so shared words cannot decide.
# Word lists read better as paragraphs than one word a line.
# fmt: off
_STOP_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        "the", "and", "is", "are", "was", "were", "be", "been", "to", "of", "in", "on", "for", "with", "at",
        "by", "from", "this", "that", "these", "those", "it", "its", "it's", "i", "i'm", "i've", "i'd",
        "my", "me", "you", "your", "you're", "we", "our", "they", "their", "he", "she", "his", "her", "have",
        "has", "had", "do", "does", "did", "don't", "doesn't", "didn't", "can", "can't", "could", "would",
        "should", "will", "won't", "not", "no", "yes", "but", "or", "if", "so", "just", "what", "when",
        "where", "why", "how", "who", "which", "there", "here", "about", "after", "before", "still", "again",
        "any", "anyone", "some", "all", "get", "got", "thanks", "thank", "please", "hi", "hello", "love",
        "great", "really", "very", "much", "one", "out", "up", "into", "than", "then", "also", "only",
        "never", "been", "being", "an", "am", "isn't", "aren't", "wasn't", "since", "days", "order",
    ),
    "es": (
        "el", "la", "los", "las", "un", "una", "unos", "unas", "y", "o", "de", "del", "al", "en", "con",
        "por", "para", "que", "qué", "es", "son", "está", "están", "estoy", "fue", "ser", "hay", "mi", "mis",
        "tu", "su", "sus", "nuestro", "yo", "me", "te", "se", "lo", "le", "les", "nos", "no", "sí", "pero",
        "como", "cómo", "cuando", "cuándo", "donde", "dónde", "muy", "más", "ya", "también", "porque", "hola",
        "gracias", "tengo", "tiene", "tienen", "puedo", "puede", "pueden", "podrían", "hace", "días", "este",
        "esta", "esto", "ese", "esa", "todo", "todos", "nada", "sin", "sobre", "mucho", "ayuda", "pedido",
        "compré", "quiero", "hasta", "desde", "aquí", "ahora", "soy", "cuidado", "tuvo", "ninguna",
    ),
    "fr": (
        "le", "la", "les", "un", "une", "des", "du", "de", "et", "ou", "en", "au", "aux", "dans", "sur",
        "avec", "pour", "par", "pas", "ne", "que", "qui", "quoi", "est", "sont", "suis", "être", "avoir",
        "ai", "as", "a", "mon", "ma", "mes", "ton", "ta", "votre", "vos", "notre", "nos", "je", "tu", "il",
        "elle", "nous", "vous", "ils", "elles", "ce", "cette", "ces", "mais", "comme", "très", "plus",
        "bonjour", "merci", "oui", "non", "y", "aura", "depuis", "est-ce", "c'est", "j'ai", "d'avance",
        "pourquoi", "quand", "où", "commande", "toujours", "encore", "rien", "tout", "tous", "fait", "été",
        "peut", "puis", "chez", "s'il", "plaît",
    ),
    "de": (
        "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "und", "oder",
        "ist", "sind", "war", "bin", "hat", "haben", "habe", "wird", "werden", "nicht", "kein", "keine",
        "mit", "von", "zu", "zum", "zur", "auf", "für", "bei", "nach", "aus", "über", "auch", "noch", "schon",
        "aber", "wie", "was", "wer", "wo", "warum", "wann", "ich", "du", "er", "sie", "es", "wir", "ihr",
        "mein", "meine", "mich", "mir", "dein", "ihre", "uns", "unser", "hallo", "danke", "bitte", "gibt",
        "gut", "sehr", "nur", "dass", "kann", "können", "lange", "dauert", "bestellung", "guten", "tag",
        "schade", "sollte", "bei", "im", "am", "vom", "ganzen", "kommen",
    ),
    "pt": (
        "o", "a", "os", "as", "um", "uma", "e", "ou", "de", "do", "da", "dos", "das", "em", "no", "na",
        "nos", "nas", "com", "por", "para", "pra", "que", "é", "são", "está", "estão", "foi", "ser", "tem",
        "têm", "meu", "minha", "meus", "seu", "sua", "eu", "você", "vocês", "ele", "ela", "nós", "não",
        "sim", "mas", "como", "quando", "onde", "muito", "mais", "já", "também", "porque", "olá", "oi",
        "obrigado", "obrigada", "pedido", "nunca", "ninguém", "responde", "atendimento", "isso", "este",
        "esta", "aqui", "agora", "ainda", "até", "dias", "comprei", "quero", "posso", "vergonha", "chegou",
    ),
    "it": (
        "il", "lo", "la", "i", "gli", "le", "un", "uno", "una", "e", "o", "di", "del", "della", "dei",
        "delle", "in", "nel", "nella", "con", "per", "su", "sul", "che", "è", "sono", "sei", "era", "essere",
        "ho", "hai", "ha", "abbiamo", "mio", "mia", "miei", "tuo", "suo", "io", "tu", "lui", "lei", "noi",
        "voi", "loro", "non", "sì", "ma", "come", "quando", "dove", "perché", "molto", "più", "già", "anche",
        "ciao", "grazie", "ordine", "ancora", "questo", "questa", "tutto", "tutti", "niente", "sempre",
        "qui", "adesso", "ora", "giorni", "vorrei", "posso", "può", "buongiorno", "salve", "allerta",
    ),
    "nl": (
        "de", "het", "een", "en", "of", "van", "in", "op", "met", "voor", "naar", "bij", "uit", "aan", "om",
        "is", "zijn", "was", "ben", "heb", "heeft", "hebben", "wordt", "worden", "niet", "geen", "wel", "ook",
        "nog", "al", "maar", "hoe", "wat", "wie", "waar", "waarom", "wanneer", "ik", "jij", "je", "u", "hij",
        "zij", "ze", "wij", "we", "jullie", "mijn", "jouw", "uw", "ons", "onze", "dat", "die", "dit", "deze",
        "er", "hallo", "dank", "bedankt", "alstublieft", "graag", "echt", "heel", "erg", "slecht", "goed",
        "dagen", "wachten", "bestelling", "mijn", "kan", "kunnen", "moet", "geld", "terug",
    ),
}

# Letters that only one or two of the languages use; each occurrence adds this much to each language.
_LETTER_HINTS: dict[str, dict[str, float]] = {
    "ñ": {"es": 1.0}, "¿": {"es": 1.0}, "¡": {"es": 1.0},
    "ß": {"de": 1.0}, "ä": {"de": 0.7}, "ö": {"de": 0.5}, "ü": {"de": 0.6},
    "ã": {"pt": 1.0}, "õ": {"pt": 1.0}, "ç": {"pt": 0.5, "fr": 0.5},
    "è": {"fr": 0.5, "it": 0.5}, "ê": {"fr": 0.6, "pt": 0.4}, "œ": {"fr": 1.0}, "ù": {"fr": 0.8},
    "û": {"fr": 0.8}, "î": {"fr": 0.8}, "ì": {"it": 0.8}, "ò": {"it": 0.8},
    "ij": {"nl": 0.3},
}
# fmt: on

# A post needs this much evidence, and this lead over the runner-up, before we name its language.
MIN_SCORE = 1.5
MIN_LEAD = 0.75
# A very short post ("Danke!", "gracias") may name its language with one unshared word.
SHORT_POST_WORDS = 3

_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_TYPOGRAPHIC_APOSTROPHE = "\u2019"  # as phones type it: "don\u2019t"
# Handles, hashtags and links name things; they are not written in any language.
_NOT_PROSE = re.compile(r"(?:https?://|www\.)\S+|[@#][\w.]+")


def _weights(stop_words: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[tuple[str, float], ...]]:
    """For each word, the languages it belongs to and how much it counts for each (1 / their number)."""
    owners: dict[str, set[str]] = {}
    for language, words in stop_words.items():
        for word in words:
            owners.setdefault(word, set()).add(language)
    return {
        word: tuple((language, 1.0 / len(languages)) for language in sorted(languages))
        for word, languages in owners.items()
    }


_WEIGHTS = _weights(_STOP_WORDS)


def language_scores(text: str) -> dict[str, float]:
    """The evidence for each language in ``text``: stop words found plus letter hints (for explaining)."""
    prose = _NOT_PROSE.sub(" ", text).lower().replace(_TYPOGRAPHIC_APOSTROPHE, "'")
    scores = dict.fromkeys(LANGUAGES, 0.0)
    for word in _WORDS.findall(prose):
        for language, weight in _WEIGHTS.get(word, ()):
            scores[language] += weight
    if not prose.isascii():
        for letter, hints in _LETTER_HINTS.items():
            found = prose.count(letter)
            if found:
                for language, weight in hints.items():
                    scores[language] += found * weight
    return scores


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the language ``text`` is written in, or "" when the evidence is too thin."""
    scores = language_scores(text)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score - runner_up < MIN_LEAD:
        return ""
    if best_score >= MIN_SCORE:
        return best
    short = len(_WORDS.findall(_NOT_PROSE.sub(" ", text))) <= SHORT_POST_WORDS
    return best if short and best_score >= 1.0 else ""
