"""Warden's Python SDK: a micro app in a few lines, with Warden's governed
capabilities — approved connectors, classified storage, configuration,
logs — as plain
Python with typed exceptions.

    import warden
    from warden import connectors, log
    from warden.storage import Bucket

    @warden.handler
    def handle(request: warden.Request):
        order = request.json()
        Bucket("orders").set_json(order["name"], order, ttl=86400)
        log.info(f"order from {order['name']}")
        return {"ok": True}            # dict or list: JSON; str: text; bytes: as is

    Handler = warden.Handler           # what the component exports

Build it from the app's directory with ``componentize-py -d
host-apis/wit -w warden:host/app@0.2.0 componentize app -p . -p
sdk/python -o app.wasm`` (paths from Warden's repository; the second
``-p`` is the directory that holds this ``warden`` package). What the handler returns is the answer; an exception it
raises fails the invocation with the exception's type and message, which
Warden shows in ``warden run`` and the trace (the HTTP caller gets a
plain 500). Raise :class:`Refuse` to answer a caller's mistake with a
4xx status and a message they read.
"""

import json as _json
import os as _os
import sysconfig as _sysconfig
import traceback as _traceback
from typing import Any, Callable, Optional

from componentize_py_types import Err
from wit_world import exports as _exports
from wit_world.imports import reply as _reply

from . import config, connectors, log, storage
from .errors import (
    ConfigMissing,
    ConfigUnavailable,
    Denied,
    NotGranted,
    QuotaExceeded,
    StorageFailure,
    Timeout,
    TooLarge,
    Upstream,
    WardenError,
)
from .storage import Bucket

__all__ = [
    "Bucket",
    "ConfigMissing",
    "ConfigUnavailable",
    "Denied",
    "Handler",
    "NotGranted",
    "QuotaExceeded",
    "Refuse",
    "Request",
    "StorageFailure",
    "Timeout",
    "TooLarge",
    "Upstream",
    "WardenError",
    "config",
    "connectors",
    "handler",
    "log",
    "storage",
]


class Request:
    """What the app was invoked with: the HTTP body, a ``warden run
    --input``, or a schedule's input."""

    def __init__(self, body: bytes):
        self.body = body

    @property
    def text(self) -> str:
        """The input as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The input parsed as JSON; an empty input is ``None``. Input that
        is not JSON raises :class:`Refuse` (answered 400)."""
        if not self.body.strip():
            return None
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Refuse(400, f"the input is not JSON: {e}") from None


class Refuse(Exception):
    """Answers the caller with ``status`` (4xx or 5xx) and ``message`` as
    its body, e.g. ``raise warden.Refuse(400, "name is required")``."""

    def __init__(self, status: int, message: str):
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"Refuse needs a 4xx or 5xx status, not {status!r}")
        super().__init__(message)
        self.status = status
        self.message = message


_handle: Optional[Callable[[Request], Any]] = None


def handler(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Marks ``fn`` as the app's handler: it gets a :class:`Request` and
    returns the answer — ``bytes`` as they are, ``str`` as UTF-8 text, any
    other value as JSON (with ``content-type: application/json``)."""
    global _handle
    _handle = fn
    return fn


def _answer(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        _reply.set_content_type("text/plain; charset=utf-8")
        return value.encode()
    _reply.set_content_type("application/json")
    return _json.dumps(value).encode()


# Where this SDK and Python's own library live: frames there are not the
# app's line.
_NOT_THE_APP = (
    _os.path.dirname(__file__),
    _sysconfig.get_paths().get("stdlib", "/python"),
)


def _failure(e: BaseException) -> str:
    """``Type: message (file:line)``: the language's own words, and where
    in the app (the innermost frame outside this SDK)."""
    frames = _traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if not f.filename.startswith(_NOT_THE_APP)]
    frame = (mine or frames)[-1] if frames else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(e).__name__}: {e}{where}"


class Handler(_exports.Handler):
    """The ``warden:host/handler`` export; assign it in the app module
    (``Handler = warden.Handler``) so the component exports it."""

    def handle(self, input: bytes) -> bytes:
        if _handle is None:
            raise Err("no handler: decorate the app's function with @warden.handler")
        try:
            return _answer(_handle(Request(bytes(input))))
        except Refuse as e:
            _reply.set_status(e.status)
            raise Err(e.message) from None
        except Exception as e:
            raise Err(_failure(e)) from None
