"""Offline screening against common and breached passwords: a compact Bloom filter.

The built-in filter is made from the list of common passwords that comes with
Django (about 20,000 entries). An operator can add a filter of their own,
built with ``keystead policy build-filter`` and named by
``KEYSTEAD_PASSWORD_FILTER``: a password is refused if *either* filter holds
it, so the operator's list adds to the built-in one and never replaces it.

A Bloom filter answers "certainly not in the list" or "probably in the list"
in a few microseconds from a few bits per entry, without a network call and
without shipping the passwords themselves. At the false-positive rate used
here (1 in 10,000), one strong password in ten thousand is refused by
mistake; the user simply chooses another.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import os
import struct
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

FALSE_POSITIVE_RATE = 1e-4
_HEADER = struct.Struct(">4sIQ")  # magic, hash count, bit count
_MAGIC = b"KSBF"


class BloomFilter:
    def __init__(self, bits: bytearray, bit_count: int, hash_count: int) -> None:
        self.bits = bits
        self.bit_count = bit_count
        self.hash_count = hash_count

    @classmethod
    def sized_for(cls, entries: int, rate: float = FALSE_POSITIVE_RATE) -> BloomFilter:
        entries = max(entries, 1)
        bit_count = math.ceil(-entries * math.log(rate) / (math.log(2) ** 2))
        hash_count = max(1, round(bit_count / entries * math.log(2)))
        return cls(bytearray((bit_count + 7) // 8), bit_count, hash_count)

    def _positions(self, item: str) -> Iterable[int]:
        digest = hashlib.blake2b(item.encode(), digest_size=16).digest()
        first, second = struct.unpack(">QQ", digest)
        for i in range(self.hash_count):
            yield (first + i * second) % self.bit_count

    def add(self, item: str) -> None:
        for pos in self._positions(item):
            self.bits[pos >> 3] |= 1 << (pos & 7)

    def __contains__(self, item: str) -> bool:
        return all(self.bits[pos >> 3] & (1 << (pos & 7)) for pos in self._positions(item))

    def dump(self) -> bytes:
        return _HEADER.pack(_MAGIC, self.hash_count, self.bit_count) + bytes(self.bits)

    @classmethod
    def load(cls, data: bytes) -> BloomFilter:
        """Read a dumped filter; ValueError names what is wrong with a damaged file."""
        if len(data) < _HEADER.size or data[:4] != _MAGIC:
            raise ValueError("not a Keystead password filter (make one with "
                             "`keystead policy build-filter`)")
        _, hash_count, bit_count = _HEADER.unpack_from(data)
        bits = bytearray(data[_HEADER.size:])
        if not hash_count or not bit_count or len(bits) != (bit_count + 7) // 8:
            raise ValueError("the password filter is damaged or cut short; build it again")
        return cls(bits, bit_count, hash_count)


def build(passwords: Iterable[str]) -> BloomFilter:
    """A filter of ``passwords``, compared as the rules compare: NFKC, lower case."""
    unique = {unicodedata.normalize("NFKC", p.strip()).lower() for p in passwords if p.strip()}
    bloom = BloomFilter.sized_for(len(unique))
    for password in unique:
        bloom.add(password)
    return bloom


def django_common_passwords() -> list[str]:
    import django

    path = Path(django.__file__).parent / "contrib" / "auth" / "common-passwords.txt.gz"
    return gzip.decompress(path.read_bytes()).decode().split()


@cache
def builtin_filter() -> BloomFilter:
    """The list shipped with Keystead; always consulted."""
    return build(django_common_passwords())


@lru_cache(maxsize=4)
def _load_operator_filter(path: str, mtime_ns: int, size: int) -> BloomFilter | None:
    # Keyed by modification time and size: a rebuilt file is picked up without a restart.
    try:
        return BloomFilter.load(Path(path).read_bytes())
    except (OSError, ValueError, struct.error) as exc:
        log.error("KEYSTEAD_PASSWORD_FILTER=%s cannot be used (%s); only the built-in list "
                  "of common passwords is checked", path, exc)
        return None


_reported_missing: set[str] = set()


def operator_filter(path: str) -> BloomFilter | None:
    """The operator's extra filter, or None (logged once) if it cannot be read.

    A missing or damaged file must not stop every password change in the
    installation, so screening falls back to the built-in list and the error
    goes to the log and to ``keystead check``.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        if path not in _reported_missing:
            _reported_missing.add(path)
            log.error("KEYSTEAD_PASSWORD_FILTER=%s cannot be read (%s); only the built-in "
                      "list of common passwords is checked", path, exc.strerror or exc)
        return None
    _reported_missing.discard(path)
    return _load_operator_filter(path, stat.st_mtime_ns, stat.st_size)


def is_common(password: str, extra_path: str | None = None) -> bool:
    """Whether ``password`` is in the built-in list or in the operator's extra filter."""
    lowered = password.lower()
    if lowered in builtin_filter():
        return True
    extra = operator_filter(extra_path) if extra_path else None
    return extra is not None and lowered in extra
