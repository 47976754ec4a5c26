"""Offline screening against common and breached passwords.

Two lists are consulted, and a password is refused if *either* holds it:

* the common passwords that come with Django (about 20,000), kept as a set:
  exact, and small enough that a probabilistic filter would save nothing;
* an operator's breach filter, built with ``keystead password-filter build``
  from a breach corpus (a Pwned Passwords download of SHA-1 hashes, or a
  plain list) and named by ``KEYSTEAD_PASSWORD_FILTER``. It adds to the
  built-in list and never replaces it.

The breach filter is a Bloom filter keyed by the SHA-1 of the password, the
form Pwned Passwords publishes, so a corpus of hundreds of millions of
hashes becomes a file of a few bytes per entry that answers "certainly not
listed" or "probably listed" offline, in microseconds, without holding the
passwords or their hashes. A password is looked up as typed and lower-cased,
so a listed password is not made acceptable by changing its case. At the
default false-positive rate (1 in 10,000) one unlisted password in ten
thousand is refused by mistake; the person simply chooses another.

The file is memory-mapped, so several web processes share one copy in the
page cache and a multi-gigabyte filter costs no start-up time. Files written
by earlier versions (``KSBF``: blake2b of the lower-cased password) are still
read.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import math
import mmap
import os
import re
import struct
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FALSE_POSITIVE_RATE = 1e-4
# Current format: magic, hash count, bit count, entries added, the rate it was sized for.
_HEADER = struct.Struct(">4sIQQd")
_MAGIC = b"KSB2"
# Earlier format, still read: magic, hash count, bit count; keys are blake2b of the
# lower-cased password, so it cannot hold SHA-1 hashes from a breach corpus.
_HEADER_V1 = struct.Struct(">4sIQ")
_MAGIC_V1 = b"KSBF"
BUILD_HINT = "make one with `keystead password-filter build FILE`"


class BloomFilter:
    """A Bloom filter over SHA-1 digests, with the positions from double hashing.

    SHA-1 output is already uniform, so its first two 64-bit words serve as
    the two hashes directly: a Pwned Passwords line is added without hashing
    anything again, which keeps building from a corpus of a billion lines in
    pure Python to a matter of an hour, not a day.
    """

    def __init__(self, bits: bytearray | memoryview, bit_count: int, hash_count: int, *,
                 entries: int | None = None, rate: float | None = None,
                 legacy: bool = False) -> None:
        self.bits = bits
        self.bit_count = bit_count
        self.hash_count = hash_count
        self.entries = entries  # None for an earlier-format file, which did not record it
        self.rate = rate
        self.legacy = legacy

    @classmethod
    def sized_for(cls, entries: int, rate: float = FALSE_POSITIVE_RATE) -> BloomFilter:
        """An empty filter for ``entries`` items at false-positive ``rate`` (optimal k)."""
        expected = max(entries, 1)
        bit_count = max(64, math.ceil(-expected * math.log(rate) / (math.log(2) ** 2)))
        hash_count = max(1, round(bit_count / expected * math.log(2)))
        return cls(bytearray((bit_count + 7) // 8), bit_count, hash_count, entries=0, rate=rate)

    # -- adding -----------------------------------------------------------

    def add_hashes(self, first: int, second: int) -> None:
        """Add the item whose SHA-1 starts with the 64-bit words ``first``, ``second``."""
        bits, size = self.bits, self.bit_count
        second |= 1  # an odd step never degenerates to one position
        for i in range(self.hash_count):
            pos = (first + i * second) % size
            bits[pos >> 3] |= 1 << (pos & 7)
        self.entries = (self.entries or 0) + 1

    def add(self, password: str) -> None:
        digest = sha1(password)
        self.add_hashes(int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big"))

    # -- asking -----------------------------------------------------------

    def _has(self, first: int, second: int) -> bool:
        bits, size = self.bits, self.bit_count
        second |= 1
        for i in range(self.hash_count):
            pos = (first + i * second) % size
            if not bits[pos >> 3] & (1 << (pos & 7)):
                return False
        return True

    def _has_legacy(self, item: str) -> bool:
        first, second = struct.unpack(
            ">QQ", hashlib.blake2b(item.encode(), digest_size=16).digest())
        return all(self.bits[pos >> 3] & (1 << (pos & 7))
                   for pos in ((first + i * second) % self.bit_count
                               for i in range(self.hash_count)))

    def __contains__(self, password: str) -> bool:
        if self.legacy:
            return self._has_legacy(password.lower())
        digest = sha1(password)
        return self._has(int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big"))

    # -- describing -------------------------------------------------------

    def estimated_entries(self) -> int:
        """The entries recorded, or for an earlier-format file an estimate from the bits set."""
        if self.entries is not None:
            return self.entries
        ones = sum(int.from_bytes(self.bits[i:i + (1 << 20)], "big").bit_count()
                   for i in range(0, len(self.bits), 1 << 20))
        if ones >= self.bit_count:
            return self.bit_count
        return round(-self.bit_count / self.hash_count * math.log(1 - ones / self.bit_count))

    def false_positive_rate(self) -> float:
        """The chance that an unlisted password is reported as listed, for the entries held."""
        fill = 1 - math.exp(-self.hash_count * self.estimated_entries() / self.bit_count)
        return fill ** self.hash_count

    # -- storing ----------------------------------------------------------

    def header(self) -> bytes:
        return _HEADER.pack(_MAGIC, self.hash_count, self.bit_count, self.entries or 0,
                            self.rate or 0.0)

    @classmethod
    def load(cls, data: bytes | memoryview) -> BloomFilter:
        """Read a dumped filter; ValueError names what is wrong with a damaged file."""
        view = memoryview(data)
        magic = bytes(view[:4])
        if magic == _MAGIC and len(view) >= _HEADER.size:
            _, hash_count, bit_count, entries, rate = _HEADER.unpack_from(view)
            bits, legacy = view[_HEADER.size:], False
        elif magic == _MAGIC_V1 and len(view) >= _HEADER_V1.size:
            _, hash_count, bit_count = _HEADER_V1.unpack_from(view)
            entries, rate, bits, legacy = None, None, view[_HEADER_V1.size:], True
        else:
            raise ValueError(f"not a Keystead password filter ({BUILD_HINT})")
        if not hash_count or not bit_count or len(bits) != (bit_count + 7) // 8:
            raise ValueError("the password filter is damaged or cut short; build it again")
        return cls(bits, bit_count, hash_count, entries=entries, rate=rate or None,
                   legacy=legacy)

    @classmethod
    def open(cls, path: str | Path) -> BloomFilter:
        """The filter in ``path``, memory-mapped read-only (shared by every process)."""
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                raise ValueError(f"the file is empty; {BUILD_HINT}")
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        return cls.load(memoryview(mapped))

    def write(self, target: Path) -> int:
        """Write the filter to ``target`` atomically; returns the size in bytes.

        Readers see the old file or the new one, never half of one: the filter
        is written beside the target and renamed over it.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=target.parent, delete=False,
                                         prefix=f".{target.name}.") as out:
            try:
                out.write(self.header())
                out.write(self.bits)
            except BaseException:
                os.unlink(out.name)
                raise
        os.chmod(out.name, 0o644)
        os.replace(out.name, target)
        return _HEADER.size + len(self.bits)


def sha1(password: str) -> bytes:
    return hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 - the corpus's key


def normalise_listed(password: str) -> str:
    """How a plain list's entry is stored: NFKC, without surrounding space, lower case."""
    return unicodedata.normalize("NFKC", password).strip().lower()


# -- reading a corpus -----------------------------------------------------

SHA1_LINE = re.compile(rb"[0-9A-Fa-f]{40}(?::\d+)?")
NTLM_LINE = re.compile(rb"[0-9A-Fa-f]{32}(?::\d+)?")
SAMPLE_LINES = 50


def detect_format(path: Path) -> str:
    """``sha1`` (Pwned Passwords: ``HASH:COUNT`` or bare hashes) or ``plain`` passwords.

    Judged from the first non-empty lines: if most of them are SHA-1 hex the
    file is hashes (a stray damaged line is then counted and left out); a
    password list whose first lines are mostly 40 hex digits is not a thing.
    ValueError for NTLM hashes, which cannot be compared with anything
    Keystead sees.
    """
    sample: list[bytes] = []
    with path.open("rb") as source:
        for line in source:
            line = line.strip()
            if line:
                sample.append(line)
            if len(sample) >= SAMPLE_LINES:
                break
    if sum(bool(SHA1_LINE.fullmatch(line)) for line in sample) * 2 > len(sample):
        return "sha1"
    if sum(bool(NTLM_LINE.fullmatch(line)) for line in sample) * 2 > len(sample):
        raise ValueError("the file holds NTLM hashes (32 hex digits); download the SHA-1 "
                         "version of the corpus instead")
    return "plain"


@dataclass
class CorpusStats:
    """What a pass over a corpus file read: kept entries and what was left out."""

    entries: int = 0
    below_min_count: int = 0
    malformed: int = 0
    first_malformed: int = 0  # line number
    not_utf8: int = 0
    first_not_utf8: int = 0


def corpus_hashes(source: BinaryIO, fmt: str, stats: CorpusStats, *, min_count: int = 0,
                  progress: Callable[[int], None] | None = None,
                  ) -> Iterator[tuple[int, int]]:
    """The two leading 64-bit words of each kept entry's SHA-1, in file order.

    ``progress`` is told how many bytes were read, now and then, so a bar can
    follow a file of many gigabytes without a call per line.
    """
    done = 0
    for number, line in enumerate(source, start=1):
        done += len(line)
        if progress is not None and not number & 0xFFFF:
            progress(done)
        if fmt == "sha1":
            line = line.strip()
            if not line:
                continue
            if not SHA1_LINE.fullmatch(line):
                stats.malformed += 1
                stats.first_malformed = stats.first_malformed or number
                continue
            if min_count > 1 and int(line[41:] or b"0") < min_count:
                stats.below_min_count += 1
                continue
            stats.entries += 1
            yield int(line[:16], 16), int(line[16:32], 16)
            continue
        try:
            text = normalise_listed(line.decode("utf-8"))
        except UnicodeDecodeError:
            stats.not_utf8 += 1
            stats.first_not_utf8 = stats.first_not_utf8 or number
            continue
        if text:
            stats.entries += 1
            digest = sha1(text)
            yield int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:16], "big")
    if progress is not None:
        progress(done)


def count_lines(path: Path, progress: Callable[[int], None] | None = None) -> int:
    """The lines in ``path``, counted in large blocks: an upper bound on its entries."""
    count, done, last = 0, 0, b"\n"
    with path.open("rb") as source:
        while block := source.read(1 << 22):
            count += block.count(b"\n")
            done += len(block)
            last = block[-1:]
            if progress is not None:
                progress(done)
    return count + (last != b"\n")


def build_from_corpus(path: Path, *, rate: float = FALSE_POSITIVE_RATE, min_count: int = 0,
                      progress: Callable[[str, int], None] | None = None,
                      ) -> tuple[BloomFilter, str, CorpusStats]:
    """A filter of the corpus in ``path``: (filter, format, what was read).

    Two passes: the first sizes the filter (a line count, or with ``min_count``
    the entries that qualify), the second adds them. Sizing from the real
    count, not a guess, is what makes the promised false-positive rate hold.
    ``progress(phase, bytes_read)`` follows both passes.
    """
    fmt = detect_format(path)

    def step(phase: str) -> Callable[[int], None] | None:
        return None if progress is None else (lambda done: progress(phase, done))

    if fmt == "sha1" and min_count > 1:
        sizing = CorpusStats()
        with path.open("rb") as source:
            for _ in corpus_hashes(source, fmt, sizing, min_count=min_count,
                                   progress=step("count")):
                pass
        expected = sizing.entries
    else:
        expected = count_lines(path, step("count"))
    bloom = BloomFilter.sized_for(expected, rate)
    stats = CorpusStats()
    add = bloom.add_hashes
    with path.open("rb") as source:
        for first, second in corpus_hashes(source, fmt, stats, min_count=min_count,
                                           progress=step("build")):
            add(first, second)
    return bloom, fmt, stats


# -- the lists screening consults --------------------------------------------


def django_common_passwords() -> list[str]:
    import django

    path = Path(django.__file__).parent / "contrib" / "auth" / "common-passwords.txt.gz"
    return gzip.decompress(path.read_bytes()).decode().split()


@cache
def builtin_list() -> frozenset[str]:
    """The list shipped with Keystead, lower-cased; always consulted."""
    return frozenset(normalise_listed(p) for p in django_common_passwords())


@lru_cache(maxsize=2)
def _load_operator_filter(path: str, mtime_ns: int, size: int) -> BloomFilter | None:
    # Keyed by modification time and size: a rebuilt file is picked up without a restart.
    try:
        return BloomFilter.open(path)
    except (OSError, ValueError, struct.error) as exc:
        log.error("KEYSTEAD_PASSWORD_FILTER=%s cannot be used (%s); only the built-in list "
                  "of common passwords is checked", path, exc)
        return None


_reported_missing: set[str] = set()


def operator_filter(path: str) -> BloomFilter | None:
    """The operator's breach filter, or None (logged once) if it cannot be read.

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


def in_filter(bloom: BloomFilter, password: str) -> bool:
    """Whether the filter (probably) holds ``password`` as typed or lower-cased."""
    return any(candidate in bloom for candidate in dict.fromkeys(
        (password, password.lower(), normalise_listed(password))))


def is_common(password: str, extra_path: str | None = None) -> bool:
    """Whether ``password`` is in the built-in list or in the operator's breach filter."""
    if normalise_listed(password) in builtin_list():
        return True
    extra = operator_filter(extra_path) if extra_path else None
    return extra is not None and in_filter(extra, password)


def build(passwords: Iterable[str], rate: float = FALSE_POSITIVE_RATE) -> BloomFilter:
    """A filter of plain ``passwords``, stored as a plain list's entries are."""
    unique = {normalise_listed(p) for p in passwords} - {""}
    bloom = BloomFilter.sized_for(len(unique), rate)
    for password in unique:
        bloom.add(password)
    return bloom
