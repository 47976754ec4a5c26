"""Authenticator apps (RFC 6238): codes come from Debian's ``oathtool``, an independent
implementation, never from our own code."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import time_machine
from django.test import Client

from keystead import crypto
from keystead.directory.authorization import OPERATOR
from keystead.directory.models import Event, User
from keystead.login import totp
from keystead.login.models import TotpDevice
from keystead.policy.models import LogonPolicy, Strategy
from keystead.secret import Secret

PASSWORD = "Vellum-Orchid-Tapestry-42"
T0 = 1_700_000_010  # a fixed clock: 10 s into time step 56_666_667
STEP0 = T0 // 30


def oathtool(seed: str, at: float, algorithm: str = "SHA1", digits: int = 6) -> str:
    """The code Debian's oathtool computes for ``seed`` at Unix time ``at``."""
    if shutil.which("oathtool") is None:
        pytest.fail("oathtool not found: install Debian's oathtool (make test-deps).")
    mode = "--totp" if algorithm == "SHA1" else "--totp=sha256"
    return subprocess.run(
        ["oathtool", mode, "-d", str(digits), "-N", f"@{int(at)}", "-b", seed],
        check=True, capture_output=True, text=True).stdout.strip()


def seed_from_page(html: str) -> str:
    uri = re.search(r'href="(otpauth://[^"]+)"', html).group(1).replace("&amp;", "&")
    return parse_qs(urlsplit(uri).query)["secret"][0]


# --------------------------------------------------------------------- pure


SEED = Secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


@pytest.mark.parametrize(("algorithm", "digits"),
                         [("SHA1", 6), ("SHA1", 8), ("SHA256", 6), ("SHA256", 8)])
def test_codes_agree_with_oathtool(algorithm, digits):
    params = totp.Params(algorithm, digits)
    code = oathtool(SEED.reveal(), T0, algorithm, digits)
    assert len(code) == digits
    assert totp.code_for_step(SEED, STEP0, params) == code
    assert totp.matching_step(SEED, code, T0, params) == STEP0


def test_one_step_either_side_is_accepted_two_are_not():
    params = totp.Params()
    for offset, expected in [(-30, STEP0 - 1), (30, STEP0 + 1), (0, STEP0)]:
        assert totp.matching_step(SEED, oathtool(SEED.reveal(), T0 + offset), T0,
                                  params) == expected
    for offset in (-60, 60, 3600):
        assert totp.matching_step(SEED, oathtool(SEED.reveal(), T0 + offset), T0,
                                  params) is None


def test_malformed_codes_are_refused_and_spaces_ignored():
    params = totp.Params()
    code = oathtool(SEED.reveal(), T0)
    assert totp.matching_step(SEED, f"{code[:3]} {code[3:]}", T0, params) == STEP0
    for bad in ("", "12345", "1234567", "abcdef", code + "0"):
        assert totp.matching_step(SEED, bad, T0, params) is None


def test_sha256_code_is_not_a_sha1_code():
    code = oathtool(SEED.reveal(), T0, "SHA256", 6)
    assert totp.matching_step(SEED, code, T0, totp.Params("SHA1", 6)) is None


def test_params_refuse_unsupported_values():
    for bad in ({"algorithm": "MD5"}, {"digits": 7}, {"period": 0}):
        with pytest.raises(ValueError):
            totp.Params(**bad)


def test_new_seed_is_160_random_bits():
    seeds = {totp.new_seed().reveal() for _ in range(50)}
    assert len(seeds) == 50
    assert all(len(s) == 32 and re.fullmatch(r"[A-Z2-7]{32}", s) for s in seeds)


def test_provisioning_uri_names_everything():
    uri = totp.provisioning_uri(SEED, "ada+x@example.com", totp.Params("SHA256", 8))
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Keystead:ada+x@example.com"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {"secret": SEED.reveal(), "issuer": "Keystead", "algorithm": "SHA256",
                     "digits": "8", "period": "30"}
    # oathtool agrees with what an app would compute from the URI
    code = oathtool(query["secret"], T0, "SHA256", 8)
    assert totp.matching_step(Secret(query["secret"]), code, T0,
                              totp.Params("SHA256", 8)) == STEP0


def test_qr_code_is_an_inline_svg():
    data = totp.qr_data_uri("otpauth://totp/x")
    assert data.startswith("data:image/svg+xml;base64,")
    assert "<svg" in totp.qr_svg("otpauth://totp/x")


def test_crypto_round_trip_purpose_and_tampering(settings):
    token = crypto.encrypt(SEED, "totp")
    assert SEED.reveal() not in token
    assert crypto.decrypt(token, "totp") == SEED
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "other-purpose")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-4] + "AAAA", "totp")
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "n" * 60, [old_key]
    assert crypto.decrypt(token, "totp") == SEED  # rotation keeps old values readable
    rotated = crypto.reencrypt(token, "totp")
    settings.SECRET_KEY_FALLBACKS = []
    assert crypto.decrypt(rotated, "totp") == SEED
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, "totp")


# ------------------------------------------------------------ with a database


@pytest.fixture
def ada(db):
    return User.objects.create_user("ada@example.com", "Ada", "Lovelace", password=PASSWORD)


def enrolled(user, algorithm="SHA1", digits=6, at=T0) -> tuple[TotpDevice, str]:
    device = totp.start_enrolment(user, algorithm=algorithm, digits=digits)
    seed = totp.seed_of(device).reveal()
    assert totp.confirm(user, device, oathtool(seed, at, algorithm, digits), now=at)
    device.refresh_from_db()
    return device, seed


def test_a_code_is_accepted_once_and_older_steps_after_it_never(ada):
    _, seed = enrolled(ada, at=T0 - 90)
    code = oathtool(seed, T0)
    assert totp.verify(ada, code, now=T0).ok
    again = totp.verify(ada, code, now=T0)
    assert (again.ok, again.reason) == (False, "code already used")
    # the previous step is still inside the window, but older than the code just used
    assert totp.verify(ada, oathtool(seed, T0 - 30), now=T0).reason == "code already used"
    assert totp.verify(ada, oathtool(seed, T0 + 30), now=T0).ok
    assert totp.verify(ada, "000000" if code != "000000" else "111111",
                       now=T0 + 60).reason in ("wrong code", "code already used")


def test_the_confirmation_code_cannot_be_used_again_to_sign_in(ada):
    _, seed = enrolled(ada, at=T0)
    assert totp.verify(ada, oathtool(seed, T0), now=T0).reason == "code already used"


def test_unconfirmed_device_does_not_count(ada):
    device = totp.start_enrolment(ada)
    assert not totp.has_device(ada)
    seed = totp.seed_of(device).reveal()
    assert not totp.verify(ada, oathtool(seed, T0), now=T0).ok


def test_seed_is_stored_encrypted(ada):
    device, seed = enrolled(ada, "SHA256", 8)
    row = TotpDevice.objects.filter(pk=device.pk).values().get()
    assert seed not in repr(row)
    assert (row["algorithm"], row["digits"], row["period"]) == ("SHA256", 8, 30)


def test_registry_offers_and_resets_totp(ada):
    from keystead.login import factors

    assert "totp" not in [m.key for m in factors.methods_for(ada)]
    enrolled(ada)
    method = factors.get("totp")
    assert method.order == 20 and method.url_name == "login_verify_totp"
    assert "totp" in [m.key for m in factors.methods_for(ada)]
    assert factors.reset_second_factors(ada, actor=OPERATOR)["totp"] == 1
    assert not totp.has_device(ada)


# ----------------------------------------------------------------- the pages


@pytest.fixture
def browser(ada) -> Client:
    client = Client()
    client.force_login(ada)
    return client


def enrol_through_portal(client: Client, at: float, **choice) -> str:
    form = {"name": "Phone", "algorithm": "SHA1", "digits": "6", **choice}
    assert client.post("/account/totp", form).status_code == 302
    page = client.get("/account/totp").content.decode()
    assert "otpauth://totp/Keystead%3Aada%40example.com?" in page
    assert 'src="data:image/svg+xml;base64,' in page
    seed = seed_from_page(page)
    code = oathtool(seed, at, form["algorithm"], int(form["digits"]))
    with time_machine.travel(at, tick=False):
        response = client.post("/account/totp/confirm", {"code": code})
    assert response.status_code == 302, response.content.decode()
    return seed


def test_enrolment_in_the_portal(browser, ada):
    home = browser.get("/").content.decode()
    assert 'href="/account/totp"' in home and 'href="/account/backup-codes"' in home
    browser.post("/account/totp", {"name": "Phone", "algorithm": "SHA256", "digits": "8"})
    page = browser.get("/account/totp")
    assert page["Cache-Control"].startswith("max-age=0")
    seed = seed_from_page(page.content.decode())
    assert "algorithm=SHA256" in page.content.decode() and "digits=8" in page.content.decode()
    with time_machine.travel(T0, tick=False):
        wrong = browser.post("/account/totp/confirm", {"code": "12345678"})
        assert wrong.status_code == 400
        assert "That code is not right" in wrong.content.decode()
        assert not totp.has_device(ada)
        done = browser.post("/account/totp/confirm",
                            {"code": oathtool(seed, T0, "SHA256", 8)}, follow=True)
    text = done.content.decode()
    assert "“Phone” is set up" in text
    assert seed not in text and "otpauth://" not in text  # never shown again
    device = TotpDevice.objects.get(user=ada)
    assert device.confirmed_at and (device.algorithm, device.digits) == ("SHA256", 8)
    actions = list(Event.objects.filter(action__startswith="totp.").order_by("pk")
                   .values_list("action", "outcome"))
    assert actions == [("totp.enrol.start", "success"), ("totp.enrol", "failure"),
                       ("totp.enrol", "success")]
    assert seed not in repr(list(Event.objects.values()))


def test_cancel_and_restart_enrolment_replaces_the_seed(browser, ada):
    browser.post("/account/totp", {"name": "A", "algorithm": "SHA1", "digits": "6"})
    first = seed_from_page(browser.get("/account/totp").content.decode())
    browser.post("/account/totp/cancel")
    assert not TotpDevice.objects.filter(user=ada).exists()
    browser.post("/account/totp", {"name": "A", "algorithm": "SHA1", "digits": "6"})
    assert seed_from_page(browser.get("/account/totp").content.decode()) != first


def test_bad_choices_are_refused_with_a_message(browser, ada):
    response = browser.post("/account/totp", {"name": "A", "algorithm": "MD5", "digits": "7"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not TotpDevice.objects.exists()


def test_removal_needs_the_password_or_a_current_code(browser, ada):
    seed = enrol_through_portal(browser, T0)
    device = TotpDevice.objects.get(user=ada)
    url = f"/account/totp/{device.pk}/remove"
    refused = browser.post(url, {"credential": "not it"})
    assert refused.status_code == 200
    assert "neither your current password" in refused.content.decode()
    assert TotpDevice.objects.filter(pk=device.pk).exists()
    with time_machine.travel(T0 + 30, tick=False):
        assert browser.post(url, {"credential": oathtool(seed, T0 + 30)}).status_code == 302
    assert not totp.has_device(ada)
    assert list(Event.objects.filter(action="totp.remove").order_by("pk")
                .values_list("outcome", flat=True)) \
        == ["failure", "success"]


def test_removal_with_the_password(browser, ada):
    enrol_through_portal(browser, T0)
    device = TotpDevice.objects.get(user=ada)
    assert browser.post(f"/account/totp/{device.pk}/remove",
                        {"credential": PASSWORD}).status_code == 302
    assert not totp.has_device(ada)


def test_someone_elses_device_is_not_found(browser, db):
    bob = User.objects.create_user("bob@example.com", "Bob", "B", password=PASSWORD)
    device, _ = enrolled(bob)
    assert browser.post(f"/account/totp/{device.pk}/remove",
                        {"credential": PASSWORD}).status_code == 404
    assert TotpDevice.objects.filter(pk=device.pk).exists()


def require_second_factor():
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})


def sign_in_with_password(client: Client):
    response = client.post("/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert response["Location"] == "/login/verify/"
    chooser = client.get("/login/verify/")  # straight to the app, or a list that offers it
    assert chooser.get("Location") == "/login/verify/totp" or \
        'href="/login/verify/totp"' in chooser.content.decode()


def test_sign_in_with_a_code_and_a_reused_code_is_refused(browser, ada):
    seed = enrol_through_portal(browser, T0)
    require_second_factor()
    code = oathtool(seed, T0 + 30)
    with time_machine.travel(T0 + 30, tick=False):
        first = Client()
        sign_in_with_password(first)
        assert "_auth_user_id" not in first.session
        done = first.post("/login/verify/totp", {"code": code})
        assert done["Location"] == "/"
        assert first.session["_auth_user_id"] == str(ada.pk)

        second = Client()
        sign_in_with_password(second)
        refused = second.post("/login/verify/totp", {"code": code})
        assert refused.status_code == 200
        assert "That code was already used" in refused.content.decode()
        assert "_auth_user_id" not in second.session
    failures = Event.objects.filter(action="login.second_factor", outcome="failure")
    assert [e.detail for e in failures] == [{"method": "totp", "reason": "code already used"}]
    assert Event.objects.filter(action="login.second_factor", outcome="success",
                                detail__method="totp").count() == 1
    ada.refresh_from_db()
    assert ada.failed_logins == 1


def test_wrong_codes_lock_the_account(browser, ada):
    enrol_through_portal(browser, T0)
    require_second_factor()
    LogonPolicy.objects.filter(pk=1).update(code_max_attempts=3)
    client = Client()
    with time_machine.travel(T0 + 30, tick=False):
        sign_in_with_password(client)
        for _ in range(2):
            assert "That code is not right" in client.post(
                "/login/verify/totp", {"code": "000000"}).content.decode()
        last = client.post("/login/verify/totp", {"code": "000000"})
        assert last["Location"] == "/login/"
        ada.refresh_from_db()
        assert ada.is_locked()
    assert Event.objects.filter(action="user.lock", target_id=str(ada.pk)).exists()


def test_verify_page_without_a_pending_sign_in_sends_to_sign_in(db):
    assert Client().get("/login/verify/totp")["Location"] == "/login/"
    assert Client().post("/login/verify/totp", {"code": "123456"})["Location"] == "/login/"
