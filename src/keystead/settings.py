"""Django settings, all taken from ``KEYSTEAD_*`` environment variables (see config.py)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from keystead import config

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.data_dir()

DEBUG = config.env_bool("KEYSTEAD_DEBUG", False)
SECRET_KEY = config.env("KEYSTEAD_SECRET_KEY") or config.load_or_create_secret_key(DATA_DIR)
# Earlier keys, still accepted while sessions, links and encrypted seeds move to the new one.
SECRET_KEY_FALLBACKS = [k for k in config.env("KEYSTEAD_SECRET_KEY_FALLBACKS").split(",") if k]

BASE_URL = config.env("KEYSTEAD_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = [
    *config.hosts_from_base_url(BASE_URL),
    "127.0.0.1",
    "localhost",
    "testserver",
    *[h for h in config.env("KEYSTEAD_ALLOWED_HOSTS").split(",") if h],
]
CSRF_TRUSTED_ORIGINS = [config.origin_of(BASE_URL)]
TRUSTED_PROXY_COUNT = config.env_int("KEYSTEAD_TRUSTED_PROXIES", 0)
if BASE_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None

INSTALLED_APPS = [
    "keystead.directory",
    "keystead.policy",
    "keystead.login",
    "keystead.api",
    "keystead.portal",
    "keystead.providers.oidc.apps.OidcConfig",
    "keystead.providers.oidc.apps.OAuthToolkitConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Applications' token requests need none of the browser middleware below: /oauth/token/
    # is answered here, so middleware added below this line never sees token requests.
    "keystead.providers.oidc.middleware.TokenEndpointFirst",
    # POST /login/ is answered here with the hooks of the middleware below, without the
    # nested chain and the URL resolver (keystead/portal/sign_in_first.py).
    "keystead.portal.sign_in_first.SignInFirst",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "keystead.urls"
WSGI_APPLICATION = "keystead.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = config.env("KEYSTEAD_DATABASE_URL") or config.default_database_url()
if DATABASE_URL.startswith("sqlite:"):
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
# Hot statements (keystead.hot_sql) as prepared statements on PostgreSQL. Django's own
# statements stay unprepared either way (its cursors bind on the client side).
DATABASE_PREPARED_STATEMENTS = config.env_bool("KEYSTEAD_DATABASE_PREPARED_STATEMENTS", True)
if DATABASE_PREPARED_STATEMENTS and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "directory.User"
# Django's database sessions, writing a new one once (see keystead/login/sessions.py).
SESSION_ENGINE = "keystead.login.sessions"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# argon2id with the OWASP parameters; any other hash is upgraded at the next sign-in.
ARGON2_TIME_COST = config.env_int("KEYSTEAD_ARGON2_TIME_COST", 2)
ARGON2_MEMORY_KIB = config.env_int("KEYSTEAD_ARGON2_MEMORY_KIB", 19456)
ARGON2_PARALLELISM = config.env_int("KEYSTEAD_ARGON2_PARALLELISM", 1)
PASSWORD_HASHERS = [
    "keystead.directory.hashers.KeysteadArgon2Hasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "keystead.providers.oidc.hashers.ClientSecretHasher",  # OIDC client secrets only
]

# The logon policy checks every password a Django form validates (the admin console's).
AUTH_PASSWORD_VALIDATORS = [{"NAME": "keystead.policy.validators.PolicyPasswordValidator"}]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# keystead/static is not inside an app, so the app-directories finder misses it.
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

_email = config.parse_email_url(config.env("KEYSTEAD_EMAIL_URL", "console://"))
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
DEFAULT_FROM_EMAIL = _email.default_from
EMAIL_CONFIGURED = _email.configured

# An operator's own Bloom filter of breached passwords (`keystead policy build-filter`).
PASSWORD_FILTER_FILE = config.env("KEYSTEAD_PASSWORD_FILTER")
API_TOKEN_DEFAULT_DAYS = config.env_int("KEYSTEAD_API_TOKEN_DAYS", 90)

# OpenID Connect / OAuth 2 provider (django-oauth-toolkit); see docs/oidc.md.
from keystead.providers.oidc import keys as _oidc_keys  # noqa: E402

# Named explicitly so migrations that point at applications resolve it.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    # Empty: the issuer is the address the request came in on (one of ALLOWED_HOSTS).
    "OIDC_ISS_ENDPOINT": config.env("KEYSTEAD_OIDC_ISSUER"),
    "OIDC_RSA_PRIVATE_KEY": _oidc_keys.load_or_create_signing_key(DATA_DIR),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": _oidc_keys.retired_signing_keys(DATA_DIR),
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_VALIDATOR_CLASS": "keystead.providers.oidc.validators.KeysteadValidator",
    # Generated, high-entropy client secrets: a fast salted hash (see the class).
    "CLIENT_SECRET_HASHER": "pbkdf2_client_secret",
    "SCOPES": {
        "openid": "Sign you in (OpenID Connect)",
        "email": "Your email address",
        "profile": "Your name and when your password last changed",
        "groups": "The names of your directory groups",
        "offline_access": "Stay signed in (refresh tokens)",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,  # S256 only; "plain" is refused
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # tokens stored hashed
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": config.env_int("KEYSTEAD_OIDC_ACCESS_TOKEN_SECONDS", 600),
    "ID_TOKEN_EXPIRE_SECONDS": config.env_int("KEYSTEAD_OIDC_ID_TOKEN_SECONDS", 600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": config.env_int(
        "KEYSTEAD_OIDC_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
}

LOG_FORMAT = config.env("KEYSTEAD_LOG_FORMAT", "human")
LOG_LEVEL = config.env("KEYSTEAD_LOG_LEVEL", "INFO").upper()
LOGGING_CONFIG = None
from keystead.logs import configure_logging  # noqa: E402

configure_logging(LOG_FORMAT, LOG_LEVEL)
