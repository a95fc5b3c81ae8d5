"""Integration tests of tsubame-httpd: the real daemon over TLS on a store made by
`tsubame init`, driven with http.client (certificate verified) and curl; webhooks received by a
local HTTP server with every signature checked.

Run by ctest (tests/httpd/CMakeLists.txt) with TSUBAME_BIN pointing at build/bin.
"""
import http.client
import json
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PASSWORD, Daemon, Installation, WebhookReceiver, message, signature_ok  # noqa: E402

MAX_BODY = 64 * 1024          # tools/httpd/limits.h kMaxBodyBytes
MAX_HEADERS = 16 * 1024       # kMaxHeadersBytes
MAX_CONN_PER_IP = 32          # kMaxConnectionsPerIp
IO_TIMEOUT = 30               # kIoTimeoutSeconds
LOCKOUT_FAILURES = 3          # set in the test config (security.lockout_failures)


class HttpdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hooks = WebhookReceiver()
        cls.inst = Installation(webhook_url=cls.hooks.url, lockout_failures=LOCKOUT_FAILURES)
        cls.inst.add_user("postmaster@tsubame.test")
        cls.inst.add_user("bob@tsubame.test")
        cls.inst.add_user("carol@tsubame.test")
        cls.inst.add_user("dave@tsubame.test")
        cls.inst.add_domain("other.test")
        cls.inst.add_user("postmaster@other.test")
        cls.inst.add_user("erin@other.test")
        cls.inst.add_user("frank@tsubame.test")
        cls.demo = cls.inst.demo
        cls.secret_body = "BODY-SECRET-" + secrets.token_hex(8)
        cls.uid = cls.inst.deliver(cls.demo, message("Cheap watches", cls.secret_body))
        cls.uid2 = cls.inst.deliver(cls.demo, message("Team lunch", "see you at noon",
                                                      sender="Bob <bob@tsubame.test>"))
        cls.d = Daemon(cls.inst)

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.hooks.stop()
        cls.inst.cleanup()
        assert rc == 0, "tsubame-httpd did not exit cleanly on SIGTERM: %r" % rc

    def token(self, who=None, password=None):
        if who is None:
            return self.d.login(self.demo, self.inst.demo_password)
        return self.d.login(who, password or PASSWORD)

    # ---- health, page, methods ----
    def test_healthz(self):
        status, h, body = self.d.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(body, {"status": "ok"})
        self.assertIn("max-age", h.get("strict-transport-security", ""))

    def test_static_page_is_served_with_a_strict_csp(self):
        status, h, body = self.d.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))
        with open(os.path.join(harness.HERE, "..", "..", "tools", "httpd", "www", "app.js")) as f:
            self.assertIn("Report spam", f.read())
        self.assertIn('<script src="/app.js"', body)
        self.assertIn("script-src 'self'", h["content-security-policy"])
        self.assertEqual(h["x-frame-options"], "DENY")
        status, h, body = self.d.request("GET", "/app.js")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/javascript"))
        self.assertEqual(self.d.request("GET", "/style.css")[0], 200)
        self.assertEqual(self.d.request("GET", "/../tsubame.conf")[0], 404)
        self.assertEqual(self.d.request("GET", "/nope")[0], 404)

    def test_wrong_method_is_405_with_allow(self):
        for method, path, allow in [("GET", "/api/login", "POST"), ("DELETE", "/api/messages", "GET, HEAD"),
                                    ("PUT", "/api/report", "POST"), ("GET", "/api/quarantine/1/decide", "POST"),
                                    ("POST", "/healthz", "GET, HEAD"), ("POST", "/", "GET, HEAD")]:
            status, h, _ = self.d.request(method, path)
            self.assertEqual(status, 405, (method, path))
            self.assertEqual(h.get("allow"), allow, (method, path))

    # ---- login ----
    def test_login_ok(self):
        status, h, body = self.d.request("POST", "/api/login", {"address": self.demo, "password": self.inst.demo_password},
                                         headers={"User-Agent": "httpd-test"})
        self.assertEqual(status, 200, body)
        self.assertRegex(body["token"], r"^[0-9a-f]{64}$")
        self.assertFalse(body["admin"])
        self.assertGreater(body["expires_ms"], time.time() * 1000)
        self.assertEqual(h.get("cache-control"), "no-store")
        status, _, me = self.d.request("GET", "/api/me", token=body["token"])
        self.assertEqual((status, me["address"]), (200, self.demo))

    def test_login_bad_password_and_unknown_user_look_the_same(self):
        s1, _, b1 = self.d.request("POST", "/api/login", {"address": "bob@tsubame.test", "password": "wrong-password"})
        s2, _, b2 = self.d.request("POST", "/api/login", {"address": "nobody@tsubame.test", "password": "wrong-password"})
        self.assertEqual((s1, s2), (401, 401))
        self.assertEqual(b1, b2)
        self.token("bob@tsubame.test")  # the success clears bob's failure counter

    def test_web_logins_are_in_the_login_history(self):
        self.d.request("POST", "/api/login", {"address": "dave@tsubame.test", "password": "not-the-password"},
                       headers={"User-Agent": "history-check/1.0"})
        self.token("dave@tsubame.test")
        r = self.inst.cli("logins", "dave@tsubame.test", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        records = json.loads(r.stdout)
        text = json.dumps(records)
        self.assertIn("http", text)
        self.assertIn("bad-password", text)
        self.assertIn("success", text)
        self.assertIn("127.0.0.1", text)
        self.assertIn("history-check/1.0", text)

    def test_login_lockout_after_failures_and_webhook(self):
        for _ in range(LOCKOUT_FAILURES):
            status, _, _ = self.d.request("POST", "/api/login", {"address": "carol@tsubame.test", "password": "nope-nope-nope"})
            self.assertEqual(status, 401)
        # Locked now: even the right password is refused, with 423.
        status, _, body = self.d.request("POST", "/api/login", {"address": "carol@tsubame.test", "password": PASSWORD})
        self.assertEqual(status, 423, body)
        self.assertIn("locked", body["error"])
        ev = self.hooks.wait_for(lambda j: j["type"] == "account.locked" and j["data"]["user"] == "carol@tsubame.test")
        self.assertTrue(ev, "account.locked webhook not received")
        self.assertTrue(signature_ok(self.inst.secret, ev[0]))
        self.assertEqual(ev[0]["json"]["data"]["protocol"], "http")
        # The lock is in the store, for every protocol: the CLI's lockout reset clears it.
        r = self.inst.cli("lockout", "reset", "carol@tsubame.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.d.request("POST", "/api/login", {"address": "carol@tsubame.test", "password": PASSWORD})[0], 200)

    def test_domain_lockout_setting_applies_to_web_logins(self):
        # other.test locks after 2 failures (the config says 3): the domain's setting wins,
        # read at each login, so no restart is needed.
        r = self.inst.cli("security", "set", "other.test", "lockout_failures", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        for _ in range(2):
            status, _, _ = self.d.request("POST", "/api/login", {"address": "erin@other.test", "password": "nope-nope-nope"})
            self.assertEqual(status, 401)
        status, _, body = self.d.request("POST", "/api/login", {"address": "erin@other.test", "password": PASSWORD})
        self.assertEqual(status, 423, body)
        # A user of tsubame.test still has the config's 3 attempts: 2 failures do not lock.
        for _ in range(2):
            status, _, _ = self.d.request("POST", "/api/login", {"address": "frank@tsubame.test", "password": "nope-nope-nope"})
            self.assertEqual(status, 401)
        self.assertEqual(self.d.request("POST", "/api/login", {"address": "frank@tsubame.test", "password": PASSWORD})[0], 200)

    def test_sighup_does_not_stop_the_daemon(self):
        # logrotate or a closed terminal sends SIGHUP: the daemon goes on serving.
        os.kill(self.d.proc.pid, signal.SIGHUP)
        time.sleep(0.3)
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)

    def test_login_bad_json_is_400(self):
        for raw in [b"not json", b"[1,2]", b"{\"address\": 5, \"password\": \"x\"}", b"{\"address\": \"a@b\"}", b""]:
            status, _, body = self.d.request("POST", "/api/login", raw=raw, headers={"Content-Type": "application/json"})
            self.assertEqual(status, 400, raw)
            self.assertIn("error", body)

    # ---- tokens ----
    def test_missing_forged_and_malformed_tokens_are_401(self):
        real = self.token()
        forged = "%064x" % (int(real, 16) ^ 1)
        for tok in [None, forged, secrets.token_hex(32), "abc", real.upper() if real.upper() != real else "zz"]:
            status, h, _ = self.d.request("GET", "/api/mailboxes", token=tok)
            self.assertEqual(status, 401, tok)
            self.assertTrue(h.get("www-authenticate", "").startswith("Bearer"))
        status, _, _ = self.d.request("GET", "/api/mailboxes", headers={"Authorization": "Basic " + real})
        self.assertEqual(status, 401)

    def test_logout_revokes_the_token(self):
        tok = self.token()
        self.assertEqual(self.d.request("GET", "/api/mailboxes", token=tok)[0], 200)
        self.assertEqual(self.d.request("POST", "/api/logout", token=tok)[0], 204)
        self.assertEqual(self.d.request("GET", "/api/mailboxes", token=tok)[0], 401)

    def test_expired_token_is_401(self):
        # A second daemon on its own port with 2-second sessions, same store.
        inst2 = Installation.__new__(Installation)
        inst2.__dict__.update(self.inst.__dict__)
        inst2.port = harness.free_port()
        conf2 = os.path.join(self.inst.dir, "short.conf")
        with open(self.inst.conf) as f:
            text = harness.set_key(f.read(), "httpd", "listen", "127.0.0.1:%d" % inst2.port)
        text = harness.set_key(text, "httpd", "webhook_urls", "")
        with open(conf2, "w") as f:
            f.write(text)
        inst2.conf = conf2
        d2 = Daemon(inst2, "--session-lifetime", "2")
        try:
            tok = d2.login("dave@tsubame.test", PASSWORD)
            self.assertEqual(d2.request("GET", "/api/me", token=tok)[0], 200)
            time.sleep(3)
            self.assertEqual(d2.request("GET", "/api/me", token=tok)[0], 401)
            # A token of one daemon means nothing to another (tokens live in memory).
            self.assertEqual(self.d.request("GET", "/api/me", token=tok)[0], 401)
        finally:
            self.assertEqual(d2.stop(), 0)

    def test_drops_root_to_general_user(self):
        if os.geteuid() != 0:
            self.skipTest("needs to start as root to show the drop")
        import pwd
        nobody = pwd.getpwnam("nobody")
        inst2 = Installation.__new__(Installation)
        inst2.__dict__.update(self.inst.__dict__)
        inst2.port = harness.free_port()
        conf2 = os.path.join(self.inst.dir, "nobody.conf")
        with open(self.inst.conf) as f:
            text = harness.set_key(f.read(), "httpd", "listen", "127.0.0.1:%d" % inst2.port)
        text = harness.set_key(text, "httpd", "webhook_urls", "")
        text = harness.set_key(text, "general", "user", "nobody")
        with open(conf2, "w") as f:
            f.write(text)
        inst2.conf = conf2
        d2 = Daemon(inst2)
        try:
            with open("/proc/%d/status" % d2.proc.pid) as f:
                uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", f.read(), re.M).groups()
            self.assertEqual(set(map(int, uids)), {nobody.pw_uid}, "real, effective, saved and fs uid")
            # Still serving, with the store it opened as root.
            tok = d2.login("dave@tsubame.test", PASSWORD)
            self.assertEqual(d2.request("GET", "/api/mailboxes", token=tok)[0], 200)
        finally:
            self.assertEqual(d2.stop(), 0)

    # ---- mail ----
    def test_mailboxes(self):
        status, _, body = self.d.request("GET", "/api/mailboxes", token=self.token())
        self.assertEqual(status, 200)
        names = {m["name"]: m for m in body["mailboxes"]}
        self.assertIn("INBOX", names)
        self.assertEqual(names["Junk"]["special"], "\\Junk")
        self.assertGreaterEqual(names["INBOX"]["messages"], 2)

    def test_messages_are_headers_only(self):
        status, _, body = self.d.request("GET", "/api/messages?mailbox=INBOX", token=self.token())
        self.assertEqual(status, 200, body)
        by_uid = {m["uid"]: m for m in body["messages"]}
        m = by_uid[self.uid]
        self.assertEqual(m["subject"], "Cheap watches")
        self.assertIn("mallory@spam.example", m["from"])
        self.assertIn("2026", m["date"])
        self.assertGreater(m["size"], 0)
        self.assertIsInstance(m["flags"], list)
        self.assertEqual(set(m), {"uid", "from", "subject", "date", "size", "flags", "internal_date", "reported"})
        raw = json.dumps(body)
        self.assertNotIn(self.secret_body, raw, "a message body must never be served")
        self.assertEqual(body["messages"][0]["uid"], max(by_uid), "newest first")
        status, _, body = self.d.request("GET", "/api/messages?mailbox=INBOX&limit=1", token=self.token())
        self.assertEqual(len(body["messages"]), 1)
        self.assertEqual(self.d.request("GET", "/api/messages?mailbox=INBOX&limit=0", token=self.token())[0], 400)
        self.assertEqual(self.d.request("GET", "/api/messages?mailbox=NoSuchBox", token=self.token())[0], 404)

    def test_report_own_message_then_repeat_is_idempotent(self):
        uid = self.inst.deliver(self.demo, message("You won", "claim now"))
        tok = self.token()
        status, _, body = self.d.request("POST", "/api/report", {"mailbox": "INBOX", "uid": uid, "kind": "spam"}, token=tok)
        self.assertEqual(status, 201, body)
        rid = body["report_id"]
        ev = self.hooks.wait_for(lambda j: j["type"] == "spam.reported" and j["data"]["report_id"] == rid)
        self.assertTrue(ev)
        self.assertTrue(all(signature_ok(self.inst.secret, e) for e in ev))
        self.assertNotIn("claim now", ev[0]["body"].decode(), "webhooks carry metadata only")
        status, _, body = self.d.request("POST", "/api/report", {"mailbox": "INBOX", "uid": uid, "kind": "spam"}, token=tok)
        self.assertEqual((status, body.get("duplicate")), (200, True))
        _, _, msgs = self.d.request("GET", "/api/messages", token=tok)
        self.assertEqual({m["uid"]: m for m in msgs["messages"]}[uid]["reported"], "spam")

    def test_report_bad_input_is_400(self):
        tok = self.token()
        for b in [{"mailbox": "INBOX", "uid": self.uid, "kind": "eggs"}, {"mailbox": "INBOX", "kind": "spam"},
                  {"mailbox": "INBOX", "uid": -1, "kind": "spam"}, {"mailbox": "INBOX", "uid": "1", "kind": "spam"},
                  {"mailbox": 3, "uid": 1, "kind": "spam"}, {"mailbox": "INBOX", "uid": 1, "kind": "spam", "reason": "x" * 2000}]:
            self.assertEqual(self.d.request("POST", "/api/report", b, token=tok)[0], 400, b)
        self.assertEqual(self.d.request("POST", "/api/report", raw=b"{", token=tok)[0], 400)

    def test_report_someone_elses_message_is_404(self):
        bob = self.token("bob@tsubame.test")
        for uid in (self.uid, self.uid2, 999999):
            status, _, body = self.d.request("POST", "/api/report", {"mailbox": "INBOX", "uid": uid, "kind": "spam"}, token=bob)
            self.assertEqual(status, 404, body)
        self.assertEqual(self.d.request("POST", "/api/report", {"mailbox": "NoSuch", "uid": 1, "kind": "spam"}, token=bob)[0], 404)
        # Nothing was filed: demo's message is still unreported.
        _, _, msgs = self.d.request("GET", "/api/messages", token=self.token())
        self.assertEqual({m["uid"]: m for m in msgs["messages"]}[self.uid2]["reported"], "")

    # ---- admin ----
    def test_admin_endpoints_are_403_for_users(self):
        tok = self.token()
        self.assertEqual(self.d.request("GET", "/api/quarantine", token=tok)[0], 403)
        self.assertEqual(self.d.request("POST", "/api/quarantine/1/decide", {"decision": "confirmed"}, token=tok)[0], 403)

    def test_admin_lists_and_decides_reports_of_their_domain_only(self):
        uid = self.inst.deliver(self.demo, message("Crypto riches", "act fast"))
        status, _, body = self.d.request("POST", "/api/report", {"mailbox": "INBOX", "uid": uid, "kind": "spam",
                                                                 "reason": "phishing"}, token=self.token())
        self.assertEqual(status, 201)
        rid = body["report_id"]
        admin = self.token("postmaster@tsubame.test")
        status, _, q = self.d.request("GET", "/api/quarantine", token=admin)
        self.assertEqual(status, 200)
        rep = {r["id"]: r for r in q["reports"]}[rid]
        self.assertEqual((rep["reporter"], rep["kind"], rep["status"], rep["reason"]), (self.demo, "spam", "open", "phishing"))
        self.assertEqual(rep["subject"], "Crypto riches")
        self.assertNotIn("act fast", json.dumps(q))
        # Another domain's administrator sees nothing of it and cannot decide it.
        other = self.token("postmaster@other.test")
        _, _, oq = self.d.request("GET", "/api/quarantine?status=all", token=other)
        self.assertNotIn(rid, [r["id"] for r in oq["reports"]])
        self.assertEqual(self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "confirmed"}, token=other)[0], 404)
        # Bad decisions and unknown ids.
        self.assertEqual(self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "maybe"}, token=admin)[0], 400)
        self.assertEqual(self.d.request("POST", "/api/quarantine/%d/decide" % rid, raw=b"nope", token=admin)[0], 400)
        self.assertEqual(self.d.request("POST", "/api/quarantine/999999/decide", {"decision": "confirmed"}, token=admin)[0], 404)
        self.assertEqual(self.d.request("POST", "/api/quarantine/x1/decide", {"decision": "confirmed"}, token=admin)[0], 404)
        for path in ("/api/quarantine/decide", "/api/quarantine//decide", "/api/quarantine/-1/decide",
                     "/api/quarantine/99999999999999999999/decide"):
            self.assertEqual(self.d.request("POST", path, {"decision": "confirmed"}, token=admin)[0], 404, path)
        self.assertEqual(self.d.request("GET", "/api/quarantine?status=weird", token=admin)[0], 400)
        # The decision trains the classifier once (a repeat changes nothing; a revision moves it).
        spam0, ham0 = self.classifier_counts()
        status, _, body = self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "confirmed"}, token=admin)
        self.assertEqual((status, body["status"], body["decided_by"]), (200, "confirmed", "postmaster@tsubame.test"))
        self.assertEqual((body["trained_as"], body["learned"]), ("spam", True))
        self.assertEqual(self.classifier_counts(), (spam0 + 1, ham0))
        status, _, body = self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "confirmed"}, token=admin)
        self.assertEqual((status, body["learned"]), (200, False))
        self.assertEqual(self.classifier_counts(), (spam0 + 1, ham0))
        status, _, body = self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "false-report"}, token=admin)
        self.assertEqual((status, body["trained_as"], body["learned"]), (200, "ham", True))
        self.assertEqual(self.classifier_counts(), (spam0, ham0 + 1))
        status, _, body = self.d.request("POST", "/api/quarantine/%d/decide" % rid, {"decision": "confirmed"}, token=admin)
        self.assertEqual(self.classifier_counts(), (spam0 + 1, ham0))
        _, _, q = self.d.request("GET", "/api/quarantine?status=confirmed", token=admin)
        self.assertEqual({r["id"]: r for r in q["reports"]}[rid]["decided_by"], "postmaster@tsubame.test")
        _, _, q = self.d.request("GET", "/api/quarantine", token=admin)
        self.assertNotIn(rid, [r["id"] for r in q["reports"]], "decided reports leave the open list")
        # Audit trail: the report, the analyst's view of its content, the decisions.
        r = self.inst.cli("audit", "show", "--target", "report:%d" % rid, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        audit = json.dumps(json.loads(r.stdout))
        for action in ("report.add", "report.view", "report.decide"):
            self.assertIn(action, audit)
        self.assertIn("postmaster@tsubame.test", audit)
        ev = self.hooks.wait_for(lambda j: j["type"] == "quarantine.decided" and j["data"]["report_id"] == rid)
        self.assertTrue(ev and signature_ok(self.inst.secret, ev[0]))
        self.assertEqual(ev[0]["json"]["data"]["decision"], "confirmed")

    def classifier_counts(self):
        _, _, text = self.d.request("GET", "/metrics")
        spam = re.search(r'^tsubame_classifier_messages\{class="spam"\} (\d+)$', text, re.M)
        ham = re.search(r'^tsubame_classifier_messages\{class="ham"\} (\d+)$', text, re.M)
        self.assertTrue(spam and ham, "classifier counts missing from /metrics")
        return int(spam.group(1)), int(ham.group(1))

    # ---- metrics ----
    def user_count(self):
        r = self.inst.cli("user", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        users = json.loads(r.stdout)
        return len(users["users"] if isinstance(users, dict) else users)

    def test_metrics(self):
        os.makedirs(os.path.join(self.inst.run_dir, "metrics"), exist_ok=True)
        with open(os.path.join(self.inst.run_dir, "metrics", "smtpd.prom"), "w") as f:
            f.write('# TYPE tsubame_filter_scan_seconds histogram\ntsubame_filter_scan_seconds_bucket{le="0.01"} 7\n')
        status, h, text = self.d.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"))
        for needle in ['tsubame_httpd_requests_total{code="2xx"}', "tsubame_httpd_connections_open ",
                       'tsubame_httpd_request_duration_seconds_bucket{le="+Inf"}',
                       'tsubame_store_objects{kind="users"} %d' % self.user_count(), "tsubame_queue_size", "tsubame_quarantine_reports",
                       "tsubame_webhook_events_total", "tsubame_store_stats_ok 1",
                       'tsubame_filter_scan_seconds_bucket{le="0.01"} 7']:
            self.assertIn(needle, text)
        for line in text.splitlines():
            self.assertRegex(line, r'^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eInf]+)$')

    # ---- limits ----
    def raw_exchange(self, data):
        """Sends bytes on a fresh TLS connection; returns the status line of the answer."""
        with socket.create_connection(("127.0.0.1", self.inst.port), timeout=10) as raw:
            with self.d.ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(data)
                buf = b""
                while b"\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                return buf.split(b"\r\n")[0].decode()

    def test_body_over_the_limit_is_413(self):
        # evhttp answers from the Content-Length alone, before reading the body.
        line = self.raw_exchange(b"POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n{" % (MAX_BODY + 10))
        self.assertRegex(line, r"^HTTP/1\.1 413 ")
        # Just under the limit is parsed (and refused for its content, not its size).
        status, _, _ = self.d.request("POST", "/api/login", raw=b"{" + b" " * (MAX_BODY - 100) + b"}",
                                      headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)

    def test_headers_over_the_limit_are_refused(self):
        try:
            status, _, _ = self.d.request("GET", "/healthz", headers={"X-Big": "a" * (MAX_HEADERS + 100)})
        except (OSError, http.client.HTTPException):
            status = None  # closed without an answer is a refusal too
        self.assertNotEqual(status, 200)
        self.assertEqual(self.d.request("GET", "/healthz", headers={"X-Small": "a" * 1000})[0], 200)

    def test_idle_connection_is_closed_after_the_timeout(self):
        # A client that starts a request and stalls (slowloris) is cut off after
        # kIoTimeoutSeconds of inactivity, with or without an answer.
        with socket.create_connection(("127.0.0.1", self.inst.port), timeout=IO_TIMEOUT + 20) as raw:
            with self.d.ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: local")
                closed = False
                try:
                    while s.recv(4096):
                        pass
                    closed = True
                except (ssl.SSLError, ConnectionResetError):
                    closed = True
                except socket.timeout:
                    closed = False
                self.assertTrue(closed, "the server kept a stalled connection open")

    def test_connections_per_ip_are_limited(self):
        socks, refused = [], 0
        try:
            for _ in range(MAX_CONN_PER_IP + 1):
                raw = socket.create_connection(("127.0.0.1", self.inst.port), timeout=10)
                try:
                    socks.append(self.d.ctx.wrap_socket(raw, server_hostname="localhost"))
                except (ssl.SSLError, OSError):
                    raw.close()
                    refused += 1
        finally:
            for s in socks:
                s.close()
        self.assertGreaterEqual(refused, 1, "connection %d from one IP must be refused" % (MAX_CONN_PER_IP + 1))
        self.assertLessEqual(len(socks), MAX_CONN_PER_IP)
        self.assertGreaterEqual(len(socks), MAX_CONN_PER_IP - 4)
        deadline = time.time() + 10
        while time.time() < deadline:  # slots are given back as the server sees the closes
            try:
                if self.d.request("GET", "/healthz")[0] == 200:
                    break
            except (ssl.SSLError, OSError):
                time.sleep(0.2)
        self.assertEqual(self.d.request("GET", "/healthz")[0], 200)
        _, _, text = self.d.request("GET", "/metrics")
        self.assertRegex(text, r"tsubame_httpd_connections_refused_total [1-9]")
        # Every closed connection gave its slot back (this scrape's own is still open).
        deadline = time.time() + 10
        while True:
            _, _, text = self.d.request("GET", "/metrics")
            open_now = int(re.search(r"^tsubame_httpd_connections_open (\d+)$", text, re.M).group(1))
            if open_now <= 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertLessEqual(open_now, 2)

    # ---- webhooks ----
    def test_webhook_message_delivered_signed(self):
        uid = self.inst.deliver("bob@tsubame.test", message("Hello Bob", "private words", to="bob@tsubame.test"))
        ev = self.hooks.wait_for(lambda j: j["type"] == "message.delivered" and j["data"]["uid"] == uid
                                 and j["data"]["user"] == "bob@tsubame.test")
        self.assertTrue(ev)
        e = ev[0]
        self.assertTrue(signature_ok(self.inst.secret, e))
        h = {k.lower(): v for k, v in e["headers"].items()}
        self.assertEqual(h["x-tsubame-event"], "message.delivered")
        self.assertEqual(h["x-tsubame-delivery"], e["json"]["id"])
        self.assertNotIn("private words", e["body"].decode())
        # A forged or re-signed body does not verify.
        bad = dict(e, body=e["body"].replace(b"bob", b"eve"))
        self.assertFalse(signature_ok(self.inst.secret, bad))
        self.assertFalse(signature_ok("another-secret-0123456789", e))

    def test_webhook_retried_after_500(self):
        uid = self.inst.deliver(self.demo, message("Retry me", "x"))
        with self.hooks.lock:  # fail this event's first delivery only
            self.hooks.fail_once_if = lambda j: j["type"] == "spam.reported" and j["data"]["uid"] == uid
        status, _, body = self.d.request("POST", "/api/report", {"mailbox": "INBOX", "uid": uid, "kind": "ham"}, token=self.token())
        self.assertEqual(status, 201)
        rid = body["report_id"]
        ev = []
        deadline = time.time() + 30
        while time.time() < deadline:
            ev = self.hooks.wait_for(lambda j: j["type"] == "spam.reported" and j["data"]["report_id"] == rid)
            if any(e["status"] == 200 for e in ev):
                break
            time.sleep(0.2)
        self.assertEqual([e["status"] for e in ev], [500, 200], "one failure, then one successful retry")
        self.assertEqual(ev[0]["json"]["id"], ev[1]["json"]["id"], "the retry carries the same event id")
        self.assertTrue(all(signature_ok(self.inst.secret, e) for e in ev))
        self.assertEqual(ev[0]["json"]["data"]["kind"], "not-spam")

    # ---- curl, as in tools/httpd/README.md ----
    def test_curl_examples(self):
        base = "https://localhost:%d" % self.inst.port
        curl = ["curl", "-sS", "--cacert", self.inst.cert]
        r = subprocess.run(curl + ["-X", "POST", base + "/api/login", "-H", "Content-Type: application/json",
                                   "-d", json.dumps({"address": self.demo, "password": self.inst.demo_password})],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        tok = json.loads(r.stdout)["token"]
        r = subprocess.run(curl + ["-H", "Authorization: Bearer " + tok, base + "/api/messages?mailbox=INBOX"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("Cheap watches", r.stdout)
        r = subprocess.run(curl + ["-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + "0" * 64,
                                   base + "/api/mailboxes"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout, "401")
        r = subprocess.run(curl + ["-o", "/dev/null", "-w", "%{http_code}", "--http1.0", base + "/healthz"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.stdout, "200")


if __name__ == "__main__":
    unittest.main(verbosity=2)
