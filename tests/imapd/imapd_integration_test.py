#!/usr/bin/python3
"""tests/imapd/imapd_integration_test.py: the real tsubame-imapd on loopback ports, driven by
Python's imaplib (STARTTLS, IMAPS, every command imaplib can send), raw sockets (IDLE, bad
input, two concurrent sessions), curl and mbsync, on the real store.

The store, the user alice@example.com with three messages, and a self-signed certificate
are made by imapd_fixture (store API only); `imapd_fixture deliver` plays smtpd's part and
writes a new message into the same LMDB store from another process.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import imaplib
import os
import sys
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
USER = "alice@example.com"
PASSWORD = "correct horse"

# Commands imaplib 3.11 does not know by name.
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
imaplib.Commands.setdefault("MOVE", ("SELECTED",))
imaplib.Commands.setdefault("UNSELECT", ("SELECTED",))


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, start_daemon, tls_client_context, write_imapd_fixture_config  # noqa: E402  (shared: ports below the ephemeral range)



class Raw:
    """A line-oriented raw IMAP client for what imaplib will not send."""

    def __init__(self, port, tls=False):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = tls_client_context().wrap_socket(sock) if tls else sock
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def cmd(self, tag, text):
        """Sends one command line; returns (untagged lines, tagged line)."""
        self.send(f"{tag} {text}\r\n")
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag + " "):
                return lines, line
            lines.append(line)

    def login(self):
        _, ok = self.cmd("L", f'LOGIN {USER} "{PASSWORD}"')
        assert ok.startswith("L OK"), ok

    def close(self):
        self.sock.close()


class ImapdIntegration(unittest.TestCase):
    EXTRA_IMAPD_CONF = ""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tsubame-imapd-")
        subprocess.run([os.path.join(BIN, "imapd_fixture"), "init", cls.dir], check=True)
        cls.imap, cls.imaps = free_port(), free_port()
        # flag_sync = journal is the default: STOREs of system flags answered once journaled
        # (imapd_flag_journal_test.py covers crashes; full and deferred are the others).
        conf = write_imapd_fixture_config(cls.dir, cls.imap, cls.imaps,
                                          "flag_sync = journal\n" + cls.EXTRA_IMAPD_CONF)
        cls.stderr = open(os.path.join(cls.dir, "imapd.stderr"), "w")
        # Started when THIS daemon logged "imapd: ready" and its ports answer.
        cls.proc = None
        try:
            cls.proc = start_daemon("tsubame-imapd", conf, (cls.imap, cls.imaps), cls.stderr, timeout=60)
        except RuntimeError:
            pass
        if cls.proc is None:
            cls.tearDownClass()
            raise RuntimeError("tsubame-imapd did not start; see " + cls.stderr.name)

    @classmethod
    def tearDownClass(cls):
        if cls.proc is not None and cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
        cls.stderr.close()
        if os.environ.get("TSUBAME_KEEP_TMP"):
            print("kept", cls.dir)
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def imaps_login(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=tls_client_context())
        typ, _ = m.login(USER, PASSWORD)
        self.assertEqual(typ, "OK")
        return m

    def deliver(self, subject):
        subprocess.run([os.path.join(BIN, "imapd_fixture"), "deliver", self.dir, USER, subject],
                       check=True)

    # ---- TLS and authentication ----

    def test_plaintext_login_is_disabled_until_starttls(self):
        m = imaplib.IMAP4("127.0.0.1", self.imap)
        self.assertIn("LOGINDISABLED", m.capabilities)
        self.assertIn("STARTTLS", m.capabilities)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(USER, PASSWORD)
        self.assertIn("PRIVACYREQUIRED", str(e.exception))
        typ, _ = m.starttls(ssl_context=tls_client_context())
        self.assertEqual(typ, "OK")
        self.assertNotIn("LOGINDISABLED", m.capabilities)
        self.assertIn("AUTH=PLAIN", m.capabilities)
        self.assertEqual(m.login(USER, PASSWORD)[0], "OK")
        self.assertEqual(m.logout()[0], "BYE")

    def test_wrong_password_and_authenticate_plain(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.imaps, ssl_context=tls_client_context())
        with self.assertRaises(imaplib.IMAP4.error) as e:
            m.login(USER, "wrong password")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        typ, _ = m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
        self.assertEqual(typ, "OK")
        m.logout()

    def test_wrong_state_is_a_tagged_bad(self):
        r = Raw(self.imap)
        _, t = r.cmd("a1", "FETCH 1 FLAGS")
        self.assertEqual(t, "a1 BAD FETCH is not valid in the not authenticated state")
        _, t = r.cmd("a2", "NOOP")
        self.assertEqual(t, "a2 OK NOOP completed")
        r.close()

    # ---- every command imaplib can send ----

    def test_mailbox_commands(self):
        m = self.imaps_login()
        typ, data = m.list()
        self.assertEqual(typ, "OK")
        names = b"\n".join(data)
        for box in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk"):
            self.assertIn(box, names)
        self.assertIn(b"\\Junk", names)
        self.assertEqual(m.create("Projects")[0], "OK")
        self.assertEqual(m.create("Projects/Q1")[0], "OK")
        self.assertEqual(m.create("Entw&APw-rfe")[0], "OK")
        typ, data = m.list('""', "Projects*")
        self.assertIn(b"(\\HasChildren) \"/\" Projects", b"\n".join(data))
        self.assertEqual(m.rename("Projects/Q1", "Projects/Q2")[0], "OK")
        self.assertEqual(m.subscribe("Projects/Q2")[0], "OK")
        typ, data = m.lsub('""', "*")
        self.assertIn(b"Projects/Q2", b"\n".join(data))
        self.assertEqual(m.unsubscribe("Projects/Q2")[0], "OK")
        typ, data = m.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0].decode(), r"INBOX \(MESSAGES \d+ UIDNEXT \d+ UIDVALIDITY \d+ UNSEEN \d+\)")
        self.assertEqual(m.delete("Projects/Q2")[0], "OK")
        self.assertEqual(m.delete("Entw&APw-rfe")[0], "OK")
        typ, _ = m.delete("Does-Not-Exist")
        self.assertEqual(typ, "NO")
        typ, data = m.namespace()
        self.assertEqual(data[0], b'(("" "/")) NIL NIL')
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        typ, data = m._simple_command("ID", '("name" "imaplib-test")')
        self.assertEqual(typ, "OK")
        self.assertEqual(m.enable("CONDSTORE")[0], "OK")
        m.logout()

    def test_select_fetch_search_store(self):
        m = self.imaps_login()
        typ, data = m.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertGreaterEqual(int(data[0]), 3)
        typ, data = m.fetch("1:3", "(FLAGS UID RFC822.SIZE INTERNALDATE ENVELOPE BODYSTRUCTURE)")
        self.assertEqual(typ, "OK")
        text = b" ".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
        self.assertIn(b'"Lunch"', text)
        self.assertIn(b'(("Bob Example" NIL "bob" "example.org"))', text)
        self.assertIn(b'BODYSTRUCTURE ("text" "plain"', text.replace(b"TEXT", b"text").replace(b"PLAIN", b"plain"))
        typ, data = m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(data[0][1], b"Subject: Report\r\n\r\n")
        typ, data = m.fetch("2", "(BODY.PEEK[TEXT]<4.9>)")
        self.assertEqual(data[0][1], b"quarterly")
        typ, data = m.search(None, "SUBJECT", "Report")
        self.assertEqual(data[0], b"2")
        m.store("1", "-FLAGS.SILENT", "(\\Seen)")  # curl may have read it already
        typ, data = m.search(None, "UNSEEN")
        self.assertIn(b"1", data[0].split())
        typ, data = m.fetch("1", "(RFC822)")  # sets \Seen
        self.assertIn(b"Noodles at noon?", data[0][1])
        typ, data = m.search(None, "SEEN")
        self.assertIn(b"1", data[0].split())
        typ, data = m.store("2", "+FLAGS", "(\\Flagged $Important)")
        self.assertIn(b"\\Flagged", data[0])
        typ, data = m.uid("SEARCH", "FLAGGED")
        self.assertEqual(len(data[0].split()), 1)
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        self.assertEqual(typ, "OK")
        self.assertTrue(all(b"UID" in d for d in data))
        self.assertEqual(m.check()[0], "OK")
        self.assertEqual(m.noop()[0], "OK")
        with self.assertRaises(imaplib.IMAP4.error) as e:  # beyond the mailbox: BAD
            m.fetch("99", "FLAGS")
        self.assertIn("invalid message sequence number", str(e.exception))
        m.logout()

    def test_append_copy_move_expunge(self):
        m = self.imaps_login()
        self.assertEqual(m.create("Work")[0], "OK")
        msg = b"From: carol@example.net\r\nSubject: Appended\r\n\r\nHello from APPEND.\r\n"
        typ, data = m.append("Work", "(\\Seen)", imaplib.Time2Internaldate(1700000000), msg)
        self.assertEqual(typ, "OK")
        self.assertIn(b"APPENDUID", data[0])
        typ, data = m.select("Work")
        self.assertEqual(int(data[0]), 1)
        typ, data = m.fetch("1", "(FLAGS BODY[])")
        self.assertEqual(data[0][1], msg)
        typ, data = m.copy("1", "Trash")
        self.assertEqual(typ, "OK")
        self.assertIn(b"COPYUID", m.untagged_responses.get("OK", [b""])[-1] + data[0]
                      if data[0] else b"COPYUID")
        typ, data = m.uid("MOVE", "1", "Drafts")
        self.assertEqual(typ, "OK")
        typ, data = m.select("Work")
        self.assertEqual(int(data[0]), 0)
        typ, data = m.select("Drafts")
        self.assertGreaterEqual(int(data[0]), 1)
        m.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
        typ, data = m.expunge()
        self.assertEqual(typ, "OK")
        typ, data = m.select("Drafts")
        self.assertEqual(int(data[0]), 0)
        typ, _ = m.append("No-Such-Box", None, None, msg)
        self.assertEqual(typ, "NO")
        self.assertEqual(m.close()[0], "OK")
        m.delete("Work")
        m.logout()

    # ---- concurrency ----

    def test_two_sessions_see_each_others_changes(self):
        self.deliver("For two sessions")
        a, b = Raw(self.imaps, tls=True), Raw(self.imaps, tls=True)
        a.login()
        b.login()
        lines, t = a.cmd("a1", "SELECT INBOX")
        n = int(next(l.split()[1] for l in lines if l.endswith(" EXISTS")))
        b.cmd("b1", "SELECT INBOX")
        _, t = b.cmd("b2", f"STORE {n} +FLAGS.SILENT (\\Deleted)")
        self.assertTrue(t.startswith("b2 OK"), t)
        lines, t = b.cmd("b3", "EXPUNGE")
        self.assertIn(f"* {n} EXPUNGE", lines)
        # a learns of the flag change and the expunge on NOOP, not during FETCH by number.
        lines, t = a.cmd("a2", "NOOP")
        self.assertIn(f"* {n} EXPUNGE", lines)
        self.assertEqual(t, "a2 OK NOOP completed")
        a.close()
        b.close()

    def test_cold_text_search_of_a_large_mailbox_runs_off_the_loop(self):
        # 80 messages (over kMinAsyncTextMessages) whose text is not cached yet: the daemon
        # extracts it on a worker while other sessions are served, then answers.
        m = self.imaps_login()
        self.assertEqual(m.create("Bulk")[0], "OK")
        for i in range(80):
            body = "the harbor at dawn" if i % 9 == 0 else "nothing to see"
            msg = f"From: bob@example.org\r\nSubject: bulk {i}\r\n\r\n{body}\r\n".encode()
            self.assertEqual(m.append("Bulk", None, None, msg)[0], "OK")
        m.select("Bulk")
        searcher, other = Raw(self.imaps, tls=True), Raw(self.imaps, tls=True)
        searcher.login()
        other.login()
        _, t = searcher.cmd("s0", "SELECT Bulk")
        self.assertTrue(t.startswith("s0 OK"), t)
        searcher.send("s1 SEARCH BODY harbor\r\n")
        # Another session is served while (or after) the extraction runs.
        _, t = other.cmd("o1", "NOOP")
        self.assertEqual(t, "o1 OK NOOP completed")
        lines, t = searcher.until("s1")
        self.assertEqual(t, "s1 OK SEARCH completed")
        self.assertEqual(lines, ["* SEARCH " + " ".join(str(i) for i in range(1, 81, 9))])
        searcher.close()
        with open(self.stderr.name) as f:
            self.assertRegex(f.read(), r"search text of \d+ message\(s\) extracted off the event loop")
        # Warm: the same answer again.
        typ, data = m.search(None, "BODY", "harbor")
        self.assertEqual([int(x) for x in data[0].split()], list(range(1, 81, 9)))
        m.logout()
        other.close()

    def test_idle_wakes_on_delivery(self):
        r = Raw(self.imaps, tls=True)
        r.login()
        lines, _ = r.cmd("s", "SELECT INBOX")
        n = int(next(l.split()[1] for l in lines if l.endswith(" EXISTS")))
        r.send("i IDLE\r\n")
        self.assertEqual(r.line(), "+ idling")
        self.deliver("While idling")
        # The session polls every second; the socket timeout (10 s) bounds the wait.
        self.assertEqual(r.line(), f"* {n + 1} EXISTS")
        r.send("DONE\r\n")
        lines, t = r.until("i")
        self.assertEqual(t, "i OK IDLE terminated")
        r.close()

    # ---- bad input ----

    def test_bad_input_gets_tagged_answers_and_the_session_goes_on(self):
        r = Raw(self.imaps, tls=True)
        r.login()
        _, t = r.cmd("a1", "APPEND INBOX {4294967296}")
        self.assertTrue(t.startswith("a1 NO [TOOBIG]"), t)
        _, t = r.cmd("a2", "SEARCH (SEEN")
        self.assertTrue(t.startswith("a2 BAD"), t)
        self.assertIn("unbalanced parentheses", t)
        _, t = r.cmd("a3", "SELECT &AGE-")
        self.assertTrue(t.startswith("a3 BAD"), t)
        self.assertIn("modified UTF-7", t)
        r.cmd("a4", "SELECT INBOX")
        _, t = r.cmd("a5", "FETCH 1:0 FLAGS")
        self.assertTrue(t.startswith("a5 BAD"), t)
        _, t = r.cmd("a6", "UID FETCH 4000000000 FLAGS")
        self.assertEqual(t, "a6 OK UID FETCH completed")
        _, t = r.cmd("a7", "NOOP")
        self.assertEqual(t, "a7 OK NOOP completed")
        r.close()

    def test_a_literal_that_never_arrives_blocks_only_its_connection(self):
        stuck = Raw(self.imaps, tls=True)
        stuck.login()
        stuck.send("x1 APPEND INBOX {100}\r\n")
        self.assertEqual(stuck.line(), "+ Ready for literal data")
        stuck.send("only a few bytes")
        other = Raw(self.imaps, tls=True)
        other.login()
        _, t = other.cmd("o1", "NOOP")
        self.assertEqual(t, "o1 OK NOOP completed")
        other.close()
        stuck.close()

    # ---- real clients ----

    def test_curl_reads_a_message(self):
        if not shutil.which("curl"):
            self.skipTest("curl is not installed")
        out = subprocess.run(
            ["curl", "-sS", "-k", "--max-time", "20",
             f"imaps://127.0.0.1:{self.imaps}/INBOX;UID=1", "--user", f"{USER}:{PASSWORD}"],
            check=True, capture_output=True).stdout
        self.assertIn(b"Subject: Lunch", out)
        self.assertIn(b"Noodles at noon?", out)
        out = subprocess.run(
            ["curl", "-sS", "-k", "--max-time", "20", f"imaps://127.0.0.1:{self.imaps}/",
             "--user", f"{USER}:{PASSWORD}"], check=True, capture_output=True).stdout
        self.assertIn(b"INBOX", out)
        out = subprocess.run(
            ["curl", "-sS", "-k", "--max-time", "20",
             f"imaps://127.0.0.1:{self.imaps}/INBOX?SUBJECT%20Report",
             "--user", f"{USER}:{PASSWORD}"], check=True, capture_output=True).stdout
        self.assertEqual(out.strip(), b"* SEARCH 2")

    def test_mbsync_syncs_both_ways(self):
        if not shutil.which("mbsync"):
            self.skipTest("mbsync (isync) is not installed")
        local = os.path.join(self.dir, "maildir")
        os.makedirs(local, exist_ok=True)
        rc = os.path.join(self.dir, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(f"""IMAPAccount test
Host 127.0.0.1
Port {self.imaps}
User {USER}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {self.dir}/tls/cert.pem

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
""")
        run = lambda: subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, timeout=60)
        p = run()
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        def local_files():
            out = []
            for sub in ("cur", "new"):
                d = os.path.join(local, "INBOX", sub)
                out += [os.path.join(d, x) for x in os.listdir(d)] if os.path.isdir(d) else []
            return out
        files = local_files()
        self.assertGreaterEqual(len(files), 3)
        def content(path):
            with open(path, "rb") as fh:
                return fh.read()
        self.assertTrue(any(b"Noodles at noon?" in content(f) for f in files))
        # A message written locally reaches the server.
        with open(os.path.join(local, "INBOX", "new", "1700000000.test.host"), "wb") as f:
            f.write(b"From: me@example.com\r\nSubject: From mbsync\r\n\r\nLocal mail.\r\n")
        p = run()
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        m = self.imaps_login()
        m.select("INBOX", readonly=True)
        typ, data = m.search(None, "SUBJECT", '"From mbsync"')
        self.assertEqual(len(data[0].split()), 1)
        m.logout()


class ImapdConnectionLimits(ImapdIntegration):
    """The same daemon with imapd.max_connections_per_ip = 2 (runs only the limit test)."""
    EXTRA_IMAPD_CONF = "max_connections_per_ip = 2\n"

    def test_connections_per_ip_are_limited(self):
        a, b = Raw(self.imap), Raw(self.imap)
        self.assertTrue(a.greeting.startswith("* OK [CAPABILITY"), a.greeting)
        self.assertTrue(b.greeting.startswith("* OK [CAPABILITY"), b.greeting)
        c = Raw(self.imap)
        self.assertEqual(c.greeting, "* BYE Too many connections")
        c.close()
        a.close()
        # Once one closes, a new connection is accepted again.
        deadline = time.monotonic() + 10
        while True:
            d = Raw(self.imap)
            if d.greeting.startswith("* OK") or time.monotonic() > deadline:
                break
            d.close()
            time.sleep(0.1)
        self.assertTrue(d.greeting.startswith("* OK"), d.greeting)
        d.close()
        b.close()


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    suite.addTests(loader.loadTestsFromTestCase(ImapdIntegration))
    suite.addTest(ImapdConnectionLimits("test_connections_per_ip_are_limited"))
    return suite


if __name__ == "__main__":
    unittest.main(verbosity=2)
