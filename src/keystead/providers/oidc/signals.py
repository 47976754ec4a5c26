"""Receivers: revoke tokens when a password changes or a person's access ends; tell the
applications by back-channel logout when a session ends (``backchannel``); audit tokens
handed out."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.signals import app_authorized

from keystead.directory import audit
from keystead.directory.signals import access_ended, password_changed, sessions_ended
from keystead.providers.oidc import backchannel

log = logging.getLogger(__name__)


def revoke_user_tokens(user) -> tuple[int, int]:
    """Revoke every refresh token and delete every access token of ``user``.

    Revoked refresh tokens are kept (not deleted) so a later attempt to use one is
    recognised as reuse. Returns (refresh tokens revoked, access tokens deleted).
    """
    RefreshToken = get_refresh_token_model()
    AccessToken = get_access_token_model()
    with transaction.atomic():
        refreshed = RefreshToken.objects.filter(user=user, revoked__isnull=True).update(
            revoked=timezone.now())
        accessed, _ = AccessToken.objects.filter(user=user).delete()
    return refreshed, accessed


@receiver(password_changed, dispatch_uid="keystead-oidc-revoke-on-password-change")
def _revoke_on_password_change(sender, user, request=None, **kwargs) -> None:
    refreshed, accessed = revoke_user_tokens(user)
    if refreshed or accessed:
        audit.record("oidc.tokens_revoked", request=request, target=user,
                     detail={"reason": "password changed", "refresh_tokens": refreshed,
                             "access_tokens": accessed})


@receiver(access_ended, dispatch_uid="keystead-oidc-revoke-on-access-ended")
def _revoke_on_access_ended(sender, user, request=None, reason="", **kwargs) -> None:
    """An account disabled or signed out everywhere: its tokens end now, not when they
    expire. Revoked refresh tokens stay revoked and access tokens are gone, so enabling
    the account again revives none of them."""
    refreshed, accessed = revoke_user_tokens(user)
    audit.record("oidc.tokens_revoked", request=request, target=user,
                 detail={"reason": (reason or "access ended")[:100],
                         "refresh_tokens": refreshed, "access_tokens": accessed})


@receiver(app_authorized, dispatch_uid="keystead-oidc-audit-token-issued")
def _audit_token_issued(sender, request, token, **kwargs) -> None:
    """The toolkit's grants (authorization code, password): DOT's token view sends
    ``app_authorized`` for each. Keystead's own refresh and client-credentials grants
    record the same Event themselves, in the transaction that stores the token."""
    # The toolkit hands over the bare row: its person and application in one query.
    token = type(token).objects.select_related("user", "application").get(pk=token.pk)
    # Never the token itself: which application, for whom, which scopes, which grant.
    audit.record("oidc.token_issued", request=request, actor=token.user, target=token.application,
                 actor_label="" if token.user else f"client {token.application.client_id}",
                 detail={"scope": token.scope, "client_id": token.application.client_id,
                         "grant_type": request.POST.get("grant_type", "")[:64]})


def _queue_logouts(queue, *args, **kwargs) -> None:
    """Queue back-channel logouts without ever failing the sign-out that caused them: a
    problem is logged, and the savepoint keeps the caller's transaction usable."""
    try:
        with transaction.atomic():
            queue(*args, **kwargs)
    except Exception:
        log.exception("could not queue back-channel logouts")


@receiver(user_logged_out, dispatch_uid="keystead-oidc-backchannel-on-sign-out")
def _backchannel_on_sign_out(sender, request, user=None, **kwargs) -> None:
    """The portal's or the console's sign-out (Django's ``logout``, before the session is
    flushed): the applications this session signed in to are told."""
    if user is not None and request is not None:
        _queue_logouts(backchannel.session_ended, request, user)


@receiver(access_ended, dispatch_uid="keystead-oidc-backchannel-on-access-ended")
def _backchannel_on_access_ended(sender, user, reason="", **kwargs) -> None:
    """Signed out everywhere, or disabled: every session's applications are told."""
    _queue_logouts(backchannel.person_signed_out, user, (reason or "access ended")[:100])


@receiver(sessions_ended, dispatch_uid="keystead-oidc-backchannel-on-sessions-ended")
def _backchannel_on_sessions_ended(sender, user, session_data, **kwargs) -> None:
    """The person ended some of their sessions (one, or all but this one): the
    applications those sessions signed in to are told."""
    sids = [data.get(backchannel.SID_KEY) for data in session_data]
    _queue_logouts(backchannel.sessions_ended, user, [sid for sid in sids if sid])


@receiver(password_changed, dispatch_uid="keystead-oidc-backchannel-on-password-change")
def _backchannel_on_password_change(sender, user, request=None, **kwargs) -> None:
    """A new password ends the person's other sessions (Django's session hash); the one
    that changed it stays signed in when it is the person's own."""
    keep = None
    if request is not None and getattr(request, "user", None) is not None \
            and request.user.pk == user.pk and hasattr(request, "session"):
        keep = request.session.get(backchannel.SID_KEY)
    _queue_logouts(backchannel.person_signed_out, user, "password changed", keep_sid=keep)
