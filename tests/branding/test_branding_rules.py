"""The validation rules for branding, without a database."""

from __future__ import annotations

import pytest

from keystead.branding import rules

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@pytest.mark.parametrize("accent", ["#1f5f8b", "#000000", "#A4262C", "#767676"])
def test_dark_enough_colours_are_accepted(accent):
    assert rules.accent_problem(accent) is None


@pytest.mark.parametrize("accent", ["1f5f8b", "#1f5f8", "#1f5f8bb", "#gg0000", "blue", "",
                                    "#1f5f8b\n"])
def test_a_colour_not_in_rrggbb_form_is_refused_naming_the_field(accent):
    problem = rules.accent_problem(accent)
    assert problem and problem.startswith("Accent colour") and "#rrggbb" in problem


@pytest.mark.parametrize("accent", ["#ffffff", "#ffcc00", "#8cc4ec", "#777777"])
def test_a_colour_too_light_for_white_text_is_refused_with_the_fix(accent):
    problem = rules.accent_problem(accent)
    assert problem and "too light" in problem and "darker" in problem and "4.5:1" in problem


def test_contrast_matches_the_wcag_figures():
    assert rules.contrast_with_white("#000000") == pytest.approx(21.0)
    assert rules.contrast_with_white("#ffffff") == pytest.approx(1.0)
    # #767676 is the well-known lightest grey that passes AA on white.
    assert rules.contrast_with_white("#767676") == pytest.approx(4.54, abs=0.01)


def test_the_sign_in_message_is_limited_to_500_characters():
    assert rules.message_problem("x" * 500) is None
    problem = rules.message_problem("x" * 501)
    assert problem and "Sign-in message" in problem and "500" in problem


def test_the_name_must_not_be_empty():
    assert rules.name_problem("Acme ID") is None
    assert "Product name" in rules.name_problem("   ")


@pytest.mark.parametrize(("data", "kind"), [(PNG, "image/png"), (JPEG, "image/jpeg"),
                                            (SVG, "image/svg+xml"),
                                            (b"<svg xmlns='x'></svg>", "image/svg+xml")])
def test_the_logo_type_is_judged_from_its_bytes(data, kind):
    assert rules.logo_type(data) == kind
    assert rules.logo_problem(data) is None


@pytest.mark.parametrize("data", [b"GIF89a" + b"\x00" * 20, b"<html><svg></svg></html>",
                                  b"%PDF-1.7", b"not an image"])
def test_other_files_are_refused_as_logos(data):
    assert rules.logo_problem(data) == "Logo is not a PNG, JPEG or SVG image; upload one of those."


def test_a_logo_over_200_kb_is_refused():
    assert rules.logo_problem(PNG + b"\x00" * (rules.LOGO_LIMIT - len(PNG))) is None
    problem = rules.logo_problem(PNG + b"\x00" * rules.LOGO_LIMIT)
    assert problem and "at most 200 KB" in problem
