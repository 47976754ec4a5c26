from django.apps import AppConfig


class LdapSourceConfig(AppConfig):
    name = "keystead.sources.ldap"
    label = "ldap_source"
    verbose_name = "LDAP and Active Directory sign-in"
