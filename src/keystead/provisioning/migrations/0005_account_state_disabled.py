"""Accounts record being disabled (``AccountState.DISABLED``), and existing accounts get it.

What was last sent about an account's existence used to be read from the archive
of executed operations, which housekeeping prunes. The fill computes it from that
archive as the code before this migration did, so an installation keeps the right
answer for every account whose disable is still archived: the newest executed
operation under the account's name that says something about its existence (a
create, a delete, or one carrying ``__ENABLE__``) created it disabled or disabled it.
Only accounts present on the system change; planned and deleted ones keep their state.
One UPDATE whatever the number of accounts.
"""

from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.fields.json import KeyTransform

#: The values as this migration was written (``connectors.base.ENABLE``, ``Kind``,
#: ``State``, ``AccountState``), so it runs the same whatever they become.
ENABLE = "__ENABLE__"
CREATE, DELETE, EXECUTED = "create", "delete", "executed"
PRESENT, DISABLED = "present", "disabled"


def fill_disabled(apps, schema_editor) -> None:
    SystemAccount = apps.get_model("provisioning", "SystemAccount")
    ArchivedOperation = apps.get_model("provisioning", "ArchivedOperation")
    newest_telling = (ArchivedOperation.objects
                      .filter(Q(kind__in=[CREATE, DELETE]) | Q(attributes__has_key=ENABLE),
                              system_id=OuterRef("system_id"), account_name=OuterRef("name"),
                              state=EXECUTED)
                      .order_by("-operation_id").values("operation_id")[:1])
    disabling = (ArchivedOperation.objects.exclude(kind=DELETE)
                 .annotate(enable=KeyTransform(ENABLE, "attributes"))
                 .filter(enable=False, operation_id=OuterRef("last_told")))
    disabled = (SystemAccount.objects.filter(state=PRESENT)
                .annotate(last_told=Subquery(newest_telling))
                .filter(Exists(disabling)).values("pk"))
    SystemAccount.objects.filter(pk__in=Subquery(disabled)).update(state=DISABLED)


def forget_disabled(apps, schema_editor) -> None:
    """Back to the states before: a disabled account is present on the system."""
    apps.get_model("provisioning", "SystemAccount").objects.filter(state=DISABLED).update(
        state=PRESENT)


class Migration(migrations.Migration):

    dependencies = [
        ('provisioning', '0004_system_last_reconciliation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='systemaccount',
            name='state',
            field=models.CharField(choices=[('planned', 'Planned: not yet created on the system'), ('present', 'Present on the system'), ('disabled', 'Present on the system, disabled'), ('deleted', 'Deleted from the system')], default='planned', max_length=10),
        ),
        migrations.RunPython(fill_disabled, forget_disabled),
    ]
