"""The subject identifier becomes required and unique (see 0005)."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0006_fill_user_subjects"),
    ]

    operations = [
        migrations.AlterField(
            model_name="user",
            name="subject",
            field=models.UUIDField(
                default=uuid.uuid4, editable=False, unique=True,
                verbose_name="subject identifier",
                help_text="The person's stable, opaque identifier for applications "
                          "(OpenID Connect sub)."),
        ),
    ]
