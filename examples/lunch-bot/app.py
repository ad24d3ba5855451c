"""A lunch-order bot in Python, on Warden's SDK.

Send {"name": "ada", "dish": "soup"} to order (the answer names the
day); send {"summary": true} — or {"summary": true, "day": "2026-12-01"}
— to post that day's orders to the team chat and get them back. Orders live in
an `internal` bucket for a day; the chat is a connector the platform
approved, whose credential this app never sees; the channel is a
configuration value (`[config]` in app.toml).
"""

import datetime

import warden
from warden import config, connectors, log
from warden.storage import Bucket

orders = Bucket("orders")


def today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


@warden.handler
def handle(request: warden.Request):
    asked = request.json() or {}
    if not isinstance(asked, dict):
        raise warden.Refuse(400, 'send a JSON object: {"name": ..., "dish": ...} or {"summary": true}')
    if asked.get("fail"):
        # What a creator's bug looks like from outside: the exception's
        # type and message, not a wasm backtrace.
        raise ValueError("the kitchen is on fire")
    if asked.get("summary"):
        day = str(asked.get("day") or today())
        lines = []
        for key in sorted(orders.keys(prefix=day + "/")):
            order = orders.get_json(key)
            if order:  # it may have expired since it was listed
                lines.append(f"{order['name']}: {order['dish']}")
        text = f"Lunch {day}: " + ("; ".join(lines) if lines else "no orders")
        channel = config.get("channel", "#lunch")
        posted = connectors.post_json("chat", "/messages", {"channel": channel, "text": text})
        log.info(f"summary posted ({posted.status}): {len(lines)} orders")
        return {"orders": len(lines), "posted": posted.ok, "text": text}
    name, dish = asked.get("name"), asked.get("dish")
    if not name or not dish:
        raise warden.Refuse(400, 'send {"name": ..., "dish": ...} or {"summary": true}')
    day = today()
    orders.set_json(f"{day}/{name}", {"name": name, "dish": dish}, ttl=datetime.timedelta(days=1))
    return {"ordered": dish, "for": name, "day": day}


Handler = warden.Handler
