"""The errors a person can act on, and the one place any error becomes the line they are shown.

Every error the user can fix is a `CitechatError`: its message says what happened, then the command, flag or
variable that fixes it. The command line prints `citechat: <message>` and exits 2; the chat window and the HTTP
APIs show the same text. `user_message` is the only function that turns an exception into text for a person,
and it hides configured secrets.
"""

from __future__ import annotations

import os

# Variables whose values must never be shown or logged: LLM keys, the app's password and API key, Milvus' token.
SECRET_VARIABLES = ("CITECHAT_LLM_API_KEY", "OPENAI_API_KEY", "CITECHAT_AUTH", "CITECHAT_API_KEY", "CITECHAT_MILVUS_TOKEN")


class CitechatError(Exception):
    """A problem the user can fix; the message says what to do next."""


class SettingsError(CitechatError, ValueError):
    """A setting (argument or CITECHAT_* variable) with a value citechat cannot use."""


class BadRequest(CitechatError, ValueError):
    """A request to a served endpoint that citechat cannot read (wrong types, malformed history)."""


def user_message(exc: BaseException) -> str:
    """One line for a person: the message of a CitechatError, or for anything else only its kind (the
    details of an unexpected error belong in the log, not in front of the user). Secrets are redacted."""
    if isinstance(exc, CitechatError):
        text = str(exc)
    else:
        text = f"Something went wrong ({type(exc).__name__}); the details are in the log of citechat."
    return redact(" ".join(text.split()))


def log_line(exc: BaseException) -> str:
    """One line for a log: the kind and text of any error, secrets redacted."""
    return redact(" ".join(f"{type(exc).__name__}: {exc}".split()))


def redact(text: str) -> str:
    """The text with every configured secret (SECRET_VARIABLES; for CITECHAT_AUTH also the password alone)
    replaced by ***: an error from an LLM server may quote the key it was sent, and such messages are shown and
    logged."""
    for name in SECRET_VARIABLES:
        value = os.environ.get(name) or ""
        for secret in {value, value.partition(":")[2]} if name == "CITECHAT_AUTH" else {value}:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
    return text
