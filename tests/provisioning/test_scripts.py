"""CEL transformation scripts: helpers give formats real verifiers accept, refusals are clear."""

from __future__ import annotations

import base64
import hashlib
import subprocess

import pytest
from argon2 import PasswordHasher

from keystead.provisioning import scripts, unix_crypt
from keystead.provisioning.secrets import EncodedSecret, wire_bytes
from keystead.secret import Secret

USER = {"username": "ada", "email": "ada@example.test", "given_name": "Ada",
        "family_name": "Lovelace", "full_name": "Ada Lovelace", "groups": ["staff"],
        "roles": [], "is_active": True}
PASSWORD = Secret("Input-Canary-7c41")


def test_an_ordinary_script_gets_the_value_and_plain_user_data() -> None:
    result = scripts.evaluate('value.lowerAscii() + "." + user.family_name + '
                              '(("staff" in user.groups) ? "+staff" : "")',
                              value="ADA", user=USER)
    assert result == "ada.Lovelace+staff"


def test_ssha_verifies_like_openldap_does() -> None:
    hashed = scripts.evaluate_password("ssha(value)", password=PASSWORD, user=USER)
    assert hashed.reveal().startswith("{SSHA}")
    raw = base64.b64decode(hashed.reveal()[6:])
    digest, salt = raw[:20], raw[20:]
    assert hashlib.sha1(PASSWORD.reveal().encode() + salt).digest() == digest


def _openssl_sha512_crypt(password: str, salt: str) -> str:
    """OpenSSL's own SHA-512 crypt, an implementation independent of libcrypt."""
    made = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
                          input=password, capture_output=True, text=True, check=True)
    return made.stdout.strip()


def test_argon2_and_crypt_sha512_verify() -> None:
    argon = scripts.evaluate_password("argon2(value)", password=PASSWORD, user=USER).reveal()
    assert argon.startswith("{ARGON2}$argon2id$")
    assert PasswordHasher().verify(argon.removeprefix("{ARGON2}"), PASSWORD.reveal())
    crypted = scripts.evaluate_password("sha512_crypt(value)", password=PASSWORD,
                                        user=USER).reveal()
    assert crypted.startswith("{CRYPT}$6$")
    stored = crypted.removeprefix("{CRYPT}")
    salt = stored.split("$")[2]
    assert len(salt) == 16
    assert _openssl_sha512_crypt(PASSWORD.reveal(), salt) == stored
    assert _openssl_sha512_crypt("wrong", salt) != stored
    again = scripts.evaluate_password("sha512_crypt(value)", password=PASSWORD, user=USER)
    assert again.reveal().split("$")[2] != salt  # a fresh salt every time


def test_libcrypt_checks_a_stored_hash_and_refuses_a_bad_setting() -> None:
    stored = _openssl_sha512_crypt(PASSWORD.reveal(), "saltsaltsaltsalt")
    assert unix_crypt.crypt(PASSWORD.reveal(), stored) == stored
    assert unix_crypt.crypt("wrong", stored) != stored
    assert unix_crypt.crypt(PASSWORD.reveal(), "$99$not-a-method") is None
    with pytest.raises(ValueError, match="NUL"):  # C would hash only what comes before it
        unix_crypt.crypt(PASSWORD.reveal() + "\x00tail", stored)


def test_ad_password_is_the_quoted_password_in_utf16le() -> None:
    encoded = scripts.evaluate_password("ad_password(value)", password=PASSWORD, user=USER)
    assert isinstance(encoded, EncodedSecret)
    assert wire_bytes(encoded) == f'"{PASSWORD.reveal()}"'.encode("utf-16-le")


def test_null_in_null_out_and_the_value_itself_is_a_secret() -> None:
    script = "value == null ? null : ssha(value)"
    assert scripts.evaluate_password(script, password=None, user=USER) is None
    assert scripts.evaluate_password("value", password=PASSWORD, user=USER) == PASSWORD


@pytest.mark.parametrize(("script", "words"), [
    ('"a fixed string"', "returned a string"),
    ("42", "returned a int"),
    ("[value]", "returned a list"),
    ('ssha("not a secret")', "ssha() takes a secret"),
    ("1 / 0", "divide by zero"),
    ("user.no_such_field", "no_such_field"),
    ("value +", "does not compile"),
])
def test_a_password_script_must_return_a_secret_or_null(script: str, words: str) -> None:
    with pytest.raises(scripts.ScriptError) as refused:
        scripts.evaluate_password(script, password=PASSWORD, user=USER)
    assert words in str(refused.value)
    assert PASSWORD.reveal() not in str(refused.value)


def test_a_script_cannot_copy_the_password_into_plain_data() -> None:
    # The script holds a handle, not the password: concatenation yields no password.
    with pytest.raises(scripts.ScriptError, match="returned a string"):
        scripts.evaluate_password('value + "x"', password=PASSWORD, user=USER)
    # An ordinary script has no secret to give a helper.
    with pytest.raises(scripts.ScriptError, match="takes a secret"):
        scripts.evaluate("ssha(value)", value="plain", user=USER)


def test_scripts_are_bounded() -> None:
    with pytest.raises(scripts.ScriptError, match="longer than"):
        scripts.check("1 + " * scripts.MAX_SCRIPT + "1")
    nested = "user.groups.map(a, [1,2,3,4,5,6,7,8,9,10].map(b, [1,2,3,4,5,6,7,8,9,10]" \
             ".map(c, [1,2,3,4,5,6,7,8,9,10].map(d, [1,2,3,4,5,6,7,8,9,10]" \
             ".map(e, [1,2,3,4,5,6,7,8,9,10].map(f, f))))))"
    with pytest.raises(scripts.ScriptError, match="budget"):
        scripts.evaluate(nested, value=None, user={**USER, "groups": ["x"] * 10})
