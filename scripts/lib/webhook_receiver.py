#!/usr/bin/env python3
"""The demo's Alertmanager webhook receiver (scripts/demo), standard library only.

  webhook_receiver.py serve HOST:PORT FILE   append every notification received (one JSON
                                             document per line) to FILE and answer 200
  webhook_receiver.py show FILE              print the notifications in FILE, oldest first

Alertmanager POSTs one JSON document per notification: its receiver, status, common labels
and the alerts of the group, each with labels, annotations and the generator URL back to
Prometheus (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(listen: str, path: str) -> None:
    host, port = listen.rsplit(":", 1)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                notification = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "expected a JSON document")
                return
            record = {
                "received": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime()),
                "path": self.path,
                "notification": notification,
            }
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(record) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = b"slotwatch demo webhook receiver: POST Alertmanager notifications here\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


def show(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        records = []
    if not records:
        print("no notifications yet (Alertmanager sends one once an alert fires)")
        return 0
    for r in records:
        n = r["notification"]
        print(f"{r['received']}  receiver {n.get('receiver')} ({r['path']})  {n.get('status')}")
        for a in n.get("alerts", []):
            labels = dict(a.get("labels", {}))
            name = labels.pop("alertname", "?")
            severity = labels.pop("severity", "")
            rest = " ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            ann = a.get("annotations", {})
            print(f"  {name} [{severity}] {a.get('status')}  {rest}")
            for key in ("summary", "description"):
                if ann.get(key):
                    print(f"    {ann[key]}")
            if a.get("generatorURL"):
                print(f"    source: {a['generatorURL']}")
        print()
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "show":
        return show(sys.argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
