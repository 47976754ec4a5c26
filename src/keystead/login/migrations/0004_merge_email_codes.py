# Joins the email-code/remembered-browser migration with the passkey and TOTP ones.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('login', '0002_email_codes_remembered_browsers'),
        ('login', '0003_merge_passkeys_totp'),
    ]

    operations = []
