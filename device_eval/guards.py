"""What stands between the network and the app (pure ASGI middleware, cheap per request): the body-size limit,
API keys on the search and thumbnail routes, and a per-key (or per-address) rate limit.

Keys come from a file (`--api-key-file`: one key per line, ≥ 16 characters, `#` comments); a request sends
`Authorization: Bearer KEY`. Every key is compared in constant time (`hmac.compare_digest`, all of them, no
early exit) and no key is ever logged or echoed. The rate limit is a token bucket of `rate` requests/s with
`burst` tokens per identity (the key, or the client address when there are no keys), answering 429 with
`Retry-After`."""

import hmac
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.errors import DistillError

PROTECTED = ("/search", "/thumbs/")  # path prefixes that need a key when keys are configured
MIN_KEY_CHARS = 16
MAX_IDENTITIES = 10_000  # rate-limit buckets kept (least recently seen dropped)


def read_api_keys(path: str | Path) -> tuple[str, ...]:
    """The keys of a key file (one per line; blank lines and `#` comments skipped); one-line errors."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DistillError(f"{p}: unreadable API key file ({type(e).__name__})") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise DistillError(f"{p}: no API keys (one per line)")
    short = [i + 1 for i, k in enumerate(keys) if len(k) < MIN_KEY_CHARS or any(c.isspace() for c in k)]
    if short:
        raise DistillError(f"{p}: key {short[0]} is shorter than {MIN_KEY_CHARS} characters or holds spaces; "
                           f"generate keys with e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    return keys


async def send_json(send: Any, status: int, obj: dict, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer an ASGI request with a JSON body."""
    data = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` is answered 413 before the app sees it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return None
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.max_bytes:
                return await send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes",
                                                   "code": "too_large"})
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


@dataclass
class TokenBuckets:
    """`rate` requests/s with bursts of `burst` per identity; `take` says how long to wait (0: go ahead)."""

    rate: float
    burst: int
    _buckets: OrderedDict = field(default_factory=OrderedDict)  # identity → (tokens, last time)

    def take(self, identity: str, now: float | None = None) -> float:
        """Spend one token of `identity`'s bucket; 0.0 if there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(identity, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[identity] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > MAX_IDENTITIES:
            self._buckets.popitem(last=False)
        return wait


class Guard:
    """ASGI middleware: API keys (when `keys`) on `PROTECTED` paths, then the rate limit (when `buckets`)."""

    def __init__(self, app: Any, keys: tuple[str, ...] = (), buckets: TokenBuckets | None = None) -> None:
        self.app, self.buckets = app, buckets
        self.keys = tuple(k.encode() for k in keys)

    def key_id(self, scope: dict) -> int | None:
        """Index of the request's bearer key among the configured ones (None: absent or wrong)."""
        auth = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        scheme, _, token = auth.partition(b" ")
        found = None
        for i, key in enumerate(self.keys):  # every key compared, in constant time each
            if hmac.compare_digest(token.strip(), key) and scheme.lower() == b"bearer":
                found = i
        return found

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        identity = (scope.get("client") or ("?", 0))[0]
        if self.keys:
            kid = self.key_id(scope)
            if kid is None:
                return await send_json(send, 401, {"error": "missing or wrong API key: send the header "
                                                            "'Authorization: Bearer KEY'", "code": "unauthorized"},
                                       ((b"www-authenticate", b"Bearer"),))
            identity = f"key {kid}"
        if self.buckets is not None:
            wait = self.buckets.take(identity)
            if wait > 0:
                return await send_json(send, 429, {"error": f"rate limit of {self.buckets.rate:g} requests/s "
                                                            f"exceeded; retry in {wait:.2f} s", "code": "rate_limited"},
                                       ((b"retry-after", str(math.ceil(wait)).encode()),))
        return await self.app(scope, receive, send)
