"""A stable, opaque subject identifier for every person (OpenID Connect ``sub``).

Three migrations, as Django documents for a unique field with a per-row default:
this one adds the column empty, 0006 gives every existing person their own random
UUID, 0007 makes it required and unique. (Separate files: on PostgreSQL, altering
a table in the transaction that just updated its rows can fail.)
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0004_event_address_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="subject",
            field=models.UUIDField(null=True, editable=False),
        ),
    ]
