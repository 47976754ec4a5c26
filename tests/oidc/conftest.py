import pytest
from django.test import Client

from keystead.directory.models import Group, User

PASSWORD = "Quarry-Lantern-Mosaic-73"


@pytest.fixture
def person(db) -> User:
    user = User.objects.create_user("grace@example.com", "Grace", "Hopper", password=PASSWORD)
    group = Group.objects.create(name="Engineering")
    group.members.add(user)
    return user


@pytest.fixture
def browser_client(person) -> Client:
    """A browser already signed in to Keystead as ``person``."""
    client = Client()
    client.force_login(person)
    return client
