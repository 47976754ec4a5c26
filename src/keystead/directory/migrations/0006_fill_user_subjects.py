"""Every existing person gets their own random subject identifier (see 0005)."""

import uuid

from django.db import migrations


def fill_subjects(apps, schema_editor):
    User = apps.get_model("directory", "User")
    people = list(User.objects.filter(subject__isnull=True).only("pk"))
    for person in people:
        person.subject = uuid.uuid4()
    User.objects.bulk_update(people, ["subject"], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0005_user_subject"),
    ]

    operations = [
        migrations.RunPython(fill_subjects, migrations.RunPython.noop),
    ]
