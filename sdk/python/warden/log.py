"""Structured logging: records land on the invocation's trace and the
host's logs with the app's name attached (the host caps how many).

    from warden import log
    log.info("3 orders today")
"""

from wit_world.imports import log as _host

Level = _host.Level


def trace(message: str) -> None:
    _host.log(Level.TRACE, str(message))


def debug(message: str) -> None:
    _host.log(Level.DEBUG, str(message))


def info(message: str) -> None:
    _host.log(Level.INFO, str(message))


def warn(message: str) -> None:
    _host.log(Level.WARN, str(message))


def error(message: str) -> None:
    _host.log(Level.ERROR, str(message))
