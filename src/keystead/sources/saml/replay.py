"""One-time use of assertion ids, across every process.

The unique constraint on ``UsedAssertion.assertion_id`` decides: the second
insert of an id fails in the database, whichever process tries it. Rows are
kept until the assertion would have expired anyway, then pruned.
"""

from __future__ import annotations

import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from keystead.sources.saml.models import UsedAssertion


def spent(now: datetime.datetime) -> QuerySet[UsedAssertion]:
    """Used ids whose assertion has expired: it could not be accepted again anyway."""
    return UsedAssertion.objects.filter(expires_at__lt=now)


def use_once(assertion_id: str, issuer: str, expires_at: datetime.datetime) -> bool:
    """Record ``assertion_id`` as used; False if it was used before."""
    spent(timezone.now()).delete()
    try:
        with transaction.atomic():
            UsedAssertion.objects.create(assertion_id=assertion_id[:255], issuer=issuer[:500],
                                         expires_at=expires_at)
    except IntegrityError:
        return False
    return True
