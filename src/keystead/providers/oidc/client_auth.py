"""Who is calling the token endpoint: the one client authentication of every grant.

RFC 6749 §2.3.1: a confidential client sends its id and secret in HTTP Basic
(each form-urlencoded first) or as ``client_id`` / ``client_secret`` in the body;
a public client sends only ``client_id`` (§3.2.1) and has no secret to check.

``authenticate`` is called by Keystead's own refresh and client-credentials
grants and by the toolkit's validator hooks (``KeysteadValidator.authenticate_client``
and ``authenticate_client_id``), which the toolkit's code and password grants,
revocation and introspection go through. So every door refuses the same
clients for the same reasons. The application is read with its token settings
in one query, because every caller asks for them next (which grants it may use,
lifetimes, the ID-token algorithm).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

Application = get_application_model()


class InvalidClient(Exception):
    """The client could not be authenticated (RFC 6749 §5.2 ``invalid_client``).

    ``used_basic`` says whether the client tried HTTP Basic: the 401 answer's challenge
    then names that scheme (§5.2). ``error``, ``status`` and ``description`` are the
    answer to send, so a caller that knows only this class still refuses correctly.
    """

    error = "invalid_client"
    status = 401
    description = ""

    def __init__(self, *, used_basic: bool) -> None:
        super().__init__("client authentication failed")
        self.used_basic = used_basic


class ConflictingClientIds(InvalidClient):
    """HTTP Basic names one client and the body's ``client_id`` another: 400
    ``invalid_request``, not ``invalid_client``.

    RFC 6749 §2.3 lets a client use one authentication method per request. A body
    ``client_id`` that differs from the Basic one is a confused request (a proxy or
    library mixing two clients' settings), and answering it as the Basic client would
    hand that client tokens the request may have meant for the other. The same id in
    both places is what many client libraries send, and is accepted.
    """

    error = "invalid_request"
    status = 400
    description = ("client_id in the body names a different client than the HTTP Basic "
                   "credentials; send the client's id in one place only (RFC 6749 §2.3).")


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str | None  # None: none was sent (a public client)
    used_basic: bool


def credentials_from(authorization: str, form: Mapping) -> Credentials | None:
    """The client's id and secret from the Authorization header or the form; None if absent.

    A malformed Basic header is an answer too (no credentials), never an exception.
    """
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            return None
        return Credentials(unquote_plus(client_id), unquote_plus(secret), used_basic=True)
    client_id = form.get("client_id") or ""
    if not client_id:
        return None
    return Credentials(client_id, form.get("client_secret"), used_basic=False)


def tried_basic(authorization: str) -> bool:
    """Whether the Authorization header names the Basic scheme (well formed or not)."""
    return (authorization or "").partition(" ")[0].lower() == "basic"


def secret_matches(sent: str, stored: str) -> bool:
    """The sent secret against the stored one: hashed (the usual case, any hasher Django
    knows) or in clear for an application registered with ``hash_client_secret`` off."""
    try:
        identify_hasher(stored)
    except ValueError:
        return hmac.compare_digest(sent.encode(), stored.encode())
    return check_password(sent, stored)


@functools.cache
def _stand_in_hash(hasher: str) -> str:
    """A hash of a random value, with the client-secret hasher, made once per process."""
    return make_password(secrets.token_urlsafe(32), hasher=hasher)


def _spend_a_verification(sent: str) -> None:
    """An unknown client's secret is checked against a stand-in hash, so that an
    unknown client id and a wrong secret take the same work, not only the same answer
    (no enumeration of client ids by timing; Django's ``ModelBackend`` does the same
    for unknown usernames)."""
    check_password(sent, _stand_in_hash(oauth2_settings.CLIENT_SECRET_HASHER))


def authenticate(authorization: str, form: Mapping):
    """The calling application, its token settings loaded with it; or ``InvalidClient``.

    ``authorization`` is the request's Authorization header, ``form`` holds the body's
    ``client_id`` and ``client_secret``. A confidential client must send its secret; a
    public client must send none (an empty one counts as none). Every failure is the
    same ``InvalidClient``, and an unknown client costs a secret verification too;
    HTTP Basic with a different ``client_id`` in the body is ``ConflictingClientIds``
    (one of them), whatever the credentials.
    """
    credentials = credentials_from(authorization, form)
    if credentials is None:
        # A Basic header that does not decode is still an attempt at HTTP Basic: the
        # answer's challenge names Basic (RFC 6749 §5.2), as the toolkit's grants say.
        raise InvalidClient(used_basic=tried_basic(authorization))
    if credentials.used_basic and form.get("client_id") not in (None, "",
                                                                credentials.client_id):
        raise ConflictingClientIds(used_basic=True)  # before any lookup: nothing to spend
    try:
        # ``get``, not ``first``: the client id is unique, so no ORDER BY to build.
        application = (Application.objects.select_related("keystead_settings")
                       .get(client_id=credentials.client_id))
    except (Application.DoesNotExist, ValueError):  # ValueError: a NUL byte PostgreSQL
        application = None  # cannot take, which no client id has
    if application is None:
        if credentials.secret:
            _spend_a_verification(credentials.secret)
        raise InvalidClient(used_basic=credentials.used_basic)
    if application.client_type == Application.CLIENT_CONFIDENTIAL:
        if not credentials.secret or not secret_matches(credentials.secret,
                                                        application.client_secret):
            raise InvalidClient(used_basic=credentials.used_basic)
    elif credentials.secret:
        raise InvalidClient(used_basic=credentials.used_basic)
    return application
