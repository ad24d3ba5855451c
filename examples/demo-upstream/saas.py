#!/usr/bin/env python3
"""A stand-in for the SaaS upstreams the examples call, on loopback only:
a CRM with open expense reports and a team chat that keeps what it was
sent. `./scripts/serve-examples.sh` starts it for the tour; the examples'
tests start it too.

    python3 examples/demo-upstream/saas.py [--port 0]

Prints `listening on http://127.0.0.1:PORT` once it answers.

  GET  /crm/expenses?status=open   open expense reports (JSON)
  POST /chat/messages              a message for the team chat (JSON)
  GET  /chat/messages              every message the chat received
  POST /token                      an OAuth2 access token (client credentials)
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPENSES = [
    {"id": "EXP-101", "submitter": "ada@example.com", "amount": 1200.5, "category": "travel"},
    {"id": "EXP-102", "submitter": "bob@example.com", "amount": 89.9, "category": "meals"},
    {"id": "EXP-103", "submitter": "ada@example.com", "amount": 310.0, "category": "hotel"},
]

received = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/crm/expenses":
            if not self.headers.get("authorization", "").startswith("Bearer "):
                return self._answer(401, {"error": "no credential"})
            return self._answer(200, EXPENSES)
        if path == "/chat/messages":
            with lock:
                return self._answer(200, list(received))
        return self._answer(404, {"error": f"no {path} here"})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if self.path == "/chat/messages":
            try:
                message = json.loads(body)
            except ValueError:
                return self._answer(400, {"error": "not JSON"})
            with lock:
                received.append(message)
            return self._answer(200, {"ok": True})
        if self.path == "/token":
            return self._answer(200, {"access_token": "demo-token", "token_type": "Bearer", "expires_in": 3600})
        return self._answer(404, {"error": f"no {self.path} here"})

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
