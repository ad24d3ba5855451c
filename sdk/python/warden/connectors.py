"""Calling approved SaaS connectors by name.

The host checks the app's grant and scopes, counts the call against its
quotas, adds the connector's credential (which the app never sees) and
returns the upstream's answer. Redirects are returned, not followed.

    from warden import connectors
    contacts = connectors.get("crm", "/contacts?limit=10").json()
    connectors.post_json("chat", "/messages", {"text": "lunch is here"})

Every function raises :class:`warden.NotGranted` / :class:`warden.Denied`
(the platform refused: not granted, outside the scopes, data the
connector is not cleared for, DLP, a kill), :class:`warden.QuotaExceeded`,
:class:`warden.Timeout` or :class:`warden.Upstream`. An HTTP error status
from the upstream is not an exception: check ``response.status``.
"""

import json as _json
from typing import Any, Dict, List, Optional, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import connectors as _host

from .errors import from_connector_error

Headers = Union[Dict[str, str], List[Tuple[str, str]], None]


class Response:
    """The upstream's answer: ``status``, ``headers`` (a list of pairs),
    ``body`` (bytes)."""

    def __init__(self, status: int, headers: List[Tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` if it is not)."""
        return _json.loads(self.body)

    def header(self, name: str) -> Optional[str]:
        """The first header called ``name`` (any case), or ``None``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def _pairs(headers: Headers) -> List[Tuple[str, str]]:
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    return [(str(k), str(v)) for k, v in items]


def call(
    connector: str,
    method: str,
    path: str,
    headers: Headers = None,
    body: Union[bytes, str] = b"",
) -> Response:
    """Sends ``method path`` (relative to the connector's base URL, query
    included) to ``connector``; returns its :class:`Response`."""
    data = body.encode() if isinstance(body, str) else bytes(body)
    try:
        answer = _host.call(
            connector,
            _host.Request(method=str(method).upper(), path=str(path), headers=_pairs(headers), body=data),
        )
    except Err as e:
        raise from_connector_error(e.value) from None
    return Response(answer.status, list(answer.headers), bytes(answer.body))


def get(connector: str, path: str, headers: Headers = None) -> Response:
    """``GET path`` on ``connector``."""
    return call(connector, "GET", path, headers)


def post_json(connector: str, path: str, data: Any, headers: Headers = None) -> Response:
    """``POST path`` on ``connector`` with ``data`` as a JSON body (and
    ``content-type: application/json`` unless ``headers`` set one)."""
    pairs = _pairs(headers)
    if not any(k.lower() == "content-type" for k, _ in pairs):
        pairs.append(("content-type", "application/json"))
    return call(connector, "POST", path, pairs, _json.dumps(data).encode())
