"""Every person gets a user name beside the email: existing people get their email.

External ids become unique: where several people shared one, the earliest keeps it
and the client that set it assigns the others again on its next pass.
"""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Lower


def fill_usernames(apps, schema_editor):
    User = apps.get_model("directory", "User")
    User.objects.filter(username="").update(username=F("email"))
    seen: set[str] = set()
    for pk, external_id in (User.objects.exclude(external_id="").order_by("pk")
                            .values_list("pk", "external_id")):
        if external_id in seen:
            User.objects.filter(pk=pk).update(external_id="")
        seen.add(external_id)


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0008_password_rules_passed"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="username",
            field=models.CharField(
                blank=True, default="", max_length=254, verbose_name="user name",
                help_text="A sign-in name beside the email: an employee number, a user "
                          "principal name, a login. Unique regardless of case; kept as typed. "
                          "New people get their email unless one is given."),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(
                error_messages={"unique": "A user with this email already exists."},
                help_text="A sign-in name, and where resets and codes are mailed. Stored "
                          "lower-case, so it is unique regardless of case.",
                max_length=254, unique=True, verbose_name="email"),
        ),
        migrations.AlterField(
            model_name="user",
            name="external_id",
            field=models.CharField(
                blank=True, max_length=255, verbose_name="external id",
                help_text="The person's identifier in the system that provisions them (SCIM "
                          "externalId); unique when set."),
        ),
        migrations.RunPython(fill_usernames, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                Lower("username"), name="user_username_unique_ci",
                violation_error_message="A user with this user name already exists."),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                condition=~models.Q(external_id=""), fields=("external_id",),
                name="user_external_id_unique",
                violation_error_message="A user with this external id already exists."),
        ),
    ]
