"""Classified key-value storage, one :class:`Bucket` per ``[[storage]]``
grant in ``app.toml``.

    from warden.storage import Bucket
    orders = Bucket("orders")
    orders.set_json("2026-12-01/ada", {"dish": "soup"}, ttl=86400)
    for key in orders.keys(prefix="2026-12-01/"):
        print(orders.get_json(key))

A bucket has one data class. Reading it labels the invocation with that
class: labelled data cannot then go to a lower-class bucket or to a
destination not cleared for it. A value expires at the smallest of the
``ttl`` asked for, the bucket's default and the class's maximum; an
expired value is never returned.

Every method raises :class:`warden.NotGranted` (no such bucket in the
manifest) or :class:`warden.Denied` (``class-violation``, ``dlp-blocked``,
``killed``), :class:`warden.QuotaExceeded`, :class:`warden.TooLarge` (a
key or value over the platform's limits, or an empty key) or
:class:`warden.StorageFailure`; :meth:`Bucket.keys` raises them as it is
iterated. A ``ttl`` that is not a positive number of seconds raises
``ValueError``.
"""

import datetime as _dt
import json as _json
from typing import Any, Iterator, Optional, Union

from componentize_py_types import Err
from wit_world.imports import storage as _host

from .errors import from_storage_error

Ttl = Union[int, float, _dt.timedelta, None]


def _seconds(ttl: Ttl) -> Optional[int]:
    if ttl is None:
        return None
    seconds = ttl.total_seconds() if isinstance(ttl, _dt.timedelta) else float(ttl)
    if not 1 <= seconds < 2**63:
        raise ValueError(f"ttl must be 1 second or more (None: the bucket's default), not {ttl!r}")
    return int(seconds)


def _host_call(fn, *args):
    try:
        return fn(*args)
    except Err as e:
        raise from_storage_error(e.value) from None


class Bucket:
    """One of the app's buckets, by the name ``app.toml`` gives it."""

    def __init__(self, name: str):
        self.name = name

    @property
    def data_class(self) -> str:
        """The bucket's class: ``public``, ``internal``, ``confidential``
        or ``regulated``."""
        return _host_call(_host.open, self.name)

    def get(self, key: str) -> Optional[bytes]:
        """The value under ``key``, or ``None``."""
        return _host_call(_host.get, self.name, key)

    def get_json(self, key: str) -> Any:
        """The JSON value under ``key``, or ``None``."""
        value = self.get(key)
        return None if value is None else _json.loads(value)

    def set(self, key: str, value: Union[bytes, str], ttl: Ttl = None) -> None:
        """Stores ``value`` under ``key``, for ``ttl`` (seconds or a
        ``timedelta``; at most what the bucket and its class allow)."""
        data = value.encode() if isinstance(value, str) else bytes(value)
        _host_call(_host.set, self.name, key, data, _seconds(ttl))

    def set_json(self, key: str, value: Any, ttl: Ttl = None) -> None:
        """Stores ``value`` as JSON under ``key``."""
        self.set(key, _json.dumps(value).encode(), ttl)

    def delete(self, key: str) -> bool:
        """Removes ``key``; whether it was there."""
        return _host_call(_host.delete, self.name, key)

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds a value that has not expired."""
        return _host_call(_host.exists, self.name, key)

    def keys(self, prefix: str = "", page_size: int = 100) -> Iterator[str]:
        """Every key starting with ``prefix``, page by page."""
        cursor: Optional[str] = None
        size = min(max(int(page_size), 1), 1000)
        while True:
            page = _host_call(_host.list_keys, self.name, prefix, cursor, size)
            yield from page.keys
            if page.cursor is None:
                return
            cursor = page.cursor
