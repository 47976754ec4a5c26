"""keystead password-filter build / check, the breach filter in screening, keystead check."""

from __future__ import annotations

import hashlib
import math
import re
import struct

import pytest

from keystead.directory.models import User
from keystead.policy import screening
from keystead.policy.models import LogonPolicy
from keystead.policy.services import password_problems
from keystead.secret import Secret

pytestmark = pytest.mark.django_db

BREACHED = ["Zephyr-Quill-Orchard-88", "glacier-moth-lantern-51", "Unlisted-Heron-Basalt-19x"]


def pwned_line(password: str, count: int) -> str:
    """A line as Pwned Passwords publishes it: upper-case SHA-1 hex, a colon, the count."""
    return f"{hashlib.sha1(password.encode()).hexdigest().upper()}:{count}\r\n"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "pwned-passwords-sha1.txt"
    path.write_text(pwned_line(BREACHED[0], 120) + pwned_line(BREACHED[1], 3)
                    + pwned_line(BREACHED[2], 1) + "not a hash line\r\n"
                    + pwned_line("Some-Other-Password-7", 40))
    return path


def one_in(text: str) -> int:
    """N from the first "about 1 in N" in ``text``."""
    found = re.search(r"about 1 in ([\d,]+)", text)
    assert found, text
    return int(found[1].replace(",", ""))


def codes(password: str, user: User) -> list[str]:
    return [f.code for f in password_problems(Secret(password), user=user)]


def test_build_from_pwned_passwords_shows_progress_and_screening_uses_it(
        cli, corpus, tmp_path, settings):
    out = tmp_path / "filters" / "breached.ksbf"
    result = cli("password-filter", "build", str(corpus), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "Counting entries" in result.stderr and "Building filter" in result.stderr
    assert f"{corpus.stat().st_size}/{corpus.stat().st_size} bytes" in result.stderr
    assert f"Wrote {out}: 4 SHA-1 hashes" in result.stdout
    assert "Left out 1 lines that are not HASH:COUNT (first: line 4)" in result.stdout
    # The default rate is 1 in 10,000; sized for 5 lines and holding 4, it does better.
    assert one_in(result.stdout) >= 10_000

    settings.PASSWORD_FILTER_FILE = str(out)
    ada = User.objects.create_user("ada@example.com", "Ada", "Lovelace")
    assert codes("Zephyr-Quill-Orchard-88", ada) == ["common"]
    assert codes("Glacier-Moth-Lantern-51", ada) == ["common"]  # lower-cased, it is listed
    assert codes("Harbour violet compass lantern", ada) == []
    assert codes("Zephyr-Quill-Orchard-89", ada) == []
    assert codes("1q2w3e4r5t6y7u8i9o0p", ada) == ["common"]  # the built-in list still applies


def test_min_count_keeps_only_often_seen_hashes(cli, corpus, tmp_path):
    out = tmp_path / "often.ksbf"
    result = cli("password-filter", "build", str(corpus), "-o", str(out), "--min-count", "10")
    assert result.exit_code == 0, result.output
    assert "2 SHA-1 hashes" in result.stdout
    assert "Left out 2 hashes seen fewer than 10 times" in result.stdout
    bloom = screening.BloomFilter.open(out)
    assert BREACHED[0] in bloom and BREACHED[1] not in bloom
    assert bloom.entries == 2


def test_a_plain_list_and_the_rate_option(cli, tmp_path):
    source = tmp_path / "forbidden.txt"
    source.write_text("Keystead-Company-Name\nacme widgets corp\n")
    out = tmp_path / "plain.ksbf"
    result = cli("password-filter", "build", str(source), "-o", str(out),
                 "--false-positive-rate", "0.001")
    assert result.exit_code == 0, result.output
    assert "2 passwords" in result.stdout
    bloom = screening.BloomFilter.open(out)
    assert (bloom.entries, bloom.rate) == (2, 0.001)
    assert screening.in_filter(bloom, "KEYSTEAD-company-name")  # a plain list ignores case
    assert not screening.in_filter(bloom, "Keystead-Company-Name-2")


@pytest.mark.parametrize(("args", "message"), [
    (("--false-positive-rate", "0.5"), "--false-positive-rate"),
    (("--false-positive-rate", "0"), "between 0.000000001 and 0.1"),
])
def test_bad_options_are_named(cli, corpus, args, message):
    result = cli("password-filter", "build", str(corpus), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_ntlm_and_empty_files_are_refused_with_the_fix(cli, tmp_path):
    ntlm = tmp_path / "pwned-passwords-ntlm.txt"
    ntlm.write_text("8846F7EAEE8FB117AD06BDD830B7586C:52\r\n" * 3)
    result = cli("password-filter", "build", str(ntlm), "-o", str(tmp_path / "x.ksbf"))
    assert result.exit_code == 2
    assert "NTLM hashes" in result.output and "SHA-1 version" in result.output
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = cli("password-filter", "build", str(empty), "-o", str(tmp_path / "y.ksbf"))
    assert result.exit_code == 2 and "no passwords or SHA-1 hashes found" in result.output
    assert not (tmp_path / "y.ksbf").exists()


def test_the_default_output_is_the_configured_filter(cli, corpus, tmp_path, settings):
    settings.PASSWORD_FILTER_FILE = str(tmp_path / "configured.ksbf")
    result = cli("password-filter", "build", str(corpus))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "configured.ksbf").exists()


def test_check_asks_at_a_hidden_prompt(cli, corpus, tmp_path, settings):
    out = tmp_path / "breached.ksbf"
    cli("password-filter", "build", str(corpus), "-o", str(out))
    settings.PASSWORD_FILTER_FILE = str(out)

    listed = cli("password-filter", "check", input="Zephyr-Quill-Orchard-88\n")
    assert listed.exit_code == 1
    assert f"Breach filter {out}: listed" in listed.stdout
    assert "Zephyr" not in listed.output  # neither the prompt nor a message echoes it

    unlisted = cli("password-filter", "check", input="Harbour violet compass lantern\n")
    assert unlisted.exit_code == 0, unlisted.output
    assert f"Breach filter {out}: not listed." in unlisted.stdout
    assert "Built-in list of common passwords: not listed." in unlisted.stdout
    assert "Strength (zxcvbn): 4 of 4" in unlisted.stdout
    assert "Harbour" not in unlisted.output

    weak = cli("password-filter", "check", "--filter", str(out), input="passwordpassword\n")
    assert weak.exit_code == 0
    assert "Strength (zxcvbn): 0 of 4" in weak.stdout

    settings.PASSWORD_FILTER_FILE = None
    none = cli("password-filter", "check", input="password\n")
    assert none.exit_code == 1  # the built-in list holds it
    assert "Breach filter: not configured" in none.stdout
    assert "Built-in list of common passwords: listed." in none.stdout
    broken = cli("password-filter", "check", "--filter", str(tmp_path / "nope"), input="x\n")
    assert broken.exit_code == 2 and "--filter: cannot read" in broken.output


def test_keystead_check_names_the_screening(cli, corpus, tmp_path, settings):
    settings.PASSWORD_FILTER_FILE = None
    plain = cli("check").stdout
    assert ("OK    password screening: common-password list (" in plain
            and "built in), breach filter: not configured" in plain)
    assert "guessability (zxcvbn) minimum score 3 of 4" in plain

    out = tmp_path / "breached.ksbf"
    cli("password-filter", "build", str(corpus), "-o", str(out))
    settings.PASSWORD_FILTER_FILE = str(out)
    configured = cli("check").stdout
    assert f"breach filter {out} (4 entries, about 1 in " in configured
    assert one_in(configured) >= 10_000

    LogonPolicy.current()
    LogonPolicy.objects.update(min_strength=0)
    off = cli("check").stdout
    assert "WARN  password screening:" in off
    assert "guessability (zxcvbn): off (min_strength=0)" in off
    assert "keystead policy set min_strength=3" in off


def test_a_filter_from_an_earlier_version_is_still_read(tmp_path):
    """The first format (KSBF) keyed blake2b of the lower-cased password."""
    words = ["zephyr-quill-orchard-88", "glacier-moth-lantern-51"]
    bit_count, hash_count = 1024, 7
    bits = bytearray(bit_count // 8)
    for word in words:
        first, second = struct.unpack(">QQ", hashlib.blake2b(word.encode(),
                                                             digest_size=16).digest())
        for i in range(hash_count):
            pos = (first + i * second) % bit_count
            bits[pos >> 3] |= 1 << (pos & 7)
    old = tmp_path / "old.ksbf"
    old.write_bytes(struct.pack(">4sIQ", b"KSBF", hash_count, bit_count) + bytes(bits))
    assert screening.is_common("Zephyr-Quill-Orchard-88", str(old))
    assert not screening.is_common("Harbour violet compass lantern", str(old))
    bloom = screening.BloomFilter.open(old)
    assert bloom.estimated_entries() == 2
    assert math.isclose(bloom.false_positive_rate(), (1 - math.exp(-14 / 1024)) ** 7)
