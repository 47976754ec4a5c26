"""Text in JSON that no column can store.

JSON's ``\\u`` escapes can carry a NUL character (U+0000), which PostgreSQL's text
and jsonb refuse, and an unpaired surrogate (U+D800 to U+DFFF), which is no text at
all and cannot be encoded as UTF-8. Every door that reads JSON asks this first, so
such input is a 400 that names where it is, never a database error.
"""

from __future__ import annotations

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
    if isinstance(value, str):
        return where if unstorable(value) else None
    if isinstance(value, dict):
        children = [(f"{where}.{key}" if where else str(key), key, item)
                    for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{where}[{index}]", "", item) for index, item in enumerate(value)]
    else:
        return None
    for path, key, item in children:
        found = path if isinstance(key, str) and unstorable(key) else unstorable_in(item, path)
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
