"""Logging: human-readable or JSON lines, always passed through a redaction filter."""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime

from keystead.secret import REDACTED, scrub

# key=value or "key": "value" pairs whose key names a secret, e.g. in a logged query string;
# also with a prefix (access_token, refresh_token, client_secret, code_verifier, id_token_hint).
_SENSITIVE_PAIR = re.compile(
    r"""(?ix)
    (["']?(?<![A-Za-z0-9_])(?:[A-Za-z0-9]+[_-])*
      (?:password|passwd|secret|token(?:_hint)?|authorization|api[_-]?key|otp|code|verifier)["']?
    \s*[:=]\s*)
    (?:Bearer\s+)?("[^"]*"|'[^']*'|[^\s&,;"']+)
    """
)


# Credentials in an Authorization header's form ("Bearer <token>", "Basic <base64>"), as a
# client library's error may repeat the header it refused.
_AUTHORIZATION = re.compile(r"(?i)(\b(?:Bearer|Basic)\s+)[A-Za-z0-9\-._~+/]+=*")


# A mailed password-reset link, /reset/<token>: its path is the credential. Hidden in every
# line, so Django's warnings and the web server's access log never hold one.
_RESET_LINK = re.compile(r"(/reset/)[A-Za-z0-9_-]{20,}")


def redact_text(text: str) -> str:
    text = _SENSITIVE_PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    return _RESET_LINK.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Redact Secret values and secret-looking key/value pairs from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            if isinstance(record.args, dict):
                record.args = scrub(record.args)
            else:
                record.args = tuple(scrub(a) for a in record.args)
        message = record.getMessage()
        record.msg = redact_text(message)
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


class HumanFormatter(logging.Formatter):
    def formatException(self, ei) -> str:
        return redact_text(super().formatException(ei))


class RedactLineFilter(logging.Filter):
    """Redact the finished line. For the web server's access log, whose arguments are a
    mapping of the request's fields: the line is built first, then redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        return True


def granian_logging(fmt: str, level: str) -> dict:
    """The logging configuration ``keystead serve`` gives granian (its ``log_dictconfig``).

    granian writes its own lines and its access log through loggers of its own,
    configured by granian in every worker process; this gives them Keystead's
    format (human or JSON) and the same redaction as every other line, the access
    log on stdout and granian's own lines on stderr.
    """
    formatter = "json" if fmt == "json" else "human"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactLineFilter}},
        "formatters": {
            "human": {"()": HumanFormatter,
                      "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(message)s"},  # the access line carries its own time
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "server": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                       "formatter": formatter, "filters": ["redact"]},
            "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                       "formatter": "json" if fmt == "json" else "access",
                       "filters": ["redact"]},
        },
        "loggers": {
            "_granian": {"handlers": ["server"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(fmt: str, level: str) -> None:
    formatter = "json" if fmt == "json" else "human"
    # No format here shows the calling function or thread, so records need not carry
    # them: finding the caller walks the stack on every line, and every token grant and
    # sign-in writes one (the audit mirror) besides the access line. These are switches
    # the logging documentation's "Optimization" section names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"redact": {"()": RedactSecretsFilter}},
            "formatters": {
                "human": {
                    "()": HumanFormatter,
                    "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
                },
                "json": {"()": JsonFormatter},
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": formatter,
                    "filters": ["redact"],
                }
            },
            "root": {"handlers": ["console"], "level": level},
            "loggers": {
                "django": {"level": level, "propagate": True},
                "django.server": {"level": level, "propagate": True},
            },
        }
    )
