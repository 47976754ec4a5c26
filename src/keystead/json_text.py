"""Text in JSON that no column can store.

JSON's ``\\u`` escapes can carry a NUL character (U+0000), which PostgreSQL's text
and jsonb refuse, and an unpaired surrogate (U+D800 to U+DFFF), which is no text at
all and cannot be encoded as UTF-8. Every door that reads JSON asks this first, so
such input is a 400 that names where it is, never a database error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL character or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable_in(value: Any, where: str = "") -> str | None:
    """The path (``a.b[2]``) of the first key or string in a JSON value that cannot be
    stored, ``""`` for the value itself; None if everything can."""
    return _first(value, where, lambda leaf: isinstance(leaf, str) and unstorable(leaf))


def not_finite_in(value: Any, where: str = "") -> str | None:
    """The path of the first number in a JSON value that is NaN or infinite (Python's
    JSON reader accepts them; JSON and PostgreSQL's jsonb do not), or None."""
    return _first(value, where, lambda leaf: isinstance(leaf, float) and not math.isfinite(leaf))


def _first(value: Any, where: str, bad: Callable[[Any], bool]) -> str | None:
    if isinstance(value, dict):
        children = [(f"{where}.{key}" if where else str(key), key, item)
                    for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{where}[{index}]", None, item) for index, item in enumerate(value)]
    else:
        return where if bad(value) else None
    for path, key, item in children:
        found = path if key is not None and bad(key) else _first(item, path, bad)
        if found is not None:
            return found
    return None


def problem_text(where: str) -> str:
    """The refusal, naming the place and the fix."""
    return (f"{where or 'The value'} holds a NUL character (\\u0000) or an unpaired "
            "surrogate (\\ud800 to \\udfff), which cannot be stored; remove it.")


def storable(value: Any) -> Any:
    """A copy of a JSON value in which every key and string can be stored: a NUL written
    as the six characters ``\\u0000`` and an unpaired surrogate as its ``\\ud800``
    escape. For records that keep what was sent (the audit log), not for input, which is
    refused instead."""
    if isinstance(value, str):
        if not unstorable(value):
            return value
        return (value.replace("\x00", "\\u0000")
                .encode("utf-8", "backslashreplace").decode("utf-8"))
    if isinstance(value, dict):
        return {storable(key) if isinstance(key, str) else key: storable(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


class StrictDecoder(json.JSONDecoder):
    """A JSON reader for forms (``forms.JSONField(decoder=…)``): what it cannot read, or
    what could not be stored, is a ``JSONDecodeError``, the one error Django's field turns
    into a form error and re-shows as typed. Python's reader alone accepts NaN and
    Infinity and raises other errors for very deep nesting or very long numbers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(parse_constant=self._no_constant, **kwargs)

    @staticmethod
    def _no_constant(name: str) -> None:
        raise ValueError(f"{name} is not a JSON number")

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        try:
            value = super().decode(s, *args, **kwargs)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(str(exc), s, 0) from None
        if (where := unstorable_in(value)) is not None:
            raise json.JSONDecodeError(problem_text(where), s, 0)
        return value
