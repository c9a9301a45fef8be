"""routing.textfeatures: text normalised as the labelled tweets were, features, and model files that hold
plain arrays only."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from routing import crisis, sentiment, textfeatures
from routing.textfeatures import LinearTextModel, features, normalise, rows


def test_handles_and_links_are_written_as_in_the_labelled_tweets():
    assert normalise('"@Bob_1 look http://t.co/x1 &amp; www.example.com/a?b=1 ok"') == (
        "@user look http & http ok"
    )
    assert normalise("mail me at bob@example.com") == "mail me at bob@example.com"


def test_negation_marks_the_words_up_to_the_next_punctuation():
    found = features("Not bad at all. Good")

    assert {"¬bad", "¬at", "¬all"} <= set(found)
    assert "¬good" not in found


def test_emoji_are_read_as_their_names():
    assert {"smiling", "heart", "eyes"} <= set(features("😍"))


def test_hashtags_count_as_their_word_without_character_grams():
    found = features("#BoulderFlood")

    assert {"#boulderflood", "boulderflood"} <= set(found)
    assert not [feature for feature in found if feature.startswith("~")]


def test_a_batch_gives_the_same_scores_as_one_post_at_a_time_and_empty_posts_the_intercept():
    model = sentiment.shipped_model().model
    texts = ["great stuff", "", "awful, just awful", "   "]

    together = model.logits(rows(texts))
    alone = np.vstack([model.logits(rows([text])) for text in texts])

    np.testing.assert_allclose(together, alone)
    np.testing.assert_allclose(together[1], model.intercept)


def test_a_model_file_with_an_object_array_is_refused(tmp_path):
    npz, spec = tmp_path / "m.npz", tmp_path / "m.json"
    spec.write_text(json.dumps({"features_version": textfeatures.FEATURES_VERSION, "n_features": 4}))
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.int64(textfeatures.FEATURES_VERSION),
        weights=np.array([[object()]], dtype=object),
        intercept=np.zeros(1),
        classes=np.array(["crisis"]),
    )
    npz.write_bytes(buffer.getvalue())

    with pytest.raises(ValueError):
        LinearTextModel.load(npz, spec)


def test_a_model_of_other_features_is_refused(tmp_path):
    model = LinearTextModel(weights=np.zeros((4, 1)), intercept=np.zeros(1), classes=["crisis"], spec={})
    model.spec.update({"features_version": textfeatures.FEATURES_VERSION + 1, "n_features": 4})
    model.save(tmp_path / "m.npz", tmp_path / "m.json")

    with pytest.raises(ValueError, match="make models"):
        LinearTextModel.load(tmp_path / "m.npz", tmp_path / "m.json")


def test_the_shipped_files_are_small():
    for path in (sentiment.MODEL_NPZ, crisis.MODEL_NPZ):
        assert path.stat().st_size < 4_000_000, path
