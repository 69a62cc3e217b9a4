#!/usr/bin/env python3
"""HTTP(S) peer for SpillwayReactorTests.

Listens on 127.0.0.1 on a free port, prints the port on stdout, and serves until its stdin
closes (so it dies with the test process). HTTP/1.1 with keep-alive, one thread per connection.

  GET /echo/NAME        200 "body-NAME"
  GET /gated/KEY        chunked: "first;", then waits until /release/KEY is requested, then
                        "second;" (or "timeout;" after 60 s), then ends
  GET /release/KEY      200 "released"
  GET /hold             chunked: "held;", then nothing until the client goes away
  GET /status/429       429 text/plain with Retry-After: 7
  GET /client-cert      200 the client certificate's subject CN (TLS with --client-ca)
  GET http://ANY/...    (as a forward proxy) 200 "proxied http://ANY/..."
  POST/PUT/PATCH/DELETE 200 "METHOD LENGTH:BODY"

  --cert/--key serve TLS; --client-ca also requires a client certificate signed by it.
"""
import argparse
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

gates = {}
gates_lock = threading.Lock()


def gate(key):
    with gates_lock:
        return gates.setdefault(key, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def send_body(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        path = self.path
        if path.startswith("http://"):
            self.send_body(200, b"proxied " + path.encode())
        elif path.startswith("/echo/"):
            self.send_body(200, b"body-" + path[len("/echo/"):].encode(), [("Content-Type", "text/plain")])
        elif path == "/headers":
            lines = [f"{name}: {value}" for name, value in self.headers.items() if name.lower().startswith("x-")]
            self.send_body(200, "\n".join(lines).encode())
        elif path.startswith("/gated/"):
            self.start_chunked()
            self.chunk(b"first;")
            released = gate(path[len("/gated/"):]).wait(60)
            self.chunk(b"second;" if released else b"timeout;")
            self.chunk(b"")
        elif path.startswith("/burst-then-gated/"):
            # 160 KiB at once (a page of a list), then a small chunk once released.
            self.start_chunked()
            self.chunk(b"x" * 163840)
            released = gate(path[len("/burst-then-gated/"):]).wait(60)
            self.chunk(b"small;" if released else b"timeout;")
            self.chunk(b"")
        elif path.startswith("/release/"):
            gate(path[len("/release/"):]).set()
            self.send_body(200, b"released")
        elif path == "/hold":
            self.start_chunked()
            self.chunk(b"held;")
            self.connection.settimeout(300)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            self.close_connection = True
        elif path == "/status/429":
            self.send_body(429, b"Too many requests, please try again later.",
                           [("Content-Type", "text/plain"), ("Retry-After", "7")])
        elif path == "/client-cert":
            subject = dict(field[0] for field in self.connection.getpeercert()["subject"])
            self.send_body(200, subject["commonName"].encode())
        else:
            self.send_body(404, b"not found")

    def echo(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/expect":  # the Expect header the request carried
            self.send_body(200, (self.headers.get("Expect") or "none").encode())
            return
        self.send_body(200, b"%s %d:%s" % (self.command.encode(), length, body))

    do_POST = do_PUT = do_PATCH = do_DELETE = echo


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass  # failed handshakes and vanished clients are what several tests provoke


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--client-ca")
    args = parser.parse_args()

    server = Server(("127.0.0.1", 0), Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
        # The handshake happens on the connection's own thread, not in accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)

    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
