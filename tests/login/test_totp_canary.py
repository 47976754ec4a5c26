"""The canary for second factors: a TOTP seed and backup codes leak nowhere.

The seed may appear only on the enrolment page (the person must copy it into
their app) and the codes only on the page that makes them. After that, neither
may be found in any log line, audit event, later HTTP response, or any table
(the seed is stored encrypted, the codes as keyed hashes).
"""

from __future__ import annotations

import re
import subprocess
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from keystead.directory.models import User
from keystead.policy.models import LogonPolicy, Strategy
from security.test_secret_canary import Exposure, exposure  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db]
PASSWORD = "Vellum-Orchid-Tapestry-42"


def oathtool(seed: str, at: float) -> str:
    return subprocess.run(["oathtool", "--totp", "-N", f"@{int(at)}", "-b", seed],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_totp_seed_and_backup_codes_leak_nowhere(exposure: Exposure):  # noqa: F811
    ada = User.objects.create_user("canary@example.com", "Ada", "Canary", password=PASSWORD)
    client = Client()
    client.force_login(ada)

    # enrolment: the one page allowed to show the seed
    client.post("/account/totp", {"name": "Phone", "algorithm": "SHA1", "digits": "6"})
    page = client.get("/account/totp").content.decode()
    uri = re.search(r'href="(otpauth://[^"]+)"', page).group(1).replace("&amp;", "&")
    seed = parse_qs(urlsplit(uri).query)["secret"][0]
    now = time.time()
    exposure.keep(client.post("/account/totp/confirm", {"code": oathtool(seed, now)},
                              follow=True))
    exposure.keep(client.get("/account/totp"))

    # backup codes: shown once
    made = client.post("/account/backup-codes").content.decode()
    codes = re.findall(r"<code>([0-9a-z]{5}-[0-9a-z]{5})</code>", made)
    assert len(codes) == 10
    exposure.keep(client.get("/account/backup-codes"))

    # sign in with each factor, with a wrong try first
    LogonPolicy.objects.update_or_create(
        pk=1, defaults={"login_strategy": Strategy.PASSWORD_AND_SECOND_FACTOR})
    for path, wrong, right in [
        ("/login/verify/totp", "123456", oathtool(seed, now + 30)),
        ("/login/verify/backup", "zzzzz-zzzzz", codes[0]),
    ]:
        person = Client()
        exposure.keep(person.post("/login/", {"username": ada.email, "password": PASSWORD}))
        exposure.keep(person.post(path, {"code": wrong}))
        exposure.keep(person.post(path, {"code": right}, follow=True))
        assert person.session.get("_auth_user_id") == str(ada.pk)
    for secret in [seed, " ".join(seed[i:i + 4] for i in range(0, 32, 4)), *codes,
                   *(c.replace("-", "") for c in codes)]:
        assert exposure.places_holding(secret) == [], secret
