"""Shared fixtures of the tsubame-httpd tests: an installation made by the real `tsubame init`,
the real tsubame-httpd on a loopback port over TLS (certificate verified), a local webhook
receiver that checks nothing itself (the tests do), and helpers for HTTPS requests.

Environment (set by ctest's tsubame_pytest): TSUBAME_BIN = the build's bin directory.
"""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
TSUBAME = os.path.join(BIN, "tsubame")
HTTPD = os.path.join(BIN, "tsubame-httpd")
DELIVER = os.path.join(BIN, "httpd_test_deliver")
HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "Correct-Horse-42-battery"


from tsubame_test import free_port, start_daemon, stop_daemon  # noqa: E402,F401  (tests/ on PYTHONPATH)


def set_key(text, section, key, value):
    """Sets `key = value` inside [section] of a tsubame.conf text (adds the line if absent)."""
    lines = text.split("\n")
    start = None
    for i, line in enumerate(lines):
        if line.strip() == "[%s]" % section:
            start = i
            continue
        if start is not None and line.startswith("["):
            lines.insert(i, "%s = %s" % (key, value))
            return "\n".join(lines)
        if start is not None and re.match(r"#?\s*%s\s*=" % re.escape(key), line.strip()):
            lines[i] = "%s = %s" % (key, value)
            return "\n".join(lines)
    if start is None:
        lines += ["[%s]" % section]
    lines.append("%s = %s" % (key, value))
    return "\n".join(lines)


class WebhookReceiver:
    """A local HTTP server recording every POST; answers 500 to the next `fail_next` ones."""

    def __init__(self):
        self.events = []  # dicts: status, headers, body, json
        self.lock = threading.Lock()
        self.fail_next = 0
        self.fail_once_if = None  # predicate on the event JSON: answer 500 once to the first match
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    try:
                        parsed = json.loads(body)
                    except ValueError:
                        parsed = None
                    status = 500 if receiver.fail_next > 0 else 200
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                    if receiver.fail_once_if and parsed and receiver.fail_once_if(parsed):
                        receiver.fail_once_if = None
                        status = 500
                    receiver.events.append({"status": status, "headers": dict(self.headers),
                                            "body": body, "json": parsed})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks/tsubame" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = [e for e in self.events if e["json"] is not None and pred(e["json"])]
            if found:
                return found
            time.sleep(0.1)
        return []

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def signature_ok(secret, event):
    """The receiver's check: HMAC-SHA256(secret, timestamp "." body) in X-Tsubame-Signature."""
    h = {k.lower(): v for k, v in event["headers"].items()}
    ts = h.get("x-tsubame-timestamp", "")
    sig = h.get("x-tsubame-signature", "")
    if not ts.isdigit() or abs(int(ts) - time.time()) > 300:
        return False
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + event["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


class Installation:
    """`tsubame init` in a temp dir, users added with the CLI, config adjusted for tests."""

    def __init__(self, webhook_url=None, lockout_failures=3):
        self.tmp = tempfile.mkdtemp(prefix="tsubame-httpd-")
        self.dir = os.path.join(self.tmp, "inst")
        r = subprocess.run([TSUBAME, "init", self.dir, "--json", "--hostname", "localhost"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("tsubame init failed: " + r.stderr)
        info = json.loads(r.stdout)
        self.conf = info["config"]
        self.demo = info["user"]
        self.demo_password = info["password"]
        self.port = free_port()
        self.secret = secrets.token_hex(32)
        self.secret_file = os.path.join(self.dir, "webhook.secret")
        with open(os.open(self.secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.secret + "\n")
        with open(self.conf) as f:
            text = f.read()
        text = set_key(text, "security", "kdf_memory", "8K")
        text = set_key(text, "security", "kdf_passes", "1")
        text = set_key(text, "security", "lockout_failures", str(lockout_failures))
        text = set_key(text, "httpd", "listen", "127.0.0.1:%d" % self.port)
        if webhook_url:
            text = set_key(text, "httpd", "webhook_urls", webhook_url)
            text = set_key(text, "httpd", "webhook_secret_file", self.secret_file)
        self.write_conf(text)
        self.cert = os.path.join(self.dir, "tls", "cert.pem")
        self.run_dir = os.path.join(self.dir, "run")

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def cli(self, *args, stdin=None):
        return subprocess.run([TSUBAME, "--config", self.conf] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=120)

    def add_user(self, address, password=PASSWORD):
        r = self.cli("user", "add", address, "--password-stdin", stdin=password + "\n")
        if r.returncode != 0 and "force" in (r.stderr + r.stdout):
            r = self.cli("user", "add", address, "--password-stdin", "--force", stdin=password + "\n")
        if r.returncode != 0:
            raise RuntimeError("user add %s failed: %s" % (address, r.stderr))

    def add_domain(self, name):
        r = self.cli("domain", "add", name)
        if r.returncode != 0:
            raise RuntimeError("domain add failed: " + r.stderr)

    def deliver(self, to, eml_text, mailbox="INBOX"):
        path = os.path.join(self.tmp, "msg-%s.eml" % secrets.token_hex(4))
        with open(path, "w") as f:
            f.write(eml_text)
        r = subprocess.run([DELIVER, "--config", self.conf, "--to", to, "--mailbox", mailbox, path],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("deliver failed: " + r.stderr)
        return json.loads(r.stdout)["uid"]

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def message(subject, body, sender="Mallory <mallory@spam.example>", to="demo@tsubame.test"):
    return ("From: %s\nTo: %s\nSubject: %s\nDate: Sun, 22 Nov 2026 04:00:00 +0000\n"
            "Message-ID: <%s@spam.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n"
            % (sender, to, subject, secrets.token_hex(8), body))


class Daemon:
    """The real tsubame-httpd, started on the installation's port; stopped with SIGTERM."""

    def __init__(self, inst, *extra):
        self.inst = inst
        self.ctx = ssl.create_default_context(cafile=inst.cert)
        self.log = open(os.path.join(inst.tmp, "httpd-%s.log" % secrets.token_hex(4)), "w")
        # start_daemon waits for "httpd: ready" from THIS process (a port that answers may be
        # another test's daemon); if the probed port was taken meanwhile, pick another one.
        for _ in range(5):
            self.proc = start_daemon("tsubame-httpd", inst.conf, [inst.port], self.log,
                                     timeout=60, extra_args=extra)
            if self.proc is not None:
                break
            inst.port = free_port()
            with open(inst.conf) as f:
                inst.write_conf(set_key(f.read(), "httpd", "listen", "127.0.0.1:%d" % inst.port))
        else:
            raise RuntimeError("tsubame-httpd did not start: " + self.log_text())
        status = self.request("GET", "/healthz")[0]
        if status != 200:
            raise RuntimeError("tsubame-httpd /healthz answered %d: %s" % (status, self.log_text()))

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-4000:]

    def connection(self):
        return http.client.HTTPSConnection("localhost", self.inst.port, context=self.ctx, timeout=30)

    def request(self, method, path, body=None, token=None, headers=None, raw=None):
        """Returns (status, headers dict lower-cased, parsed JSON or text)."""
        conn = self.connection()
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        parsed = text
        if hdrs.get("content-type", "").startswith("application/json") and text:
            parsed = json.loads(text)
        return resp.status, hdrs, parsed

    def login(self, address, password):
        status, _, body = self.request("POST", "/api/login", {"address": address, "password": password})
        if status != 200:
            raise AssertionError("login %s: %d %s" % (address, status, body))
        return body["token"]

    def stop(self):
        rc = stop_daemon(self.proc)
        self.log.close()
        return rc
