"""routing.owner_eval: the fixed split, handle masking, what names a brand, and the calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from routing.owner_eval import (
    brand_names,
    expected_calibration_error,
    handles_masked,
    is_test,
    names_brand,
)


def test_the_split_keeps_a_key_on_one_side_and_holds_out_about_the_share() -> None:
    keys = [f"conversation-{n}" for n in range(10_000)]

    held = [key for key in keys if is_test(key, 0.3)]

    assert 2800 < len(held) < 3200
    assert [is_test(key, 0.3) for key in keys[:50]] == [is_test(key, 0.3) for key in keys[:50]]
    assert not any(is_test(key, 0.0) for key in keys)


def test_every_handle_is_masked() -> None:
    assert handles_masked("@AppleSupport my @iCloud login, ask @bob_2") == "@user my @user login, ask @user"


def test_brand_names_drop_the_support_account_words() -> None:
    assert brand_names("AskeBay") == {"askebay", "ebay"}
    assert brand_names("MicrosoftHelps") == {"microsofthelps", "microsoft"}
    assert brand_names("hulu_support") == {"hulusupport", "hulu"}
    assert brand_names("TeamYouTube") == {"teamyoutube", "youtube"}
    assert brand_names("Delta") == {"delta"}


@pytest.mark.parametrize(
    ("text", "handle", "named"),
    [
        ("@AskeBay where is my refund", "AskeBay", True),
        ("bought it on eBay last week", "AskeBay", True),
        ("my T-Mobile bill doubled", "TMobileHelp", True),
        ("the HP printer is offline", "HPSupport", True),
        ("whatsHPening with my order", "HPSupport", False),  # a short name counts as a whole word only
        ("cannot log in to my account", "AskeBay", False),
    ],
)
def test_names_brand(text: str, handle: str, named: bool) -> None:
    assert names_brand(text, handle) is named


def test_calibration_error_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    # Two posts at 0.9 (one right), two at 0.6 (both right): |0.5 - 0.9| / 2 + |1.0 - 0.6| / 2.
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])

    assert expected_calibration_error(probabilities, [0, 1, 1, 1]) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([[1.0, 0.0]]), [0]) == 0.0


def test_calibration_noise_is_what_a_perfectly_calibrated_model_shows_on_so_few_posts() -> None:
    from routing.owner_eval import calibration_noise

    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.3, 0.95, size=300)
    probabilities = np.column_stack([confidence, 1 - confidence])
    # Right exactly as often as it says: its measured ECE is within the noise.
    truth = np.where(rng.random(300) < confidence, 0, 1)

    noise = calibration_noise(probabilities, truth, draws=300)
    measured = expected_calibration_error(probabilities, truth)

    assert 0.02 < noise["perfectly_calibrated_mean"] < 0.12  # 300 posts cannot show an ECE near 0
    assert noise["perfectly_calibrated_mean"] <= noise["perfectly_calibrated_95th"]
    assert measured < noise["perfectly_calibrated_95th"]
    assert noise["bootstrap_low"] <= measured + 0.02 and noise["bootstrap_low"] < noise["bootstrap_high"]
    # An over-confident model (always right half the time) is far outside it.
    overconfident = calibration_noise(probabilities, np.where(rng.random(300) < 0.5, 0, 1), draws=300)
    assert (
        expected_calibration_error(probabilities, np.where(rng.random(300) < 0.5, 0, 1))
        > (overconfident["perfectly_calibrated_95th"])
    )
    # The same seed gives the same figures.
    assert calibration_noise(probabilities, truth, draws=300) == noise
