"""Who may use the server: the loopback rule, the chat window's sign-in and the API's key.

- Beyond loopback the server refuses to start without `--auth user:password` (or `CITECHAT_AUTH`), unless
  `--insecure` is given.
- The OpenAI-compatible API asks for `Authorization: Bearer <key>` whenever the server has a key: the value
  of `CITECHAT_API_KEY`, or else the `--auth` password, so that the API is never more open than the window.
"""

from __future__ import annotations

import hmac
import ipaddress

from ..errors import CitechatError

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class RefuseToServe(CitechatError):
    """Raised (and, from the CLI, printed) when serving would be unsafe or impossible; the message says what
    to do."""


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | tuple[str, str] | None) -> tuple[str, str] | None:
    if auth is None or auth == "":
        return None
    if isinstance(auth, tuple):
        user, password = auth
    else:
        user, sep, password = auth.partition(":")
        if not sep:
            raise RefuseToServe("--auth must be user:password (or set CITECHAT_AUTH=user:password).")
    if not user or not password:
        raise RefuseToServe("--auth needs both a user name and a password, as user:password.")
    return user, password


def check_exposure(host: str, auth: str | tuple[str, str] | None, insecure: bool) -> tuple[str, str] | None:
    """The credentials to require; refuses to serve beyond loopback without them unless insecure."""
    credentials = parse_auth(auth)
    if not is_loopback(host) and credentials is None and not insecure:
        raise RefuseToServe(
            f"refusing to serve on {host} without a password: anyone who can reach this machine could "
            "read your documents and change the index. Add --auth user:password (or set CITECHAT_AUTH), bind to "
            "127.0.0.1, or pass --insecure if you really mean it."
        )
    return credentials


def api_key_for(credentials: tuple[str, str] | None, api_key: str | None) -> str | None:
    """The key the API requires: `api_key` (CITECHAT_API_KEY) if set, else the sign-in password, else none."""
    return (api_key or "").strip() or (credentials[1] if credentials else None)


def bearer_matches(authorization: str | None, key: str) -> bool:
    """Whether an Authorization header carries the key (compared in constant time)."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())
