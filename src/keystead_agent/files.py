"""Files only root may read: written whole (temporary file, then rename), mode 0600."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_private(path: Path, data: bytes, *, keep_existing: bool = False) -> bool:
    """Replace ``path`` with ``data``, readable and writable by the owner (root) only, so
    a crash never leaves a half-written file and no other user ever sees the contents.

    With ``keep_existing``, a file already at ``path`` wins instead (the data is linked
    into place, which fails if one is there): for a value made once, such as a key, that
    two threads or processes may make at the same moment. True if ``data`` was written."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if not keep_existing:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(temporary).unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    write_private(path, json.dumps(value, indent=1, sort_keys=True).encode())


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
