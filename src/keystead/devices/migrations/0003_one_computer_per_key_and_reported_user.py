"""Each public key belongs to one computer; the owner is an administrator's choice.

Before the unique constraint, every stored key is rewritten in its one canonical PEM form
(what the agent sends, and what enrolment now stores), so the constraint also catches one
key spelt two ways. Computers already sharing a key stop the migration with their ids and
names: which of them is the real one is not something a migration can know. Delete them
(they enrol again with new tokens, each with a key of its own), then migrate again.

Until now a computer became the property of the first person its agent reported signing
in: the machine's word. An owner no administrator assigned (no ``device.change`` event
gave it that owner as its latest owner change) is moved to the new ``reported_user``
column (as the person's email), where it is shown as what it is, and the owner is left
for an administrator to assign.
"""

import django.db.models.deletion
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.db import migrations, models


def _canonical(pem: str) -> str:
    """As ``keystead_agent.signing.canonical_public_pem`` (copied: a migration keeps
    working whatever later code does); a key that does not load stays as it is."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return pem
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def one_computer_per_key(apps, schema_editor):
    Device = apps.get_model("devices", "Device")
    holders: dict[str, list[tuple[int, str]]] = {}
    rewritten = []
    for device in Device.objects.only("pk", "name", "public_key").order_by("pk"):
        canonical = _canonical(device.public_key)
        holders.setdefault(canonical, []).append((device.pk, device.name))
        if canonical != device.public_key:
            device.public_key = canonical
            rewritten.append(device)
    shared = [group for group in holders.values() if len(group) > 1]
    if shared:
        listed = "; ".join(", ".join(f"computer {pk} ({name!r})" for pk, name in group)
                           for group in shared)
        ids = ", ".join(str(pk) for group in shared for pk, _ in group)
        statements = (f"DELETE FROM devices_seennonce WHERE device_id IN ({ids}); "  # noqa: S608
                      f"DELETE FROM devices_device WHERE id IN ({ids});")  # words, not a query
        raise RuntimeError(
            "These computers share one public key, so each could sign as the other: "
            f"{listed}. Delete them (in the console of the version still running, or in "
            f"`keystead manage dbshell`: {statements}), enrol those computers again with "
            "new tokens, then run `keystead migrate` again.")
    Device.objects.bulk_update(rewritten, ["public_key"], batch_size=500)


def owners_only_by_administrators(apps, schema_editor):
    Device = apps.get_model("devices", "Device")
    Event = apps.get_model("directory", "Event")
    for device in Device.objects.filter(owner__isnull=False).select_related("owner"):
        latest = (Event.objects.filter(action="device.change", outcome="success",
                                       target_type="device", target_id=str(device.pk),
                                       detail__has_key="owner")
                  .order_by("-created_at", "-id").values_list("detail", flat=True).first())
        if latest is not None and latest.get("owner") == device.owner.email:
            continue  # an administrator's choice
        Device.objects.filter(pk=device.pk).update(owner=None,
                                                   reported_user=device.owner.email[:255])


class Migration(migrations.Migration):

    dependencies = [
        ('devices', '0002_seen_nonces_and_check_interval_bounds'),
        ('directory', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(settings.OAUTH2_PROVIDER_APPLICATION_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='device',
            name='reported_user',
            field=models.CharField(blank=True, default='', editable=False, help_text="The Keystead name of the last person the computer's agent reported signing in successfully. The computer's own claim: it grants nothing and does not make that person the owner.", max_length=255, verbose_name='reported user'),
        ),
        migrations.AlterField(
            model_name='device',
            name='owner',
            field=models.ForeignKey(blank=True, help_text='The person this computer belongs to, assigned by an administrator here; the computer cannot choose it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='computers', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(owners_only_by_administrators, migrations.RunPython.noop),
        migrations.RunPython(one_computer_per_key, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='device',
            constraint=models.UniqueConstraint(fields=('public_key',), name='devices_one_computer_per_key'),
        ),
    ]
