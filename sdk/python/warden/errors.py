"""What Warden refuses, as Python exceptions.

Every call into the host raises one of these instead of returning an
error value. All derive from :class:`WardenError`, so ``except
WardenError`` catches every refusal; catch the narrower ones to react
to one cause.
"""

from typing import Optional


class WardenError(Exception):
    """Anything the host refused or could not do. ``str(e)`` says what."""


class Denied(WardenError):
    """The platform refused the call.

    ``kind`` is how traces and the audit log name it: ``not-granted``,
    ``scope-denied``, ``address-blocked``, ``class-violation``,
    ``dlp-blocked``, ``egress-denied`` or ``killed``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class NotGranted(Denied):
    """The app's manifest grants no such connector or bucket: add it to
    ``app.toml`` (``[[connectors]]`` or ``[[storage]]``)."""


class QuotaExceeded(WardenError):
    """A quota (or a spent budget) ran out; the message names it and when
    it resets."""


class Timeout(WardenError):
    """The upstream did not answer in time."""


class Upstream(WardenError):
    """The upstream could not be reached or answered badly."""


class TooLarge(WardenError):
    """A storage key or value is larger than the platform allows."""


class StorageFailure(WardenError):
    """The store failed; the message says what to tell the operator."""


class ConfigMissing(WardenError, KeyError):
    """A configuration key nobody set. ``key`` names it."""

    def __init__(self, key: str):
        super().__init__(
            f"no configuration value {key!r}: set it under [config] in app.toml "
            f"(or [config.apps.NAME] in warden.toml)"
        )
        self.key = key

    def __str__(self) -> str:
        # KeyError would quote the whole message.
        return str(self.args[0])


class ConfigUnavailable(WardenError):
    """The host could not read the app's configuration."""


def _denial(denial) -> Denied:
    kind = denial.kind.name.lower().replace("_", "-")
    cls = NotGranted if kind == "not-granted" else Denied
    return cls(kind, denial.message)


# The exception for each case of the host's `error` variants (bindings
# name a case `Error_<Case>`); a case not listed is the interface's
# catch-all.
_CASES = {
    "Error_QuotaExceeded": QuotaExceeded,
    "Error_Timeout": Timeout,
    "Error_TooLarge": TooLarge,
}


def _from_error(error, otherwise) -> WardenError:
    name = type(error).__name__
    value: Optional[object] = getattr(error, "value", None)
    if name == "Error_Denied":
        return _denial(value)
    return _CASES.get(name, otherwise)(str(value))


def from_connector_error(error) -> WardenError:
    """The exception for a ``warden:host/connectors`` error value."""
    return _from_error(error, Upstream)


def from_storage_error(error) -> WardenError:
    """The exception for a ``warden:host/storage`` error value."""
    return _from_error(error, StorageFailure)
