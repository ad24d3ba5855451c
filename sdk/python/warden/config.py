"""Configuration values: ``[config]`` in the app's ``app.toml``, under the
platform's ``[config.apps.NAME]`` in ``warden.toml``, whose values win.
Values are strings (TOML numbers and booleans as TOML writes them);
a secret is never a configuration value — reach one through a connector.

    from warden import config
    channel = config.get("channel", "#lunch")
    limit = int(config.require("max_orders"))
"""

from typing import Dict, Optional

from componentize_py_types import Err
from wit_world.imports import store as _host

from .errors import ConfigMissing, ConfigUnavailable


def _ask(call):
    try:
        return call()
    except Err as e:
        raise ConfigUnavailable(str(getattr(e.value, "value", e.value))) from None


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """The value of ``key``, or ``default`` when neither the app nor the
    platform set it. Raises :class:`ConfigUnavailable` if the host cannot
    read the configuration."""
    value = _ask(lambda: _host.get(key))
    return default if value is None else value


def require(key: str) -> str:
    """The value of ``key``. Raises :class:`ConfigMissing` naming the key
    and where to set it when nobody set it, :class:`ConfigUnavailable` if
    the host cannot read the configuration."""
    value = _ask(lambda: _host.get(key))
    if value is None:
        raise ConfigMissing(key)
    return value


def all() -> Dict[str, str]:
    """Every value the app can read, key to value. Raises
    :class:`ConfigUnavailable` if the host cannot read the
    configuration."""
    return dict(_ask(_host.get_all))
