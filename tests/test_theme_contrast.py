"""Both colour themes of static/css/socialops.css meet WCAG AA: every text colour on the backgrounds it is
used on has a contrast ratio of 4.5:1 or more. The test reads the custom properties of the light theme
(``:root``) and of the dark one (``[data-theme="dark"]``, which also applies under the system's dark
preference), so a colour changed in the stylesheet is checked as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "css" / "socialops.css"
AA_NORMAL_TEXT = 4.5

# (text, background) pairs as the stylesheet uses them; a literal colour is allowed where it is fixed.
PAIRS = [
    ("--ink", "--bg"),
    ("--ink", "--surface"),
    ("--ink-muted", "--bg"),
    ("--ink-muted", "--surface"),
    ("--accent", "--bg"),
    ("--accent", "--surface"),
    ("--accent", "--accent-soft"),
    ("--accent-strong", "--accent-soft"),
    ("--accent-strong", "--current-bg"),
    ("--on-accent", "--accent"),
    ("--on-accent", "--accent-strong"),
    ("--danger-ink", "--surface"),
    ("--danger-ink", "--danger-bg"),
    ("--on-danger", "--danger-ink"),
    ("#ffffff", "--misdirected"),
    ("--header-ink", "--header-bg"),
    ("--header-muted", "--header-bg"),
    ("--neutral-ink", "--neutral-bg"),
    ("--ink-muted", "--neutral-bg"),
    ("--ink", "--label-bg"),
    ("--ink", "--current-bg"),
    ("--ink", "--arrived-bg"),
    ("--ink", "--arrived-bg-still"),
    ("--care-ink", "--care-bg"),
    ("--crisis-ink", "--crisis-bg"),
    ("--reputation-ink", "--reputation-bg"),
    ("--events-ink", "--events-bg"),
    ("--advocacy-ink", "--advocacy-bg"),
    ("--success-ink", "--success-bg"),
    ("--success-ink", "--success-tint"),
    ("--warning-ink", "--warning-bg"),
    ("--warning-ink-strong", "--warning-bg"),
    ("--ink", "--warning-tint"),
    ("--positive-ink", "--positive-bg"),
    ("--decide-ink", "--decide-bg"),
    ("--ink", "--decide-tint"),
    ("--ink", "--ours-bg"),
    ("--ink", "--group-bg"),
    ("--ink", "--code-bg"),
    ("--ink", "--diff-before-bg"),
    ("--ink", "--diff-after-bg"),
]


def _block(css: str, selector: str) -> str:
    match = re.search(re.escape(selector) + r"\s*\{([^{}]*)\}", css)
    assert match is not None, f"no {selector} block in the stylesheet"
    return match.group(1)


def _properties(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", block))


def themes() -> dict[str, dict[str, str]]:
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    light = _properties(_block(css, ":root"))
    dark = _properties(_block(css, '[data-theme="dark"]'))
    system_dark = _properties(_block(css, ':root:not([data-theme="light"])'))
    assert system_dark == dark, "the system's dark theme and the chosen one have drifted apart"
    return {"light": light, "dark": light | dark}


def _rgb(colour: str) -> tuple[float, float, float]:
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", colour), f"{colour!r} is not a #rrggbb colour"
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in _rgb(colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_ratio_matches_wcags_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_the_dark_theme_changes_the_main_surfaces() -> None:
    light, dark = themes()["light"], themes()["dark"]

    assert relative_luminance(dark["--bg"]) < 0.05 < relative_luminance(light["--bg"])
    assert relative_luminance(dark["--ink"]) > 0.5 > relative_luminance(light["--ink"])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_and_background_pair_meets_wcag_aa(theme: str) -> None:
    colours = themes()[theme]

    def resolve(name: str) -> str:
        return colours[name] if name.startswith("--") else name

    failing = {
        f"{text} on {background}": round(ratio, 2)
        for text, background in PAIRS
        if (ratio := contrast_ratio(resolve(text), resolve(background))) < AA_NORMAL_TEXT
    }

    assert failing == {}


def test_the_stylesheet_closes_every_block() -> None:
    """An unclosed block nests every later rule inside it (CSS nesting), which silently drops them."""
    css = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    depth = 0
    for number, line in enumerate(css.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"a '}}' closes nothing at line {number} (comments removed)"

    assert depth == 0
