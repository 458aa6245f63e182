"""Who may use the server: the loopback rule, the names it answers to, the chat window's sign-in and the API's key.

- Beyond loopback the server refuses to start without a password (`--auth-file PATH`, `CITECHAT_AUTH` or
  `--auth user:password`), unless `--insecure` is given.
- It answers only to loopback names, the address it is bound to and the names given with `--allowed-host`
  (`CITECHAT_ALLOWED_HOSTS`); see guards.py for the checks on each request.
- The OpenAI-compatible API asks for `Authorization: Bearer <key>` whenever the server has a key: the value
  of `CITECHAT_API_KEY`, or else the sign-in password, so that the API is never more open than the window.
"""

from __future__ import annotations

import hmac
import ipaddress
import stat
from pathlib import Path

from .guards import LOOPBACK_HOSTS, host_name

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


WRONG_KEY = ("Missing or incorrect API key. Send the header \"Authorization: Bearer KEY\" with the server's "
             "CITECHAT_API_KEY (or, when it has none, its --auth password).")


def bearer_matches(authorization: str | None, key: str) -> bool:
    """Whether an Authorization header carries the key (compared in constant time)."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode())


def allowed_hosts(bind_host: str, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The Host names the server answers to: loopback names, the address it is bound to unless that is a
    wildcard (0.0.0.0, ::), and `extra` (from --allowed-host and CITECHAT_ALLOWED_HOSTS)."""
    names = list(LOOPBACK_HOSTS)
    bind = bind_host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(bind)
        if not address.is_unspecified:
            names.append(f"[{address}]" if address.version == 6 else str(address))
    except ValueError:
        names.append(bind)  # a name given as --host
    for name in extra:
        name = host_name(name.strip())
        if ":" in name and not name.startswith("["):  # a bare IPv6 address
            name = f"[{name}]"
        names.append(name)
    return list(dict.fromkeys(n for n in names if n))


def read_auth_file(path: str | Path) -> tuple[str, str | None]:
    """(user:password from the file's first line, a warning when others may read the file or None)."""
    try:
        file = Path(path).expanduser()
        line = (file.read_text(encoding="utf-8").splitlines() or [""])[0].strip()
        mode = file.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise RefuseToServe(f"Cannot read the password file {path} "
                            f"({getattr(exc, 'strerror', None) or exc}).") from None
    if not line:
        raise RefuseToServe(f"The password file {path} is empty; write user:password on its first line.")
    warning = None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warning = (f"citechat: warning: other users of this machine may read the password file {path}; "
                   f"restrict it with: chmod 600 {path}")
    return line, warning


CLI_PASSWORD_WARNING = ("citechat: warning: a password given with --auth is visible to every user of this machine "
                        "(in the process list, e.g. `ps`). Use --auth-file PATH or CITECHAT_AUTH instead.")
