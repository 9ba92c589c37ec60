#!/usr/bin/env python3
"""A Lambda extension for the telemetry tests: standard library only, copied into a function's extensions/.

It binds a listener on sandbox.localdomain (a port the OS picks), subscribes to the Telemetry API or the Logs
API as LISTENER_CONFIG (JSON) says, then waits for events. Every batch it receives is appended, one JSON line
each, to <temp dir>/<its name>.received: {"method", "path", "bytes", "at", "events"} (TCP: one line per event,
"method" "TCP"). Modes:
- "normal": listens before it subscribes, as extensions should;
- "late": subscribes first and listens only once something writes to the FIFO <temp dir>/listen;
- "never-read": listens but never accepts a connection, so nothing it is sent is ever read or answered.
"wait_for": on SHUTDOWN, wait (at most 1.8 s) until a received event's JSON contains this text, then exit.
"""

import http.client
import http.server
import json
import os
import socket
import sys
import tempfile
import threading
import time

NAME = os.path.basename(__file__)
CONFIG = json.loads(os.environ.get("LISTENER_CONFIG", "{}"))
TMP = tempfile.gettempdir()
RECEIVED = os.path.join(TMP, NAME + ".received")
changed = threading.Condition()
seen = []  # every event's JSON text, for wait_for


def keep(entry):
    with changed:
        with open(RECEIVED, "a") as fh:
            fh.write(json.dumps(entry) + "\n")
        seen.extend(json.dumps(event) for event in entry["events"])
        changed.notify_all()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Lambda's client expects
    disable_nagle_algorithm = True

    def take(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        keep({"method": self.command, "path": self.path, "bytes": len(body), "at": time.time(),
              "content_type": self.headers.get("Content-Type"), "events": json.loads(body)})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = take

    def log_message(self, *args):
        pass  # stderr is the extension's log: it would come back as telemetry


def serve_tcp(listener):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=read_lines, args=(conn,), daemon=True).start()


def read_lines(conn):
    for line in conn.makefile("rb"):
        keep({"method": "TCP", "path": "", "bytes": len(line), "at": time.time(), "events": [json.loads(line)]})


def serve(listener):
    listener.listen(64)
    if CONFIG.get("protocol") == "TCP":
        serve_tcp(listener)
        return
    server = http.server.ThreadingHTTPServer(listener.getsockname(), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.daemon_threads = True
    server.serve_forever()


def listen_late(listener):
    with open(os.path.join(TMP, "listen")) as fifo:
        fifo.read()
    serve(listener)


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("sandbox.localdomain", 0))
    port = listener.getsockname()[1]
    mode = CONFIG.get("mode", "normal")
    if mode == "normal":
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
    elif mode == "late":
        os.mkfifo(os.path.join(TMP, "listen"))
        threading.Thread(target=listen_late, args=(listener,), daemon=True).start()
    else:
        listener.listen(1)  # never accepted: connections complete in the kernel, and nobody reads them

    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"], timeout=None)

    def call(method, path, headers, body=None):
        api.request(method, path, body=body, headers=headers)
        answer = api.getresponse()
        return answer, answer.read()

    answer, _ = call("POST", "/2020-01-01/extension/register", {"Lambda-Extension-Name": NAME},
                     json.dumps({"events": ["INVOKE", "SHUTDOWN"]}))
    ext_id = answer.getheader("Lambda-Extension-Identifier")
    if CONFIG.get("protocol") == "TCP":
        destination = {"protocol": "TCP", "port": port}
    else:
        destination = {"protocol": "HTTP", "URI": "http://sandbox.localdomain:%d/%s" % (port, CONFIG.get("path", ""))}
        if "method" in CONFIG:
            destination["method"] = CONFIG["method"]
    body = {"types": CONFIG.get("types", ["platform", "function"]), "destination": destination,
            "buffering": CONFIG.get("buffering", {"timeoutMs": 25})}
    if CONFIG.get("api", "telemetry") == "telemetry":
        body["schemaVersion"] = CONFIG.get("schema", "2022-12-13")
        path = "/2022-07-01/telemetry"
    else:
        path = "/2020-08-15/logs"
    answer, raw = call("PUT", path, {"Lambda-Extension-Identifier": ext_id, "Content-Type": "application/json"},
                       json.dumps(body))
    if answer.status != 200:
        sys.exit("subscription refused: %d %s" % (answer.status, raw.decode()))
    if CONFIG.get("say"):
        print(CONFIG["say"], flush=True)
    while True:
        _, raw = call("GET", "/2020-01-01/extension/event/next", {"Lambda-Extension-Identifier": ext_id})
        if json.loads(raw)["eventType"] == "SHUTDOWN":
            break
    wanted = CONFIG.get("wait_for")
    if wanted:
        with changed:
            changed.wait_for(lambda: any(wanted in text for text in seen), timeout=1.8)


if __name__ == "__main__":
    main()
