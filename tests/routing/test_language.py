"""routing.language: stop-word language detection for en, es, fr, de, pt, it, nl; "" when unsure."""

from __future__ import annotations

import pytest

from routing.language import detect_language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("My order still says processing after 5 days. Could you check on it for me?", "en"),
        ("@northwind where is my refund?? third time asking", "en"),
        ("Hola, ¿cómo puedo devolver mi tienda? La compré hace 12 días. ¡Gracias!", "es"),
        ("Bonjour ! Est-ce que la garantie couvre les coutures ? Merci d'avance", "fr"),
        ("Hallo, wie lange dauert der Versand nach Österreich? Bestellung NW-1234567.", "de"),
        ("Péssimo atendimento. Meu pedido nunca chegou e ninguém responde, que vergonha.", "pt"),
        ("Ciao, il mio ordine non è ancora arrivato. Potete aiutarmi?", "it"),
        ("Al 12 dagen wachten op mijn terugbetaling. Echt slecht, dit.", "nl"),
        ("Danke!", "de"),
        ("gracias", "es"),
    ],
)
def test_detects_the_language_of_realistic_posts(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    [
        "",
        "🔥🔥🏔️",
        "Northwindの Tundra 2 tent、最高です",
        "@northwind #Trailfest https://example.com/x NW-1234567",
        "ok",
    ],
)
def test_says_nothing_when_unsure(text: str) -> None:
    assert detect_language(text) == ""


def test_names_handles_and_links_do_not_vote() -> None:
    # "de", "la", "van" inside handles and links would otherwise tip an English post to another language.
    text = "@de_la_van_der https://de.example/la/van/de Thanks for the quick help with my order!"

    assert detect_language(text) == "en"
