"""Validation rules for branding, as plain functions over plain values (no database).

Each returns ``None`` when the value is acceptable, or a message that names the field
and says how to fix it.
"""

from __future__ import annotations

import re

ACCENT_FORMAT = re.compile(r"#[0-9a-fA-F]{6}")
MESSAGE_LIMIT = 500
NAME_LIMIT = 80
LOGO_LIMIT = 200 * 1024
#: WCAG 2 AA for normal-size text: buttons carry white text on the accent colour.
MINIMUM_CONTRAST = 4.5

_SVG_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*(<!DOCTYPE[^>]*>\s*)?<svg[\s>]",
                        re.DOTALL | re.IGNORECASE)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def contrast_with_white(accent: str) -> float:
    """The WCAG contrast ratio of white text on ``accent`` (``#rrggbb``)."""
    r, g, b = (int(accent[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)
    return 1.05 / (luminance + 0.05)


def accent_problem(accent: str) -> str | None:
    if not ACCENT_FORMAT.fullmatch(accent):
        return (f"Accent colour {accent!r} is not a colour in the form #rrggbb; "
                "type six hexadecimal digits after #, for example #1f5f8b.")
    ratio = contrast_with_white(accent)
    if ratio < MINIMUM_CONTRAST:
        return (f"Accent colour {accent} is too light for white button text (contrast "
                f"{ratio:.1f}:1, at least {MINIMUM_CONTRAST}:1 is needed); choose a darker colour.")
    return None


def name_problem(name: str) -> str | None:
    if not name.strip():
        return "Product name is empty; type the name people should see, for example Keystead."
    if len(name) > NAME_LIMIT:
        return f"Product name is {len(name)} characters long; shorten it to {NAME_LIMIT} or fewer."
    return None


def message_problem(message: str) -> str | None:
    if len(message) > MESSAGE_LIMIT:
        return (f"Sign-in message is {len(message)} characters long; shorten it to "
                f"{MESSAGE_LIMIT} or fewer.")
    return None


def logo_type(data: bytes) -> str | None:
    """The logo's content type judged from its bytes (never from the upload's claim)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if _SVG_START.match(data[:4096]):
        return "image/svg+xml"
    return None


def logo_problem(data: bytes) -> str | None:
    if len(data) > LOGO_LIMIT:
        return (f"Logo is {len(data) // 1024} KB; upload a file of at most "
                f"{LOGO_LIMIT // 1024} KB.")
    if logo_type(data) is None:
        return "Logo is not a PNG, JPEG or SVG image; upload one of those."
    return None
