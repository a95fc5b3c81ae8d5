#!/usr/bin/python3
"""tests/smtpd/smtpd_integration_test.py: the real tsubame-smtpd on loopback ports, driven by
Python's smtplib (plain, STARTTLS, AUTH, port 465) and raw sockets, with the real store.

The store, the user alice@example.com and a self-signed certificate are made by
smtpd_fixture (store API only); delivered mail is read back through it byte for byte.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import base64
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
import warnings

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
PASSWORD = "correct horse"


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, start_daemon, tls_client_context  # noqa: E402  (shared: ports below the ephemeral range)



class Raw:
    """A line-oriented raw SMTP client for what smtplib will not send."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


class SmtpdIntegration(unittest.TestCase):
    EXTRA_SMTPD_CONF = "max_errors = 10\n"

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tsubame-smtpd-")
        subprocess.run([os.path.join(BIN, "smtpd_fixture"), "init", cls.dir], check=True)
        cls.mx, cls.sub, cls.subs = free_port(), free_port(), free_port()
        conf = os.path.join(cls.dir, "tsubame.conf")
        with open(conf, "w") as f:
            f.write(f"""[general]
hostname = mx.test
data_dir = data
key_file = master.key
rules_dir = rules
cache_dir = cache
[log]
level = info
mail_log = log/mail.log
[tls]
cert_file = tls/cert.pem
key_file = tls/key.pem
[smtpd]
listen_mx = 127.0.0.1:{cls.mx}
listen_submission = 127.0.0.1:{cls.sub}
listen_submissions = 127.0.0.1:{cls.subs}
max_message_size = 64K
""" + cls.EXTRA_SMTPD_CONF)
        os.makedirs(os.path.join(cls.dir, "log"), exist_ok=True)
        # The filter is in the path with two test rules of our own (deterministic scores).
        os.makedirs(os.path.join(cls.dir, "rules"), exist_ok=True)
        os.makedirs(os.path.join(cls.dir, "cache"), exist_ok=True)
        with open(os.path.join(cls.dir, "rules", "test.rules"), "w") as f:
            f.write("""rule TEST_JUNK_MARKER
  scope    subject
  match    /tsubame-junk-test/i
  score    8.0
  describe smtpd integration test: junk

rule TEST_REJECT_MARKER
  scope    subject
  match    /tsubame-reject-test/i
  score    20.0
  describe smtpd integration test: reject
""")
        cls.stderr = open(os.path.join(cls.dir, "smtpd.stderr"), "w")
        # Started when THIS daemon logged "smtpd: ready" and its ports answer (a port that
        # merely answers may be a parallel test's daemon).
        cls.proc = None
        try:
            cls.proc = start_daemon("tsubame-smtpd", conf, (cls.mx, cls.sub, cls.subs), cls.stderr, timeout=60)
        except RuntimeError:
            pass
        if cls.proc is None:
            cls.tearDownClass()
            raise RuntimeError("tsubame-smtpd did not start; see " + cls.stderr.name)

    @classmethod
    def tearDownClass(cls):
        if cls.proc is not None and cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.rc = cls.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.rc = "killed"
        cls.stderr.close()
        if os.environ.get("TSUBAME_KEEP_TMP"):
            print("kept", cls.dir)
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def inbox(self, address="alice@example.com", mailbox="INBOX"):
        out = subprocess.run([os.path.join(BIN, "smtpd_fixture"), "dump", self.dir, address, mailbox],
                             check=True, capture_output=True).stdout
        msgs = []
        while out:
            n, rest = out.split(b"\n", 1)
            msgs.append(rest[: int(n)])
            out = rest[int(n):]
        return msgs

    def trace(self, qid):
        out = subprocess.run([os.path.join(BIN, "smtpd_fixture"), "trace", self.dir, qid],
                             check=True, capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line]

    # ---- MX listener, no TLS ----

    def test_plain_delivery_is_stored_byte_for_byte(self):
        body = (b"From: carol@remote.example\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\n"
                b"line one\r\n.starts with a dot\r\n\r\nlast line\r\n")
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            code, _ = s.ehlo("client.example.org")
            self.assertEqual(code, 250)
            for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes",
                        "dsn", "chunking", "starttls"):
                self.assertTrue(s.has_extn(ext), ext)
            self.assertFalse(s.has_extn("auth"))  # no AUTH in the clear
            self.assertEqual(s.mail("carol@remote.example")[0], 250)
            self.assertEqual(s.rcpt("alice@example.com")[0], 250)
            code, text = s.data(body)
            self.assertEqual(code, 250)
            self.assertTrue(text.startswith(b"2.0.0 Ok: queued as "), text)
            qid = text.split()[-1].decode()
        stored = [m for m in self.inbox() if qid.encode() in m]
        self.assertEqual(len(stored), 1)
        msg = stored[0]
        self.assertTrue(msg.startswith(b"Return-Path: <carol@remote.example>\r\nReceived: from "
                                       b"client.example.org ([127.0.0.1])\r\n\tby mx.test with ESMTP id "
                                       + qid.encode()), msg[:200])
        self.assertTrue(msg.endswith(b"\r\n" + body), msg)

    def test_unknown_user_relay_and_auth_in_clear_are_refused(self):
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            s.ehlo("client.example.org")
            s.mail("carol@remote.example")
            code, text = s.rcpt("nobody@example.com")
            self.assertEqual((code, text[:5]), (550, b"5.1.1"))
            code, text = s.rcpt("someone@elsewhere.example")
            self.assertEqual((code, text[:5]), (554, b"5.7.1"))
            s.rset()
            code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(
                b"\0alice@example.com\0" + PASSWORD.encode()).decode())
            self.assertEqual((code, text[:6]), (538, b"5.7.11"))

    def test_filter_junk_goes_to_junk_with_explaining_headers(self):
        inbox_before = len(self.inbox())
        junk_before = len(self.inbox(mailbox="Junk"))
        body = b"From: spammer@remote.example\r\nSubject: tsubame-junk-test offer\r\n\r\nbuy\r\n"
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            s.ehlo("c")
            s.mail("spammer@remote.example")
            s.rcpt("alice@example.com")
            code, text = s.data(body)
            self.assertEqual(code, 250, text)
            qid = text.split()[-1].decode()
        self.assertEqual(len(self.inbox()), inbox_before)
        # The message trace names the queue id, the verdict and the rule (written after the
        # reply, so allow it a moment).
        for _ in range(50):
            trace = self.trace(qid)
            if trace:
                break
            time.sleep(0.1)
        self.assertEqual(len(trace), 1)
        self.assertTrue(trace[0].startswith("junk junk 8 TEST_JUNK_MARKER <spammer@remote.example> "), trace)
        junk = self.inbox(mailbox="Junk")
        self.assertEqual(len(junk), junk_before + 1)
        self.assertIn(b"\r\nX-Tsubame-Verdict: junk; score=8.00\r\n", junk[-1])
        self.assertIn(b"\r\nX-Tsubame-Rules: TEST_JUNK_MARKER\r\n", junk[-1])
        self.assertTrue(junk[-1].endswith(body))

    def test_filter_reject_verdict_is_550(self):
        before = len(self.inbox()) + len(self.inbox(mailbox="Junk"))
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            s.ehlo("c")
            s.mail("spammer@remote.example")
            s.rcpt("alice@example.com")
            code, text = s.data(b"Subject: tsubame-reject-test\r\n\r\nx\r\n")
            self.assertEqual(code, 550)
            self.assertEqual(text, b"5.7.1 Message rejected as spam (TEST_REJECT_MARKER)")
        # The queue id of a refused message is in the mail log with the verdict.
        for _ in range(50):
            with open(os.path.join(self.dir, "log", "mail.log")) as f:
                if "filter: reject, score=20.00, rules=TEST_REJECT_MARKER" in f.read():
                    break
            time.sleep(0.1)
        else:
            self.fail("no reject line in the mail log")
        self.assertEqual(len(self.inbox()) + len(self.inbox(mailbox="Junk")), before)

    def test_size_declared_too_large(self):
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            s.ehlo("c")
            self.assertEqual(s.esmtp_features["size"], str(64 * 1024))
            code, text = s.mail("carol@remote.example", ["SIZE=100000"])
            self.assertEqual((code, text[:5]), (552, b"5.3.4"))

    def test_size_limit_while_streaming(self):
        r = Raw(self.mx)
        self.assertTrue(r.reply()[0].startswith("220 mx.test"))
        r.cmd("EHLO c")
        self.assertEqual(r.cmd("MAIL FROM:<carol@remote.example>")[0][:3], "250")
        self.assertEqual(r.cmd("RCPT TO:<alice@example.com>")[0][:3], "250")
        self.assertEqual(r.cmd("DATA")[0][:3], "354")
        line = b"x" * 98 + b"\r\n"
        r.send(line * 2000)  # 200 KB > 64 KB
        self.assertEqual(r.cmd(".")[0][:9], "552 5.3.4")
        self.assertEqual(r.cmd("QUIT")[0][:3], "221")
        r.close()

    def test_smuggling_bare_lf_is_refused(self):
        before = len(self.inbox())
        r = Raw(self.mx)
        r.reply()
        r.cmd("EHLO c")
        r.cmd("MAIL FROM:<carol@remote.example>")
        r.cmd("RCPT TO:<alice@example.com>")
        self.assertEqual(r.cmd("DATA")[0][:3], "354")
        r.send(b"Subject: x\r\n\r\nhi\n.\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<alice@example.com>\r\n"
               b"DATA\r\nsmuggled\r\n")
        self.assertEqual(r.cmd(".")[0], "550 5.6.0 Message contains bare CR or LF characters")
        r.close()
        self.assertEqual(len(self.inbox()), before)

    def test_pipelining_after_data_is_refused(self):
        r = Raw(self.mx)
        r.reply()
        r.cmd("EHLO c")
        r.send(b"MAIL FROM:<carol@remote.example>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nbody\r\n.\r\n")
        replies = [r.reply()[0] for _ in range(3)]
        self.assertEqual(replies[2][:9], "554 5.5.0")
        with self.assertRaises(EOFError):
            r.reply()
        r.close()

    def test_overlong_command_line(self):
        r = Raw(self.mx)
        r.reply()
        self.assertEqual(r.cmd("NOOP " + "x" * 600)[0], "500 5.5.2 Error: line too long")
        self.assertEqual(r.cmd("NOOP")[0], "250 2.0.0 Ok")
        r.close()

    def test_ten_megabyte_line_then_still_serving(self):
        r = Raw(self.mx)
        r.reply()
        r.send(b"A" * (10 * 1024 * 1024) + b"\r\n")
        self.assertEqual(r.reply()[0], "500 5.5.2 Error: line too long")
        self.assertEqual(r.cmd("NOOP")[0], "250 2.0.0 Ok")
        r.close()

    def test_client_stopping_mid_data_stores_nothing(self):
        before = len(self.inbox())
        r = Raw(self.mx)
        r.reply()
        r.cmd("EHLO c")
        r.cmd("MAIL FROM:<carol@remote.example>")
        r.cmd("RCPT TO:<alice@example.com>")
        self.assertEqual(r.cmd("DATA")[0][:3], "354")
        r.send(b"Subject: cut\r\n\r\nhalf a messa")
        r.close()
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:  # still serving
            self.assertEqual(s.noop()[0], 250)
        self.assertEqual(len(self.inbox()), before)

    def test_garbage_bytes_get_replies_then_421(self):
        r = Raw(self.mx)
        r.reply()
        r.send(bytes(range(256)) * 4 + b"\r\n" + b"\x00\xff junk\r\n" * 20)
        last = None
        try:
            while True:
                last = r.reply()[0]
        except (EOFError, ConnectionError):
            pass
        self.assertEqual(last, "421 4.7.0 mx.test Error: too many errors")
        r.close()

    def test_bdat_delivery(self):
        r = Raw(self.mx)
        r.reply()
        r.cmd("EHLO c")
        r.cmd("MAIL FROM:<carol@remote.example>")
        r.cmd("RCPT TO:<alice@example.com>")
        part1, part2 = b"Subject: chunks\r\n\r\n", b"QUIT\r\n.\r\n"
        r.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(r.reply()[0][:3], "250")
        r.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        text = r.reply()[0]
        self.assertTrue(text.startswith("250 2.0.0 Ok: queued as "), text)
        qid = text.split()[-1].encode()
        r.cmd("QUIT")
        r.close()
        stored = [m for m in self.inbox() if qid in m]
        self.assertEqual(len(stored), 1)
        self.assertTrue(stored[0].endswith(b"\r\n" + part1 + part2))

    # ---- submission (587, STARTTLS) ----

    def test_submission_starttls_then_auth_login(self):
        before = len(self.inbox())
        with smtplib.SMTP("127.0.0.1", self.sub, timeout=10) as s:
            s.ehlo("laptop")
            self.assertTrue(s.has_extn("starttls"))
            code, text = s.mail("alice@example.com")
            self.assertEqual((code, text[:5]), (530, b"5.7.0"))
            s.rset()
            self.assertEqual(s.starttls(context=tls_client_context())[0], 220)
            s.ehlo("laptop")
            self.assertIn("LOGIN", s.esmtp_features["auth"])
            s.user, s.password = "alice@example.com", PASSWORD
            code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            self.assertEqual(code, 235)
            # The sender must be one of alice's addresses.
            code, text = s.mail("ceo@example.com")
            self.assertEqual((code, text[:5]), (553, b"5.7.1"))
            s.sendmail("alice@example.com", ["alice@example.com"], b"Subject: via 587\r\n\r\nhi\r\n")
        msgs = self.inbox()
        self.assertEqual(len(msgs), before + 1)
        self.assertIn(b"with ESMTPSA id", msgs[-1])
        self.assertIn(b"\r\n\t(using TLSv1.", msgs[-1])  # the Received header names TLS

    def test_authenticated_relay_is_queued_and_dlp_hit_is_held(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.subs, timeout=10, context=tls_client_context()) as s:
            s.ehlo("laptop")
            s.login("alice@example.com", PASSWORD)
            s.mail("alice@example.com")
            self.assertEqual(s.rcpt("friend@elsewhere.example", ["NOTIFY=FAILURE"])[0], 250)
            code, text = s.data(b"From: alice@example.com\r\nSubject: lunch\r\n\r\nnoon?\r\n")
            self.assertEqual(code, 250, text)
            plain_id = text.split()[-1].decode()
            s.mail("alice@example.com")
            s.rcpt("friend@elsewhere.example")
            code, text = s.data(b"From: alice@example.com\r\nSubject: card\r\n\r\n"
                                b"my card is 4111 1111 1111 1111\r\n")
            self.assertEqual(code, 250, text)
            held_id = text.split()[-1].decode()
        out = subprocess.run([os.path.join(BIN, "smtpd_fixture"), "queue", self.dir],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        entries = {line.split()[0]: line.split()[1:] for line in out}
        self.assertEqual(entries[plain_id][:3], ["ready", "<alice@example.com>", "friend@elsewhere.example"])
        self.assertEqual(entries[held_id][:3], ["held", "<alice@example.com>", "friend@elsewhere.example"])
        self.assertIn("POLICY_DLP", entries[held_id][3])

    def test_local_and_remote_recipients_in_one_message_commit_together(self):
        # One message to a local and a remote recipient: the local copy and the queue entry
        # for the remote one are one store transaction, answered by one 250.
        before = len(self.inbox())
        with smtplib.SMTP_SSL("127.0.0.1", self.subs, timeout=10, context=tls_client_context()) as s:
            s.ehlo("laptop")
            s.login("alice@example.com", PASSWORD)
            s.mail("alice@example.com")
            self.assertEqual(s.rcpt("alice@example.com")[0], 250)
            self.assertEqual(s.rcpt("colleague@elsewhere.example")[0], 250)
            code, text = s.data(b"From: alice@example.com\r\nSubject: both ways\r\n\r\nhello\r\n")
            self.assertEqual(code, 250, text)
            qid = text.split()[-1].decode()
        msgs = self.inbox()
        self.assertEqual(len(msgs), before + 1)
        self.assertIn(b"Subject: both ways", msgs[-1])
        out = subprocess.run([os.path.join(BIN, "smtpd_fixture"), "queue", self.dir],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        entries = {line.split()[0]: line.split()[1:] for line in out}
        self.assertIn(qid, entries)
        self.assertEqual(entries[qid][2:3], ["colleague@elsewhere.example"])

    # ---- submissions (465, implicit TLS) ----

    def test_submissions_auth_plain_and_send(self):
        before = len(self.inbox())
        with smtplib.SMTP_SSL("127.0.0.1", self.subs, timeout=10, context=tls_client_context()) as s:
            s.ehlo("laptop")
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.login("alice@example.com", PASSWORD)[0], 235)
            s.sendmail("alice@example.com", ["alice@example.com"], b"Subject: via 465\r\n\r\nhi\r\n")
            self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(len(self.inbox()), before + 1)

    def test_bad_password_is_refused(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.subs, timeout=30, context=tls_client_context()) as s:
            s.ehlo("laptop")
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login("alice@example.com", "wrong password")
            self.assertEqual(cm.exception.smtp_code, 535)

    def test_tls_below_1_2_is_refused(self):
        ctx = tls_client_context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with socket.create_connection(("127.0.0.1", self.subs), timeout=10) as raw:
                with ctx.wrap_socket(raw) as t:
                    t.recv(100)

    def test_tls_1_2_is_accepted(self):
        ctx = tls_client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.subs), timeout=10) as raw:
            with ctx.wrap_socket(raw) as t:
                self.assertEqual(t.version(), "TLSv1.2")
                self.assertTrue(t.recv(100).startswith(b"220 mx.test"))

    # ---- other clients: swaks and curl ----

    def test_swaks_starttls_auth(self):
        before = len(self.inbox())
        out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.sub), "--tls",
                              "--auth", "PLAIN", "--auth-user", "alice@example.com",
                              "--auth-password", PASSWORD, "--from", "alice@example.com",
                              "--to", "alice@example.com", "--helo", "swaks.test",
                              "--header", "Subject: from swaks"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("<~  250 2.0.0 Ok: queued as", out.stdout)
        self.assertEqual(len(self.inbox()), before + 1)

    def test_curl_smtps(self):
        before = len(self.inbox())
        body = b"Subject: from curl\r\n\r\nhello from curl\r\n"
        out = subprocess.run(["curl", "--silent", "--show-error", "--insecure",
                              "--url", f"smtps://127.0.0.1:{self.subs}",
                              "--user", f"alice@example.com:{PASSWORD}",
                              "--mail-from", "alice@example.com", "--mail-rcpt", "alice@example.com",
                              "--upload-file", "-"], input=body, capture_output=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        msgs = self.inbox()
        self.assertEqual(len(msgs), before + 1)
        self.assertTrue(msgs[-1].endswith(b"\r\n" + body))

    # ---- last (alphabetically): graceful shutdown and the mail log ----

    def test_zz_graceful_shutdown_and_mail_log(self):
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=10) as s:
            s.ehlo("c")
            s.mail("carol@remote.example")
            s.rcpt("alice@example.com")
            code, text = s.data(b"Subject: last\r\n\r\nbye\r\n")
            self.assertEqual(code, 250)
            qid = text.split()[-1].decode()
        r = Raw(self.mx)
        r.reply()
        r.cmd("EHLO c")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(r.reply()[0], "421 4.3.2 mx.test Service shutting down")
        r.close()
        self.assertEqual(self.proc.wait(timeout=20), 0)
        with open(os.path.join(self.dir, "log", "mail.log")) as f:
            log = f.read()
        self.assertIn(qid + ": from=<carol@remote.example>", log)
        self.assertIn("status=sent", log)



class SmtpdLimits(SmtpdIntegration):
    """Connection limits and timeouts, with a daemon configured tight."""
    EXTRA_SMTPD_CONF = "max_connections_per_ip = 2\ncommand_timeout = 1\n"

    def fresh(self):
        """A connection that got its greeting (earlier connections may still be closing)."""
        for _ in range(100):
            r = Raw(self.mx)
            first = r.reply()[0]
            if first.startswith("220"):
                return r
            r.close()
            time.sleep(0.1)
        self.fail("no connection slot became free")

    def test_connections_per_ip(self):
        a = self.fresh()
        b = self.fresh()
        c = Raw(self.mx)
        self.assertEqual(c.reply()[0], "421 4.7.0 mx.test Error: too many connections from your address")
        with self.assertRaises(EOFError):
            c.reply()
        for r in (a, b, c):
            r.close()

    def test_trickled_command_does_not_extend_the_deadline(self):
        r = self.fresh()
        r.sock.settimeout(0.3)
        got = b""
        for ch in b"NOOP " + b"x" * 30:  # one byte every 0.3 s: 10 s for the line
            try:
                r.sock.sendall(bytes([ch]))
                got += r.sock.recv(100)
            except socket.timeout:
                continue
            except OSError:
                break
            if b"421" in got:
                break
        self.assertIn(b"421 4.4.2", got)
        r.close()

    def test_command_timeout(self):
        r = self.fresh()
        r.cmd("EHLO c")
        # Say nothing: the server gives up (command_timeout = 1s) and says so.
        self.assertEqual(r.reply()[0], "421 4.4.2 mx.test Error: timeout exceeded")
        r.close()


# SmtpdLimits inherits the tests above only to reuse the daemon set-up; run just its own.
for _name in list(vars(SmtpdIntegration)):
    if _name.startswith("test_") and _name not in vars(SmtpdLimits):
        setattr(SmtpdLimits, _name, None)


if __name__ == "__main__":
    unittest.main(verbosity=2)
