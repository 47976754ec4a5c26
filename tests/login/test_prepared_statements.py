"""PostgreSQL plans a statement Keystead sends again and again once per connection
(``KEYSTEAD_DATABASE_PREPARE``, on by default), and nothing is prepared when it is
turned off for a pooler that cannot keep prepared statements."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from .helpers_live import database_url

pytestmark = pytest.mark.django_db

# The same query six times on one connection (psycopg prepares from the sixth run),
# then what PostgreSQL holds prepared for that connection.
PREPARED_AFTER_SIX = """
import django
django.setup()
from django.db import connection
from keystead.directory.models import User
for _ in range(6):
    User.objects.filter(email="nobody@example.test").exists()
with connection.cursor() as cursor:
    cursor.execute("SELECT statement FROM pg_prepared_statements")
    print(sum('"directory_user"' in row[0] for row in cursor.fetchall()))
"""


def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")


@pytest.mark.parametrize(("setting", "prepared"), [("true", True), ("false", False)])
def test_the_setting_turns_preparation_on_and_off(setting, prepared):
    _postgresql_only()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "keystead.settings",
           "KEYSTEAD_DATABASE_URL": database_url(connection.settings_dict),
           "KEYSTEAD_DATABASE_PREPARE": setting}
    run = subprocess.run([sys.executable, "-c", PREPARED_AFTER_SIX], env=env,
                         capture_output=True, text=True, check=True)
    assert (int(run.stdout.split()[-1]) > 0) is prepared
