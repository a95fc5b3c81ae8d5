#!/usr/bin/python3
"""tests/smtpd/smtpd_webhook_test.py: groupware webhooks from the real tsubame-smtpd (issue 6 §4).

One `tsubame init` installation with httpd.webhook_urls pointing at a local Python HTTP
receiver and httpd.webhook_secret_file holding the HMAC key; the real tsubame-smtpd runs on
free loopback ports over it.
- A message delivered through the MX listener (smtplib) produces one signed
  "message.delivered" event: HMAC-SHA256(secret, "<timestamp>.<body>") in
  X-Tsubame-Signature (common/webhook.h), metadata only (queue id, recipient, mailbox,
  size, verdict), never the subject or the body.
- Failing SMTP AUTH until security.lockout_failures locks the account produces one signed
  "account.locked" event for that user, and nothing before the threshold.
The receiver helpers (Receiver, Installation) are reused by tests/imapd/imapd_webhook_test.py.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import hashlib
import hmac
import http.server
import json
import os
import sys
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
LOCKOUT_FAILURES = 3
EVENT_WAIT_SECONDS = 30  # the sender retries with backoff; a missing event fails after this


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, start_daemon  # noqa: E402  (shared: ports below the ephemeral range)


class Receiver:
    """A local HTTP server that records every POST (headers, raw body) and answers 204."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.cond:
                    receiver.events.append((headers, body))
                    receiver.cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, event_type):
        with self.cond:
            return [e for e in self.events if e[0].get("x-tsubame-event") == event_type]

    def wait_for(self, event_type, count=1, timeout=EVENT_WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events if e[0].get("x-tsubame-event") == event_type]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.cond.wait(left)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def expected_signature(secret, headers, body):
    """common/webhook.h: "sha256=" + hex(HMAC-SHA256(secret, "<timestamp>.<body>"))."""
    mac = hmac.new(secret.encode(), headers["x-tsubame-timestamp"].encode() + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Installation:
    """A `tsubame init` installation configured for webhooks, plain AUTH on loopback, a cheap
    KDF and a low lockout threshold; the daemons' ports are free loopback ports."""

    def __init__(self, prefix, receiver_port):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.dir = os.path.join(self.tmp, "inst")
        out = subprocess.run([os.path.join(BIN, "tsubame"), "init", self.dir, "--json"],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out.strip().splitlines()[-1])
        self.user, self.password = info["user"], info["password"]
        self.secret = "hook-secret-" + os.urandom(12).hex()
        secret_file = os.path.join(self.tmp, "webhook.secret")
        with open(secret_file, "w") as f:
            f.write(self.secret + "\n")
        os.chmod(secret_file, 0o600)
        self.ports = {k: free_port() for k in ("listen_mx", "listen_submission",
                                                "listen_submissions", "listen_imap",
                                                "listen_imaps")}
        self.conf = os.path.join(self.dir, "tsubame.conf")
        with open(self.conf) as f:
            text = f.read()
        settings = {
            "webhook_urls": f"http://127.0.0.1:{receiver_port}/hooks/tsubame",
            "webhook_secret_file": secret_file,
            "allow_plaintext_auth": "yes",  # loopback test without STARTTLS
            "lockout_failures": str(LOCKOUT_FAILURES),
            "kdf_memory": "8K",
            "kdf_passes": "1",
            "auth_failure_delay": "0s",
            "max_auth_failures": "10",
        }
        settings.update({k: f"127.0.0.1:{p}" for k, p in self.ports.items()})
        for key, value in settings.items():
            text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
            assert n == 1, key
        with open(self.conf, "w") as f:
            f.write(text)
        # The config allows plaintext AUTH/LOGIN on loopback, but a domain's tls_required
        # (default yes, store/settings.h) wins: this test's domain allows it too.
        r = subprocess.run([os.path.join(BIN, "tsubame"), "--config", self.conf, "security",
                            "set", info["domain"], "tls_required", "no"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.procs, self.logs = [], []

    def add_user(self, address, password):
        r = subprocess.run([os.path.join(BIN, "tsubame"), "--config", self.conf, "user", "add",
                            address, "--password-stdin"], input=password + "\n",
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    def start(self, name, ports):
        log = open(os.path.join(self.tmp, name + ".log"), "w")
        self.logs.append(log)
        proc = start_daemon(name, self.conf, ports, log)  # smtpd compiles the rule set at start
        if proc is None:
            raise RuntimeError(f"{name} exited at start; see {log.name}")
        self.procs.append(proc)
        return proc

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        for f in self.logs:
            f.close()
        if os.environ.get("TSUBAME_KEEP_TMP"):
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class SmtpdWebhook(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.inst = Installation("tsubame-smtpd-hooks-", cls.receiver.port)
        cls.victim, cls.victim_password = "lockme@tsubame.test", "Quiet river 2026 lock"
        try:
            cls.inst.add_user(cls.victim, cls.victim_password)
            cls.inst.start("tsubame-smtpd", (cls.inst.ports["listen_mx"],
                                             cls.inst.ports["listen_submission"]))
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.close()
        cls.receiver.close()

    def check_signed(self, headers, body, event_type):
        self.assertEqual(headers["x-tsubame-event"], event_type)
        self.assertEqual(headers["x-tsubame-signature"],
                         expected_signature(self.inst.secret, headers, body))
        self.assertNotEqual(headers["x-tsubame-signature"],
                            expected_signature("wrong-" + self.inst.secret, headers, body))
        self.assertRegex(headers["x-tsubame-delivery"], r"^[0-9a-f]{32}$")
        event = json.loads(body)
        self.assertEqual(event["type"], event_type)
        self.assertEqual(event["id"], headers["x-tsubame-delivery"])
        self.assertEqual(event["source"], "smtpd")
        return event

    def test_delivery_publishes_signed_metadata_only_event(self):
        subject = "Quarterly SUBJECTMARK-7f3a plans"
        text = "The BODYMARK-91c2 figures are attached in spirit."
        msg = (f"From: Bob <bob@example.org>\r\nTo: <{self.inst.user}>\r\n"
               f"Subject: {subject}\r\n"
               "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
               "Message-ID: <hook-test-1@example.org>\r\n\r\n"
               f"{text}\r\n")
        with smtplib.SMTP("127.0.0.1", self.inst.ports["listen_mx"],
                          local_hostname="client.example.org", timeout=30) as s:
            self.assertEqual(s.sendmail("bob@example.org", [self.inst.user], msg), {})
        events = self.receiver.wait_for("message.delivered")
        self.assertEqual(len(events), 1, "one message.delivered per delivered copy")
        headers, body = events[0]
        event = self.check_signed(headers, body, "message.delivered")
        data = event["data"]
        self.assertEqual(data["user"], self.inst.user)
        self.assertIn(data["mailbox"], ("INBOX", "Junk"))
        self.assertRegex(data["queue_id"], r"^\S+$")
        self.assertGreater(data["size"], len(msg))  # Return-Path and Received were added
        self.assertGreaterEqual(data["uid"], 1)
        self.assertIn("action", data)
        self.assertIn("score", data)
        self.assertGreater(data["time_ms"], 0)
        # Metadata only: neither the subject nor the body nor the sender's header reaches it.
        for secret_text in (b"SUBJECTMARK", b"BODYMARK", b"Quarterly", b"figures"):
            self.assertNotIn(secret_text, body)

    def submission(self):
        """A submission session after STARTTLS (smtpd offers AUTH only under TLS there;
        the installation's certificate is self-signed)."""
        s = smtplib.SMTP("127.0.0.1", self.inst.ports["listen_submission"],
                         local_hostname="client.example.org", timeout=30)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        return s

    @staticmethod
    def auth_plain(s, user, password):
        """Exactly one AUTH PLAIN attempt (smtplib's login() would fall back to AUTH LOGIN
        and count a second failure)."""
        s.ehlo_or_helo_if_needed()
        s.user, s.password = user, password
        s.auth("PLAIN", s.auth_plain)

    def test_auth_failures_up_to_the_threshold_publish_account_locked(self):
        for attempt in range(LOCKOUT_FAILURES):
            # Nothing before the threshold.
            self.assertEqual(self.receiver.of_type("account.locked"), [], attempt)
            with self.submission() as s:
                with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                    self.auth_plain(s, self.victim, "not the password %d" % attempt)
                self.assertEqual(cm.exception.smtp_code, 535, cm.exception)
        events = self.receiver.wait_for("account.locked")
        self.assertEqual(len(events), 1)
        headers, body = events[0]
        event = self.check_signed(headers, body, "account.locked")
        data = event["data"]
        self.assertEqual(data["user"], self.victim)
        self.assertEqual(data["protocol"], "smtp")
        self.assertEqual(data["failures"], LOCKOUT_FAILURES)
        self.assertGreater(data["locked_until_ms"], event["time_ms"])
        self.assertEqual(data["source_ip"], "127.0.0.1")
        self.assertNotIn(b"not the password", body)
        # Locked now: even the right password is refused, and no second event is sent.
        with self.submission() as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                self.auth_plain(s, self.victim, self.victim_password)
            self.assertNotEqual(cm.exception.smtp_code, 530, cm.exception)
        time.sleep(1)  # give a wrongly published second event the chance to arrive
        self.assertEqual(len(self.receiver.of_type("account.locked")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
