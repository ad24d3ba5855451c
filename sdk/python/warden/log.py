"""Structured logging: records land on the invocation's trace and the
host's logs with the app's name attached (the host caps how many).

    from warden import log
    log.info("3 orders today")
"""

from wit_world.imports import log as _host

Level = _host.Level


def trace(message: str) -> None:
    """Logs at trace level. Never raises (past the host's cap, records are
    dropped and counted)."""
    _host.log(Level.TRACE, str(message))


def debug(message: str) -> None:
    """Logs at debug level. Never raises."""
    _host.log(Level.DEBUG, str(message))


def info(message: str) -> None:
    """Logs at info level. Never raises."""
    _host.log(Level.INFO, str(message))


def warn(message: str) -> None:
    """Logs at warn level. Never raises."""
    _host.log(Level.WARN, str(message))


def error(message: str) -> None:
    """Logs at error level. Never raises."""
    _host.log(Level.ERROR, str(message))
