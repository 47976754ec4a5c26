"""Offline screening against common and breached passwords: a compact Bloom filter.

The filter ships with Keystead, built from the list of common passwords that
comes with Django (about 20,000 entries) and any list an operator adds with
``keystead policy build-filter``. A Bloom filter answers "certainly not in the
list" or "probably in the list" in a few microseconds from a few bits per
entry, without a network call and without shipping the passwords themselves.
At the false-positive rate used here (1 in 10,000), one strong password in ten
thousand is refused by mistake; the user simply chooses another.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
from collections.abc import Iterable
from functools import cache
from pathlib import Path

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
        magic, hash_count, bit_count = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise ValueError("not a Keystead password filter")
        return cls(bytearray(data[_HEADER.size:]), bit_count, hash_count)


def build(passwords: Iterable[str]) -> BloomFilter:
    unique = {p.strip().lower() for p in passwords if p.strip()}
    bloom = BloomFilter.sized_for(len(unique))
    for password in unique:
        bloom.add(password)
    return bloom


def django_common_passwords() -> list[str]:
    import django

    path = Path(django.__file__).parent / "contrib" / "auth" / "common-passwords.txt.gz"
    return gzip.decompress(path.read_bytes()).decode().split()


@cache
def default_filter(extra_path: str | None = None) -> BloomFilter:
    """The filter in use: Django's common list, plus an operator's filter file if set."""
    if extra_path:
        return BloomFilter.load(Path(extra_path).read_bytes())
    return build(django_common_passwords())


def is_common(password: str, extra_path: str | None = None) -> bool:
    return password.lower() in default_filter(extra_path)
