"""The token endpoint's bulk traffic stays at the statements docs/performance.md counts.

Refresh and client-credentials grants are what every running application sends all
day, so each statement they issue is paid per grant (docs/performance.md, "Where the
time goes"). These tests pin those counts, so a change that adds one shows up here and
is weighed deliberately, rather than in the next benchmark run.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_application_model

from .helpers import client_credentials, code_tokens, make_app, refresh

Application = get_application_model()

#: Without ``openid``: the client with its settings; the presented token with its
#: access token, owner and family; the conditional revoke; the replaced access token's
#: expiry; the inserts of the access token, the refresh token and the audit event; the
#: transaction's start and end (savepoints inside the test's own transaction).
REFRESH_WITHOUT_OPENID = 9
#: With ``openid email profile groups``: also the person's groups for the ``groups``
#: claim and the ID token's row.
REFRESH_WITH_OPENID = 11
#: The client with its settings; the access token and the audit event, in a transaction.
CLIENT_CREDENTIALS = 5


def statements(send) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as seen:
        answer = send()
    assert answer.status_code == 200, answer.content
    return len(seen.captured_queries), [q["sql"][:80] for q in seen.captured_queries]


@pytest.mark.parametrize(("scope", "expected"), [
    ("openid email profile groups", REFRESH_WITH_OPENID),
    ("email", REFRESH_WITHOUT_OPENID),
])
def test_a_refresh_grant_costs_the_documented_statements(browser_client, scope: str,
                                                         expected: int) -> None:
    app, secret = make_app()
    tokens = code_tokens(browser_client, app, secret, scope=scope)
    count, seen = statements(lambda: refresh(app, secret, tokens["refresh_token"]))
    assert count == expected, "\n".join(seen)


def test_a_client_credentials_grant_costs_the_documented_statements(db) -> None:
    app, secret = make_app(grant=Application.GRANT_CLIENT_CREDENTIALS)
    client_credentials(app, secret)  # the first grant may set up what later ones reuse
    count, seen = statements(lambda: client_credentials(app, secret))
    assert count == CLIENT_CREDENTIALS, seen
