"""Checks every request passes before the app sees it: a Host header the service answers to (DNS
rebinding), the bearer token when one is set, and a body within the size limit (refused from its
Content-Length before a byte of it is read, or as it arrives when it comes in chunks)."""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cnnlab.errors import ConfigError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the service on this machine (a name other than localhost may resolve
    anywhere, so it does not count)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """ConfigError for a token too short to guess-proof, or for a bind beyond loopback without a token."""
    if token is not None and (len(token) < MIN_TOKEN_LENGTH or not (token.isascii() and token.isprintable())
                              or " " in token):
        raise ConfigError(f"--token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters without spaces; "
                          "make one with: python -c \"import secrets; print(secrets.token_urlsafe())\"")
    if token is None and not is_loopback(host):
        raise ConfigError(f"binding to {host} exposes the index beyond this machine: pass --token TOKEN (or set "
                          "CNNLAB_TOKEN) so that only those who have it can search; make one with: python -c "
                          "\"import secrets; print(secrets.token_urlsafe())\"")


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host header names the service answers to: loopback names, the bound address (unless it is every
    address) and `extra` (--allow-host); None when `extra` holds '*' (any)."""
    extra = [normal_host(h) for h in extra]
    if "*" in extra:
        return None
    names = {*LOOPBACK_NAMES, *extra}
    if normal_host(host) not in ANY_ADDRESS:
        names.add(normal_host(host))
    return frozenset(n for n in names if n)


def normal_host(value: str) -> str:
    """'LocalHost.' -> 'localhost', '[::1]' -> '::1'."""
    value = value.strip().lower()
    return value[1:-1] if value.startswith("[") and value.endswith("]") else value.rstrip(".")


def request_host(header: str | None) -> str | None:
    """The name in a Host header without its port: 'localhost:8000' -> 'localhost', '[::1]:8000' -> '::1';
    None for a missing or malformed one."""
    if not header:
        return None
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        rest = header[end + 1:] if end > 0 else "x"
        return header[1:end] if end > 0 and (rest == "" or (rest[0] == ":" and rest[1:].isdigit())) else None
    name, colon, port = header.partition(":")
    if colon and (not port.isdigit() or ":" in port):
        return None
    return name.rstrip(".") or None


class _BodyTooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: 400 for a Host header not in `hosts` (None: any), 401 without the bearer `token`
    (paths in `public` excepted), 413 for a body over `max_body` bytes (over `limits[path]` for the paths it
    names)."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None, token: str | None, max_body: int,
                 public: Iterable[str] = (), limits: dict[str, int] | None = None) -> None:
        self.app, self.hosts, self.token, self.max_body = app, hosts, token, max_body
        self.public, self.limits = frozenset(public), dict(limits or {})

    def body_limit(self, path: str) -> int:
        return self.limits.get(path, self.max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.refusal(scope["path"], headers)
        if problem is not None:
            await respond(send, *problem)
            return
        await self.app_with_body_limit(scope, receive, send)

    def refusal(self, path: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]] | None:
        host = request_host(headers.get("host"))
        if self.hosts is not None and host not in self.hosts:
            return 400, (f"this service does not answer to the host {headers.get('host', '')!r}; start it with "
                         "--allow-host NAME to add a name"), {}
        if self.token is not None and path not in self.public and not self.authorised(headers):
            return 401, "send the service's token: Authorization: Bearer TOKEN", {"www-authenticate": "Bearer"}
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, f"Content-Length {length!r} is not a number of bytes", {}
            if int(length) > self.body_limit(path):
                return 413, f"the request body is over the limit of {self.body_limit(path):,} bytes", {}
        return None

    def authorised(self, headers: dict[str, str]) -> bool:
        scheme, _, given = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    async def app_with_body_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body as it arrives (chunked uploads have no Content-Length); once over the limit, stop
        reading, drop whatever the app answers to its cut-off body, and answer 413."""
        received, over, started = 0, False, False
        limit = self.body_limit(scope["path"])

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _BodyTooLarge
            return message

        async def checked(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, checked)
        except Exception:
            if not over:
                raise
        if over and not started:
            await respond(send, 413, f"the request body is over the limit of {limit:,} bytes", {})


async def respond(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *((k.encode(), v.encode()) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
