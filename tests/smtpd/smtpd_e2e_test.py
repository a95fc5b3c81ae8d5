#!/usr/bin/python3
"""tests/smtpd/smtpd_e2e_test.py: two real tsubame-smtpd daemons talking to each other, and TLS
handshakes that never finish (issue 4, item 7 and "Bad input").

Two installations are made with `tsubame init` (A: domain a.test, B: domain b.test), each with
its own tsubame-smtpd on free loopback ports. A's transport map sends b.test to B's MX port, so
A's queue runner delivers to B over real SMTP (opportunistic STARTTLS, B's self-signed
certificate). Mail is read back from B's store with smtpd_fixture (store API only); A's queue and
trace are read with the `tsubame` CLI (`queue list --json`, `trace --json`).

How it fails: a daemon that does not start raises in setUpClass (its stderr file is named); a
message that never arrives, a queue that never drains or a connection the server never closes
fails the test after a bounded wait (30 s / 10 s), never hangs it. Set TSUBAME_KEEP_TMP=1 to
keep the installations (configs, logs, stores) for inspection.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import json
import os
import sys
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
DELIVERY_WAIT_S = 30   # upper bound for a queue-runner delivery (scan interval is 1 s)
CLOSE_WAIT_S = 10      # upper bound for the server to drop a stalled TLS handshake (timeout 2 s)
PASSWORD = "Lunch at noon 2026"  # meets the default password policy (length, character classes)


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, start_daemon, tls_client_context  # noqa: E402  (shared: ports below the ephemeral range)



def set_keys(conf, values):
    """Sets `section.key` values in a config written by `tsubame init` (every key is present
    exactly once, as `key = value` under its [section])."""
    with open(conf) as f:
        lines = f.read().split("\n")
    section, done = "", set()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            section = s[1:-1]
        elif "=" in s and not s.startswith("#"):
            name = section + "." + s.split("=", 1)[0].strip()
            if name in values:
                lines[i] = name.split(".", 1)[1] + " = " + values[name]
                done.add(name)
    missing = set(values) - done
    assert not missing, "keys not in %s: %s" % (conf, missing)
    with open(conf, "w") as f:
        f.write("\n".join(lines))


def wait_until(predicate, seconds):
    """Polls predicate() until it returns something truthy or `seconds` pass; returns the last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def read_until_closed(sock, seconds):
    """Reads until the peer closes (EOF or reset). True if it closed within `seconds`."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(4096):
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


class Installation:
    """One `tsubame init` directory and its running tsubame-smtpd."""

    def __init__(self, root, name, domain, user, hostname):
        self.dir = os.path.join(root, name)
        self.domain = domain
        r = subprocess.run([os.path.join(BIN, "tsubame"), "init", self.dir, "--domain", domain, "--user", user,
                            "--hostname", hostname, "--json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "tsubame init %s: %s%s" % (self.dir, r.stdout, r.stderr)
        info = json.loads(r.stdout)
        self.conf, self.user, self.password = info["config"], info["user"], info["password"]
        self.proc = None

    def cli(self, *args):
        r = subprocess.run([os.path.join(BIN, "tsubame"), "--config", self.conf] + list(args),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "tsubame %s: %s%s" % (" ".join(args), r.stdout, r.stderr)
        return r.stdout

    def mailbox(self, address, mailbox="INBOX"):
        """Every message in ADDRESS's MAILBOX, raw bytes, read through the store."""
        out = subprocess.run([os.path.join(BIN, "smtpd_fixture"), "dump", self.dir, address, mailbox],
                             check=True, capture_output=True, timeout=60).stdout
        msgs = []
        while out:
            n, rest = out.split(b"\n", 1)
            msgs.append(rest[: int(n)])
            out = rest[int(n):]
        return msgs

    def queue(self):
        return json.loads(self.cli("queue", "list", "--json"))

    def trace(self, qid):
        return json.loads(self.cli("trace", "--queue-id", qid, "--json"))

    def start(self, ports):
        self.stderr = open(os.path.join(self.dir, "smtpd.stderr"), "w")
        self.proc = start_daemon("tsubame-smtpd", self.conf, ports, self.stderr, timeout=60)
        if self.proc is None:
            raise RuntimeError("tsubame-smtpd exited at start; see " + self.stderr.name)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


class TwoServers(unittest.TestCase):
    """A (a.test, submission only) relays to B (b.test, MX + implicit TLS) over real SMTP."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tsubame-e2e-")
        cls.a = cls.b = None
        try:
            cls.set_up_servers()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def set_up_servers(cls):
        cls.a = Installation(cls.tmp, "a", "a.test", "alice", "mx.a.test")
        cls.b = Installation(cls.tmp, "b", "b.test", "bob", "mx.b.test")
        cls.a_sub = free_port()
        cls.b_mx, cls.b_subs = free_port(), free_port()
        transport = os.path.join(cls.tmp, "transport")
        with open(transport, "w") as f:
            f.write("# domain  host:port\nb.test    127.0.0.1:%d\n" % cls.b_mx)
        cheap_kdf = {"security.kdf_memory": "8K", "security.kdf_passes": "1"}
        set_keys(cls.a.conf, dict(cheap_kdf, **{
            "smtpd.listen_mx": "", "smtpd.listen_submissions": "",
            "smtpd.listen_submission": "127.0.0.1:%d" % cls.a_sub,
            "smtpd.transport_map": transport,
            "smtpd.queue_scan_interval": "1s",
        }))
        set_keys(cls.b.conf, dict(cheap_kdf, **{
            "smtpd.listen_mx": "127.0.0.1:%d" % cls.b_mx, "smtpd.listen_submission": "",
            "smtpd.listen_submissions": "127.0.0.1:%d" % cls.b_subs,
            "smtpd.tls_handshake_timeout": "2s",
        }))
        # A password of our own, hashed with the cheap KDF above. (init's random demo password
        # is not reused: about once in 700 inits it is all lower case, which the
        # domain's password_min_classes refuses in `user passwd`; and it was hashed at full cost.)
        for inst in (cls.a, cls.b):
            inst.password = PASSWORD
            r = subprocess.run([os.path.join(BIN, "tsubame"), "--config", inst.conf, "user", "passwd",
                                inst.user, "--password-stdin"], input=inst.password + "\n",
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
        cls.a.start([cls.a_sub])
        cls.b.start([cls.b_mx, cls.b_subs])

    @classmethod
    def tearDownClass(cls):
        for inst in (cls.a, cls.b):
            if inst is not None:
                inst.stop()
        if os.environ.get("TSUBAME_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def submit(self, rcpt, body):
        """Sends BODY from A's user through A's submission port (STARTTLS + AUTH); the queue id."""
        with smtplib.SMTP("127.0.0.1", self.a_sub, timeout=30) as s:
            s.ehlo("laptop.a.test")
            self.assertEqual(s.starttls(context=tls_client_context())[0], 220)
            s.ehlo("laptop.a.test")
            self.assertEqual(s.login(self.a.user, self.a.password)[0], 235)
            self.assertEqual(s.mail(self.a.user)[0], 250)
            code, text = s.rcpt(rcpt)
            self.assertEqual(code, 250, text)  # a remote recipient: relayed for an authenticated user
            code, text = s.data(body)
            self.assertEqual(code, 250, text)
            self.assertTrue(text.startswith(b"2.0.0 Ok: queued as "), text)
            return text.split()[-1].decode()

    def wait_queue_empty(self):
        """True once A's outbound queue holds nothing (each test leaves it empty)."""
        return wait_until(lambda: self.a.queue() == [], DELIVERY_WAIT_S)

    # ---- item 7: outbound delivery to a second local tsubame-smtpd ----

    def test_outbound_delivery_to_second_server(self):
        marker = "e2e-%d" % time.monotonic_ns()
        # Dot-leading lines and an 8-bit-free body: the runner dot-stuffs (RFC 5321 §4.5.2) and
        # B un-stuffs; what B stores must end with exactly these bytes.
        body = ("From: alice@a.test\r\nTo: bob@b.test\r\nSubject: lunch " + marker + "\r\n"
                "Date: Sun, 22 Nov 2026 04:00:00 +0000\r\nMessage-ID: <" + marker + "@a.test>\r\n"
                "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
                "Shall we meet for lunch on Friday at noon?\r\n.a line that starts with a dot\r\n"
                "..two dots\r\n.\r\n\r\nSee you, Alice\r\n").encode()
        before = len(self.b.mailbox(self.b.user))
        qid = self.submit(self.b.user, body)

        got = wait_until(lambda: [m for m in self.b.mailbox(self.b.user) if marker.encode() in m],
                         DELIVERY_WAIT_S)
        self.assertEqual(len(got), 1, "not delivered to B within %d s; see %s" % (DELIVERY_WAIT_S, self.a.dir))
        self.assertEqual(len(self.b.mailbox(self.b.user)), before + 1)
        stored = got[0]
        # Byte for byte: B's store holds its own trace headers, then exactly what A's user sent.
        self.assertTrue(stored.endswith(b"\r\n" + body), stored)
        head = stored[: len(stored) - len(body)]
        # B's Return-Path and Received (RFC 5321 §4.4): from A's EHLO name, by B, over TLS
        # (A's runner uses STARTTLS opportunistically), plain ESMTP (not authenticated).
        self.assertRegex(head, rb"\AReturn-Path: <alice@a\.test>\r\nReceived: from mx\.a\.test \(\[127\.0\.0\.1\]\)"
                               rb"\r\n\t\(using TLSv1\.[23] with cipher [^)]+\)\r\n\tby mx\.b\.test with ESMTPS id \w+"
                               rb"\r\n\tfor <bob@b\.test>; ")
        # A's own Received (submission, authenticated) is below B's: the message went through A.
        self.assertIn(b"by mx.a.test with ESMTPSA id " + qid.encode(), head)

        # A's queue drains and its trace shows the outbound delivery to B.
        self.assertTrue(self.wait_queue_empty(), self.a.queue())
        recs = wait_until(lambda: [r for r in self.a.trace(qid) if r["direction"] == "out"], DELIVERY_WAIT_S)
        self.assertEqual(len(recs), 1, self.a.trace(qid))
        self.assertEqual(recs[0]["status"], "delivered")
        self.assertEqual(recs[0]["recipients"], [self.b.user])
        self.assertEqual(recs[0]["sender"], self.a.user)
        self.assertIn(str(self.b_mx), recs[0]["remote_host"])
        with open(os.path.join(self.a.dir, "log", "mail.log")) as f:
            self.assertIn(qid + ": to=<bob@b.test>, relay=", f.read())

    def test_outbound_permanent_failure_bounces_to_sender(self):
        marker = "e2e-bounce-%d" % time.monotonic_ns()
        body = ("From: alice@a.test\r\nTo: nobody@b.test\r\nSubject: " + marker + "\r\n"
                "Date: Sun, 22 Nov 2026 04:00:00 +0000\r\nMessage-ID: <" + marker + "@a.test>\r\n\r\n"
                "Hello nobody\r\n").encode()
        qid = self.submit("nobody@b.test", body)
        # B refuses the recipient (550 5.1.1 at RCPT); A's runner bounces: an RFC 3464 DSN in
        # the local sender's INBOX, with the null reverse-path.
        dsns = wait_until(lambda: [m for m in self.a.mailbox(self.a.user) if marker.encode() in m
                                   and b"delivery-status" in m], DELIVERY_WAIT_S)
        self.assertEqual(len(dsns), 1, "no DSN within %d s; see %s" % (DELIVERY_WAIT_S, self.a.dir))
        dsn = dsns[0]
        self.assertTrue(dsn.startswith(b"Return-Path: <>\r\n"), dsn[:200])
        self.assertRegex(dsn, rb"(?i)Content-Type: multipart/report;\s*report-type=\"?delivery-status")
        self.assertRegex(dsn, rb"(?i)Content-Type: message/delivery-status")
        self.assertRegex(dsn, rb"(?i)Final-Recipient: rfc822;\s*nobody@b\.test")
        self.assertRegex(dsn, rb"(?i)Action: failed")
        self.assertRegex(dsn, rb"(?i)Status: 5\.1\.1")
        self.assertRegex(dsn, rb"(?i)Diagnostic-Code: smtp;\s*550 5\.1\.1")
        self.assertIn(b"Message-ID: <" + marker.encode() + b"@a.test>", dsn)  # the original is attached
        # The entry is gone from A's queue and the trace names the bounce; B stored nothing.
        self.assertTrue(self.wait_queue_empty(), self.a.queue())
        recs = [r for r in self.a.trace(qid) if r["direction"] == "out"]
        self.assertEqual([r["status"] for r in recs], ["bounced"], recs)
        self.assertIn("5.1.1", recs[0]["error"])
        self.assertFalse([m for m in self.b.mailbox(self.b.user) if marker.encode() in m])

    # ---- Bad input: TLS handshakes that never finish (smtpd.tls_handshake_timeout = 2s) ----

    def test_stalled_tls_handshakes_are_closed_while_others_are_served(self):
        stalled = []
        # Implicit TLS (465-style): connect and send nothing at all.
        stalled.append(("465 silent", socket.create_connection(("127.0.0.1", self.b_subs), timeout=10)))
        # Implicit TLS: half a ClientHello (a TLS record header announcing 512 bytes of
        # handshake, RFC 8446 §5.1, then the first bytes of a ClientHello, §4.1.2), then nothing.
        half = socket.create_connection(("127.0.0.1", self.b_subs), timeout=10)
        half.sendall(b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03")
        stalled.append(("465 half ClientHello", half))
        # STARTTLS on the MX port (RFC 3207 §4: 220, then the handshake), then silence.
        st = socket.create_connection(("127.0.0.1", self.b_mx), timeout=10)
        f = st.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        st.sendall(b"EHLO stall.example\r\n")
        while True:
            line = f.readline()
            self.assertTrue(line.startswith(b"250"), line)
            if line[3:4] == b" ":
                break
        st.sendall(b"STARTTLS\r\n")
        self.assertTrue(f.readline().startswith(b"220 2.0.0"))
        f.close()
        stalled.append(("MX STARTTLS silent", st))

        # Meanwhile the daemon serves everyone else: a whole plain transaction on the MX port
        # and an implicit-TLS session on the 465-style port.
        marker = b"e2e-meanwhile-%d" % time.monotonic_ns()
        with smtplib.SMTP("127.0.0.1", self.b_mx, timeout=10) as s:
            self.assertEqual(s.ehlo("other.example")[0], 250)
            self.assertEqual(s.mail("carol@other.example")[0], 250)
            self.assertEqual(s.rcpt(self.b.user)[0], 250)
            code, text = s.data(b"From: carol@other.example\r\nSubject: " + marker + b"\r\n\r\nstill here\r\n")
            self.assertEqual(code, 250, text)
        with smtplib.SMTP_SSL("127.0.0.1", self.b_subs, timeout=10, context=tls_client_context()) as s:
            self.assertEqual(s.ehlo("other.example")[0], 250)
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(len([m for m in self.b.mailbox(self.b.user) if marker in m]), 1)

        # Each stalled connection is dropped by the handshake timer (2 s), not by the 5 min
        # command timeout: closed within CLOSE_WAIT_S.
        for name, sock in stalled:
            with self.subTest(name):
                self.assertTrue(read_until_closed(sock, CLOSE_WAIT_S), name + ": still open after %d s" % CLOSE_WAIT_S)
            sock.close()

        # And afterwards a full STARTTLS session on the MX port still works.
        with smtplib.SMTP("127.0.0.1", self.b_mx, timeout=10) as s:
            s.ehlo("other.example")
            self.assertEqual(s.starttls(context=tls_client_context())[0], 220)
            self.assertEqual(s.ehlo("other.example")[0], 250)
            self.assertEqual(s.noop()[0], 250)


if __name__ == "__main__":
    unittest.main(verbosity=2)
