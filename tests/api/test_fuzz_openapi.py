"""Property-based fuzzing of the REST API from its own OpenAPI description.

Schemathesis generates valid and invalid requests for every operation; the API
must answer each with a documented status, a body matching its schema, and
never a 5xx. The two checks that compare acceptance with the schema alone are
left out: business rules (a blank family name, an unknown member id, an email
already taken) rightly refuse requests the schema cannot describe.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from keystead.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture
def keep_test_transaction(db):
    """Like Django's test client: keep the test's transaction open across requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("KEYSTEAD_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize="KEYSTEAD_FUZZ_EXAMPLES" not in os.environ,
)
def test_api_survives_fuzzing(case, keep_test_transaction, admin_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        excluded_checks=[
            schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection,
        ],
    )
