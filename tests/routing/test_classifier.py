"""routing.classifier: intents from our patterns and the seed model, trained again from scratch with the
corrections (the same corrections give the same model, however they arrived), and a state safe to store."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from routing import classifier as classifier_module
from routing.classifier import SEED_CORPUS, IntentClassifier, seed_model
from routing.facts import INTENTS, Classification, Facts
from routing.sentiment import shipped_model


def facts(text: str) -> Facts:
    return Facts(text=text, network="x")


REALISTIC = [
    (
        "@northwind Hi! My order NW-4821733 still says processing after 9 days. Could you check on it?",
        "support_question",
    ),
    (
        "How do I start a warranty claim for my Ridgeline pack? The hip belt buckle snapped.",
        "support_question",
    ),
    (
        "I can't log in to my account, the password reset email never arrives. Can someone help?",
        "support_question",
    ),
    ("Hola, ¿cómo puedo devolver mi chaqueta? La compré hace 10 días.", "support_question"),
    (
        "Hallo, wie lange dauert der Versand nach Österreich? Meine Bestellung ist NW-1234567.",
        "support_question",
    ),
    ("Three weeks and still no refund. Nobody answers email. This is ridiculous.", "complaint"),
    ("My jacket fell apart on its second trip. Seams split. Really disappointed.", "complaint"),
    ("Péssimo atendimento. Meu pedido nunca chegou e ninguém responde. Que vergonha.", "complaint"),
    ("Charged twice for one order and support keeps closing my ticket. Unacceptable.", "complaint"),
    ("Just summited with my new boots and they were flawless. Thank you so much! 🏔️", "praise"),
    ("Huge shout out to Priya at the Denver store, best service I've had in years.", "praise"),
    ("Merci ! Ma tente a survécu à une semaine de pluie en Bretagne. Parfait.", "praise"),
    ("Is the rain shell coming back in plum? I'd buy it today.", "purchase_question"),
    ("Any student discount? Eyeing the 40L pack but it's a bit pricey.", "purchase_question"),
    ("¿Tienen la mochila en azul? ¿Y cuánto cuesta el envío a México?", "purchase_question"),
    ("Are day passes for the festival still available, or only weekend tickets?", "event_question"),
    ("What time do doors open on Saturday? Is there parking on site?", "event_question"),
    ("Gibt es bei der Veranstaltung Kindertickets? Wir kommen mit der ganzen Familie.", "event_question"),
    (
        "I'm a reporter with Outdoor Daily. Could someone from your press team comment on the layoffs?",
        "press_question",
    ),
    ("Journalist here, on deadline: does Northwind have a statement on the factory audit?", "press_question"),
    ("Hola, soy periodista. ¿Podrían darnos una entrevista sobre la cadena de suministro?", "press_question"),
    ("Is there a recall on the camp stove? Mine leaked gas and caught fire last night.", "crisis_signal"),
    (
        "Anyone else getting emails saying customer data was leaked? Looks like a data breach.",
        "crisis_signal",
    ),
    ("Achtung: bei uns sind zwei Karabiner gebrochen. Gibt es einen Rückruf?", "crisis_signal"),
    (
        "Just donated to the Open Trails Fund and signed the petition. Who's volunteering next weekend?",
        "advocacy",
    ),
    ("Stick to selling jackets. Nobody asked for your politics. This is greenwashing.", "advocacy"),
    ("Turn $100 into $5,000 in 48h with $MOONPEAK! DM me now https://moonyield.example/x1", "spam"),
    ("Buy 10k real followers for only $9.99 >> https://getfollowers.example/abc", "spam"),
    ("Saw a heron by the lake this morning", "other"),
]


@pytest.mark.parametrize(("text", "intent"), REALISTIC)
def test_patterns_alone_give_the_intent_of_realistic_posts(text: str, intent: str) -> None:
    result = IntentClassifier(seed=False).classify(facts(text))

    assert result.intent == intent
    assert result.model_version == 0


# Written for these tests (not taken from the seed corpus or the evaluation set): how people write to brands.
SEED_REALISTIC = [
    (
        "@harbourtel my internet has been dropping every night since tuesday, is there anything I can do "
        "on my end?",
        "support_question",
    ),
    ("how do i change the email on my account? the settings page just spins", "support_question"),
    (
        "Ordered a kettle 12 days ago, tracking hasn't moved since the 3rd. Can someone look at order "
        "55-2031?",
        "support_question",
    ),
    ("two hours on hold and then the line went dead. absolutely useless customer service", "complaint"),
    ("my new phone case cracked after one week. not impressed at all, want my money back", "complaint"),
    ("the staff at your Leeds branch were so kind to my gran today, thank you!", "praise"),
    ("best pizza delivery in town, arrived hot and early 🙌", "praise"),
    ("do you ship to Ireland? and is there a discount for first orders?", "purchase_question"),
    ("will the green hoodie be restocked in XL?", "purchase_question"),
    ("what time do gates open on sunday and can we bring a picnic?", "event_question"),
    (
        "Hi, I'm a reporter at the Daily Ledger working on a story about the store closures. Could someone "
        "comment?",
        "press_question",
    ),
    ("my charger literally caught fire overnight, the whole room filled with smoke", "crisis_signal"),
    ("signed the petition for fair wages in your factories. time to act", "advocacy"),
    ("earn $500 a day from home with crypto, DM me for info 🚀", "spam"),
    ("good morning everyone, raining again here ☔", "other"),
    ("Bonjour, comment je peux changer l'adresse de livraison de ma commande ?", "support_question"),
    ("Danke für den super schnellen Service, sehr zufrieden!", "praise"),
    ("Quanto custa o frete para o Porto?", "purchase_question"),
    ("Il caricabatterie ha fatto fumo e si è sciolto, è pericoloso!", "crisis_signal"),
    ("Hoe laat beginnen de optredens op zaterdag?", "event_question"),
    ("Llevo tres semanas esperando el reembolso y nadie contesta. Una vergüenza.", "complaint"),
]


@pytest.mark.parametrize(("text", "intent"), SEED_REALISTIC)
def test_the_default_classifier_gives_the_intent_of_realistic_posts(text: str, intent: str) -> None:
    result = IntentClassifier().classify(facts(text))

    assert result.intent == intent
    assert result.model_version == 0  # no corrections yet: the seed model and the patterns


def test_the_default_classifier_is_confident_on_most_realistic_posts() -> None:
    results = IntentClassifier.default().classify_many([facts(text) for text, _ in SEED_REALISTIC])

    assert sum(r.confidence >= 0.6 for r in results) >= 0.8 * len(results)


def test_the_seed_model_is_deterministic_and_built_once_per_process() -> None:
    assert seed_model() is seed_model(classifier_module.N_FEATURES)
    again = classifier_module._seed_model.__wrapped__(classifier_module.N_FEATURES)

    assert np.array_equal(again.weights, seed_model().weights)
    assert np.array_equal(again.intercept, seed_model().intercept)
    assert IntentClassifier().classify_many([facts(t) for t, _ in SEED_REALISTIC]) == (
        IntentClassifier().classify_many([facts(t) for t, _ in SEED_REALISTIC])
    )
    assert not seed_model().weights.flags.writeable  # shared by every classifier: never written in place


def test_the_seed_corpus_is_large_varied_and_well_formed() -> None:
    rows = [json.loads(line) for line in SEED_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    intents = Counter(row["intent"] for row in rows)
    languages = Counter(row["language"] for row in rows)

    assert len(rows) >= 1000
    assert all(set(row) == {"text", "intent", "language"} and row["text"].strip() for row in rows)
    assert set(intents) == set(INTENTS)
    assert intents.most_common(2)[0][0] in {"support_question", "complaint"}
    assert set(languages) == {"en", "es", "fr", "de", "pt", "it", "nl"}
    assert len(rows) - languages["en"] >= 150
    assert len({row["text"].lower() for row in rows}) == len(rows)


def test_explains_with_the_words_that_drove_the_intent_strongest_first() -> None:
    result = IntentClassifier(seed=False).classify(
        facts("Heads up: my headlamp got really hot while charging and the casing melted.")
    )

    # "heads up" and "melted" are strong crisis patterns, "hot" only leans that way: it comes last.
    assert result.intent == "crisis_signal"
    assert result.terms == ("heads up", "melted", "hot")


def test_explanation_names_phrases_not_just_words() -> None:
    result = IntentClassifier(seed=False).classify(facts("Where is my refund for order NW-1234567?"))

    assert result.intent == "support_question"
    assert result.terms == ("where is my refund", "order")


def test_scores_cover_every_intent_highest_first_and_sum_to_one() -> None:
    result = IntentClassifier().classify(facts("Where is my refund for order NW-1234567?"))

    assert result.scores[0][0] == result.intent
    assert sorted(intent for intent, _ in result.scores) == sorted(INTENTS)
    assert [p for _, p in result.scores] == sorted((p for _, p in result.scores), reverse=True)
    assert sum(p for _, p in result.scores) == pytest.approx(1.0)
    assert result.confidence == result.scores[0][1]


def test_sentiment_comes_from_the_trained_sentiment_model() -> None:
    text = "This is the worst, most useless support I have ever had."
    result = IntentClassifier().classify(facts(text))

    assert result.sentiment_label == "negative"
    assert result.sentiment < -0.5
    assert (result.sentiment, result.sentiment_label) == shipped_model().score_many([text])[0]


@pytest.mark.parametrize("text", ["", "   ", "🔥🔥🔥", "🏔️⛺🥾", "?", "@northwind", "x" * 5000])
def test_empty_emoji_only_and_odd_text_do_not_crash(text: str) -> None:
    result = IntentClassifier().classify(facts(text))

    assert result.intent in INTENTS
    assert 0.0 <= result.confidence <= 1.0


def test_classify_many_equals_classify_one_by_one_untrained_and_trained() -> None:
    batch = [facts(text) for text, _ in REALISTIC] + [facts(""), facts("🔥")]
    untrained = IntentClassifier()
    trained = IntentClassifier.trained([(text, intent) for text, intent in REALISTIC], version=1)

    assert untrained.classify_many(batch) == [untrained.classify(f) for f in batch]
    assert trained.classify_many(batch) == [trained.classify(f) for f in batch]
    assert untrained.classify_many([]) == []


BRAND_WORD_CORRECTIONS = [
    ("Any news on the Quillfeather?", "purchase_question"),
    ("quillfeather when", "purchase_question"),
    ("Is the Quillfeather worth waiting for", "purchase_question"),
    ("Quillfeather drop date??", "purchase_question"),
    ("can't wait for the quillfeather", "purchase_question"),
    ("Quillfeather in Canada?", "purchase_question"),
    ("Saw the Quillfeather teaser, when?", "purchase_question"),
    ("is there a waitlist for the Quillfeather", "purchase_question"),
]
PROBE = facts("When does the Quillfeather drop in Europe?")


def test_learning_from_corrections_changes_a_decision_the_patterns_got_wrong() -> None:
    before = IntentClassifier().classify(PROBE)

    classifier = IntentClassifier.trained(BRAND_WORD_CORRECTIONS, version=4)
    after = classifier.classify(PROBE)

    assert before.intent != "purchase_question"
    assert after.intent == "purchase_question"
    assert after.model_version == 4  # the model version it was trained as
    assert "quillfeather" in after.terms
    assert (classifier.version, classifier.examples_seen) == (4, len(BRAND_WORD_CORRECTIONS))


def test_corrections_of_one_intent_do_not_pull_unrelated_posts_towards_it() -> None:
    # Corrections are a biased sample: training keeps the seed corpus's intercepts and trains on the seed
    # corpus too, so it cannot learn "everything is spam".
    classifier = IntentClassifier.trained([(text, "spam") for text, _ in BRAND_WORD_CORRECTIONS])

    assert (
        classifier.classify(facts("How do I reset my password? Can someone help?")).intent
        == "support_question"
    )


def test_learning_raises_the_corrected_intent_without_flattening_the_others() -> None:
    # The old linear blend mixed in a near-uniform model: a handful of corrections dragged every confident
    # answer towards the middle and nothing reached the engine's 0.6 threshold any more.
    seed_only = IntentClassifier()
    others = [facts(text) for text, _ in SEED_REALISTIC]
    before_probe = dict(seed_only.classify(PROBE).scores)["purchase_question"]
    before = seed_only.classify_many(others)

    classifier = IntentClassifier.trained(BRAND_WORD_CORRECTIONS[:5])
    after = classifier.classify_many(others)

    assert dict(classifier.classify(PROBE).scores)["purchase_question"] > before_probe + 0.2
    assert [r.intent for r in after] == [r.intent for r in before]
    mean_before = sum(r.confidence for r in before) / len(before)
    mean_after = sum(r.confidence for r in after) / len(after)
    assert mean_after > mean_before - 0.02
    assert sum(r.confidence >= 0.6 for r in after) >= sum(r.confidence >= 0.6 for r in before) - 1


def test_training_refuses_unknown_intents_and_without_corrections_is_the_seed_model() -> None:
    with pytest.raises(ValueError, match="unknown intents"):
        IntentClassifier.trained([*BRAND_WORD_CORRECTIONS, ("hello", "billing")])

    empty = IntentClassifier.trained([], version=3)

    assert (empty.version, empty.examples_seen) == (3, 0)
    assert empty._model is seed_model().model  # nothing to train: the shared seed model, not a copy
    assert empty.classify(PROBE) == replace(IntentClassifier().classify(PROBE), model_version=3)


def _probabilities(results: list[Classification]) -> list[tuple[tuple[str, float], ...]]:
    return [r.scores for r in results]


def test_state_round_trip_classifies_identically_and_dumps_the_same_bytes() -> None:
    batch = [facts(text) for text, _ in REALISTIC] + [PROBE]
    original = IntentClassifier.trained(
        [(text, intent) for text, intent in REALISTIC] + BRAND_WORD_CORRECTIONS, version=7
    )

    state = original.dump_state()
    loaded = IntentClassifier.load_state(state)

    assert (loaded.version, loaded.examples_seen, loaded.seeded) == (7, len(REALISTIC) + 8, True)
    assert loaded.classify_many(batch) == original.classify_many(batch)
    assert np.array_equal(loaded._model.coef_, original._model.coef_)
    assert np.array_equal(loaded._model.intercept_, original._model.intercept_)
    assert loaded.dump_state() == state


def test_untrained_state_round_trips_to_the_seed_model_and_stays_tiny() -> None:
    state = IntentClassifier().dump_state()
    loaded = IntentClassifier.load_state(state)

    assert (loaded.version, loaded.seeded) == (0, True)
    assert loaded.classify(PROBE) == IntentClassifier().classify(PROBE)
    assert len(state) < 5_000  # the seed is rebuilt from the corpus, never copied into a database row


def test_patterns_only_state_round_trips_to_patterns_only() -> None:
    original = IntentClassifier.trained(BRAND_WORD_CORRECTIONS, version=1, seed=False)
    loaded = IntentClassifier.load_state(original.dump_state())

    assert (loaded.version, loaded.seeded) == (1, False)
    assert loaded.classify(PROBE) == original.classify(PROBE)
    assert IntentClassifier.load_state(IntentClassifier(seed=False).dump_state()).classify(PROBE) == (
        IntentClassifier(seed=False).classify(PROBE)
    )


def test_states_of_earlier_formats_are_refused_clearly() -> None:
    # Format 2 (the hand-written learner's weights, no SGD step counter): never in production.
    old = _npz(
        format=np.int64(2),
        n_features=np.int64(classifier_module.N_FEATURES),
        classes=np.array(INTENTS),
        columns=np.array([5], dtype=np.int32),
        weights=np.zeros((len(INTENTS), 1)),
        seeded=np.int64(1),
        version=np.int64(3),
        examples_seen=np.int64(40),
    )

    with pytest.raises(ValueError, match="format 2 is not 3"):
        IntentClassifier.load_state(old)


def test_the_learner_is_scikit_learns_sgd_over_its_hashing_vectoriser() -> None:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import SGDClassifier

    model = seed_model().model
    x, tokens = classifier_module.vectorize(["my order 55-2031 never came @shop https://x.example ?"], 2**16)

    assert isinstance(model, SGDClassifier) and model.loss == "log_loss"
    assert isinstance(classifier_module.hasher(2**16), HashingVectorizer)
    assert tokens == [("my", "order", "0", "0", "never", "came", "atuser", "link", "?")]
    assert x.nnz == 8 and np.allclose(x.data, 1 / np.sqrt(8))  # binary, unit length
    # The rows are built from cached columns: the vectoriser's own matrix, bit for bit.
    direct = classifier_module.hasher(2**16).transform([list(tokens[0])])
    direct.sort_indices()
    assert (x.indices == direct.indices).all() and (x.data == direct.data).all()
    for hand_written in ("_fit", "_lbfgs", "_dot", "_columns"):
        assert not hasattr(classifier_module, hand_written)


def test_token_columns_are_the_vectorisers_even_when_the_cache_is_cleared(monkeypatch) -> None:
    monkeypatch.setattr(classifier_module, "_COLUMN_CACHE", {})
    monkeypatch.setattr(classifier_module, "_COLUMN_CACHE_SIZE", 3)
    tokens = ["refund", "order", "refund", "late", "?", "quillfeather"]

    columns = classifier_module.gram_columns(tokens, 2**16)
    again = classifier_module.gram_columns(["late", "new", "words", "here", *tokens], 2**16)

    expected = [classifier_module.vectorize([t], 2**16)[0].indices[0] for t in tokens]
    assert columns == expected and again[4:] == expected


def test_training_makes_a_model_of_its_own_and_leaves_the_intercepts_and_the_shared_seed_alone() -> None:
    seed = seed_model()
    coef_before, intercept_before = seed.model.coef_.copy(), seed.model.intercept_.copy()

    classifier = IntentClassifier.trained([(text, "spam") for text, _ in BRAND_WORD_CORRECTIONS])

    assert classifier._model is not seed.model
    assert np.array_equal(seed.model.coef_, coef_before)
    assert np.array_equal(seed.model.intercept_, intercept_before)
    assert np.array_equal(classifier._model.intercept_, seed.model.intercept_)
    assert classifier._model.intercept_ is not seed.model.intercept_


def test_the_same_corrections_give_byte_identical_states() -> None:
    corrections = [*BRAND_WORD_CORRECTIONS, *((text, intent) for text, intent in REALISTIC)]

    first = IntentClassifier.trained(corrections, version=2)
    second = IntentClassifier.trained(corrections, version=2)

    assert np.array_equal(first._model.coef_, second._model.coef_)
    assert first.dump_state() == second.dump_state()


ONE_BY_ONE = [
    ("quillfeather when", "purchase_question"),
    ("the Quillfeather zip broke on day two, how do I get it fixed?", "support_question"),
    ("Quillfeather launch party tickets: where?", "event_question"),
]


def test_corrections_one_by_one_give_the_same_model_as_all_of_them_at_once() -> None:
    # The worker trains after each correction, or once after a burst of them: the model after N corrections
    # must not depend on that (the incremental learner of earlier versions did), nor on what was trained
    # before in the same process.
    at_once = IntentClassifier.trained(ONE_BY_ONE, version=3).dump_state()
    IntentClassifier.trained([(text, "spam") for text, _ in BRAND_WORD_CORRECTIONS])  # something else

    one_by_one = [IntentClassifier.trained(ONE_BY_ONE[:n], version=n) for n in (1, 2, 3)]

    assert one_by_one[-1].dump_state() == at_once
    assert [c.examples_seen for c in one_by_one] == [1, 2, 3]
    assert one_by_one[0].dump_state() != at_once  # each step is a model of its own


def test_state_is_small_enough_for_a_database_row() -> None:
    classifier = IntentClassifier.trained(
        [(f"{text} {n}", intent) for n in range(20) for text, intent in REALISTIC]
    )

    assert len(classifier.dump_state()) < 1_000_000


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@cache  # one training for every hostile variant below; each copies the dict before changing it
def _trained_arrays() -> dict[str, np.ndarray]:
    classifier = IntentClassifier.trained(BRAND_WORD_CORRECTIONS)
    with np.load(io.BytesIO(classifier.dump_state()), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


class Boom:
    """Unpickling this would run code; a safe loader must never get that far."""

    def __reduce__(self):
        return (pytest.fail, ("the state loader unpickled an object",))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a state",
        b"PK\x03\x04 truncated zip",
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "weights": np.array([Boom()], dtype=object)}),
            id="object-array",
        ),
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "classes": np.array(["spam"] * 10)}), id="wrong-classes"
        ),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "format": np.int64(99)}), id="future-format"),
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "columns": np.array([70_000])}), id="column-out-of-range"
        ),
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "weights": np.full((10, 3), np.nan)}), id="shape-and-nan"
        ),
        pytest.param(
            lambda: _npz(**{k: v for k, v in _trained_arrays().items() if k != "seeded"}), id="missing-key"
        ),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "extra": np.zeros(1)}), id="extra-key"),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "version": np.float64(1.0)}), id="float-counter"),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "seeded": np.int64(2)}), id="seeded-not-a-flag"),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "format": np.int64(2)}), id="earlier-format"),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "t": np.float64(np.inf)}), id="infinite-t"),
        pytest.param(lambda: _npz(**{**_trained_arrays(), "t": np.int64(5)}), id="integer-t"),
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "intercept": np.zeros(3)}), id="intercept-wrong-shape"
        ),
        pytest.param(
            lambda: _npz(**{**_trained_arrays(), "columns": np.array([9, 3, 5])}), id="columns-not-increasing"
        ),
    ],
)
def test_malformed_or_hostile_state_is_refused_without_unpickling(data) -> None:
    raw = data() if callable(data) else data

    with pytest.raises(ValueError, match="state"):
        IntentClassifier.load_state(raw)


def test_a_bare_npy_holding_an_object_array_is_refused() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Boom()], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError, match="state"):
        IntentClassifier.load_state(buffer.getvalue())


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.npy", b"\0" * (80 * 1024 * 1024))

    with pytest.raises(ValueError, match="more than allowed"):
        IntentClassifier.load_state(buffer.getvalue())


def test_hashed_rows_are_the_vectorisers_rows_for_any_batch(monkeypatch) -> None:
    from sklearn.feature_extraction.text import HashingVectorizer

    monkeypatch.setattr(classifier_module, "_COLUMN_CACHE", {})
    monkeypatch.setattr(classifier_module, "_COLUMN_CACHE_SIZE", 5)  # cleared mid-batch
    batch = [
        classifier_module.grams(text.lower())
        for text in ("Refund my order #55 please!", "", "late late late", "ok 😍 www.x.example", "?")
    ]
    for unit_length, norm in ((True, "l2"), (False, None)):
        expected = HashingVectorizer(
            n_features=2**16,
            analyzer=classifier_module._tokens_as_given,
            alternate_sign=False,
            binary=True,
            norm=norm,
        ).transform(batch)
        expected.sort_indices()
        got = classifier_module.hashed_rows(batch, 2**16, unit_length=unit_length)

        assert got.shape == expected.shape
        assert got.indptr.tolist() == expected.indptr.tolist()
        assert got.indices.tolist() == expected.indices.tolist()
        assert got.data.tolist() == expected.data.tolist()
