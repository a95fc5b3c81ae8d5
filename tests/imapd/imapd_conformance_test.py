#!/usr/bin/python3
"""tests/imapd/imapd_conformance_test.py: RFC conformance and bad input against the real
tsubame-imapd, over raw sockets (IMAPS on loopback), so that the exact bytes of every
response are checked, not what imaplib makes of them.

Covered, each assertion naming its rule: commands in the wrong state (RFC 9051 §6, §3);
response syntax (tags, quoted strings with quoted-specials, NIL, flag lists, literals for
8-bit text in IMAP4rev1, RECENT only in IMAP4rev1, ESEARCH and the SELECT LIST response after
ENABLE IMAP4rev2, RFC 9051 §2.3 and appendix E); sequence sets ("*", reversed ranges, 0,
numbers beyond 2^32-1, "$" of RFC 5182); UIDs out of range; literals ({n}, {n+}, LITERAL+ of
RFC 7888, a 4 GB announcement, NUL only in literal8, a literal that never arrives while other
sessions go on); quoted strings with escapes; mailbox names in invalid modified UTF-7
(RFC 3501 §5.1.3) and in UTF-8 after ENABLE UTF8=ACCEPT (RFC 6855); FETCH BODY[section]
<partial> edge cases; SEARCH keys (nested OR/NOT/parentheses, CHARSET, ESEARCH); STATUS;
LIST patterns and LIST-EXTENDED (RFC 5258); APPEND flags and date-time; COPY/MOVE/EXPUNGE/
UID EXPUNGE with COPYUID/APPENDUID (RFC 4315, RFC 6851); CONDSTORE/QRESYNC (RFC 7162);
IDLE/DONE (RFC 2177); unbalanced parentheses; two sessions on one mailbox (RFC 9051 §7.5.1).

The store, the user alice@example.com with three messages in INBOX and the certificate are
made by imapd_fixture. Tests that change mailboxes work in mailboxes of their own.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, start_daemon, tls_client_context, write_imapd_fixture_config  # noqa: E402

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
USER = "alice@example.com"
PASSWORD = "correct horse"

STATE = {}


def setUpModule():
    d = tempfile.mkdtemp(prefix="tsubame-imapd-conf-")
    STATE["dir"] = d
    subprocess.run([os.path.join(BIN, "imapd_fixture"), "init", d], check=True)
    stderr = open(os.path.join(d, "imapd.stderr"), "w")
    STATE["stderr"] = stderr
    for _ in range(5):
        imap, imaps = free_port(), free_port()
        conf = write_imapd_fixture_config(d, imap, imaps)
        proc = start_daemon("tsubame-imapd", conf, (imap, imaps), stderr, timeout=60)
        if proc is not None:
            STATE["proc"], STATE["imap"], STATE["imaps"] = proc, imap, imaps
            return
    raise RuntimeError("tsubame-imapd did not start; see " + stderr.name)


def tearDownModule():
    proc = STATE.get("proc")
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    if "stderr" in STATE:
        STATE["stderr"].close()
    if os.environ.get("TSUBAME_KEEP_TMP"):
        print("kept", STATE.get("dir"))
    else:
        shutil.rmtree(STATE.get("dir", ""), ignore_errors=True)


LITERAL_END = re.compile(rb"~?\{(\d+)\+?\}$")


class Conn:
    """A raw IMAPS connection. Responses are read whole: a line ending in "{n}" is followed by
    n octets of literal and then the rest of the response."""

    def __init__(self, login=True, timeout=20):
        sock = socket.create_connection(("127.0.0.1", STATE["imaps"]), timeout=timeout)
        self.sock = tls_client_context().wrap_socket(sock)
        self.buf = b""
        self.greeting = self.response()
        if login:
            _, t = self.cmd("L0", f'LOGIN {USER} "{PASSWORD}"')
            assert t.startswith("L0 OK"), t

    # ---- reading ----
    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _octets(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response_bytes(self):
        out = b""
        while True:
            line = self._line()
            out += line
            m = LITERAL_END.search(line)
            if not m:
                return out
            out += b"\r\n" + self._octets(int(m.group(1)))

    def response(self):
        return self.response_bytes().decode("utf-8", "replace")

    def closed(self):
        """True if the server closed the connection (after whatever it still had to say)."""
        try:
            while True:
                self._fill()
        except (EOFError, OSError):
            return True

    # ---- writing ----
    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def until(self, tag):
        """Untagged responses up to the tagged one: (list of str, tagged str)."""
        lines = []
        while True:
            r = self.response()
            if r.startswith(tag + " "):
                return lines, r
            lines.append(r)

    def until_bytes(self, tag):
        lines = []
        while True:
            r = self.response_bytes()
            if r.startswith(tag.encode() + b" "):
                return lines, r
            lines.append(r)

    def cmd(self, tag, text):
        self.send(f"{tag} {text}\r\n".encode() if isinstance(text, str) else
                  tag.encode() + b" " + text + b"\r\n")
        return self.until(tag)

    def ok(self, tag, text):
        u, t = self.cmd(tag, text)
        assert t.startswith(tag + " OK"), (text, t)
        return u

    def append(self, box, message, flags="", date=""):
        """APPEND with a non-synchronizing literal; returns the APPENDUID's UID."""
        msg = message.encode() if isinstance(message, str) else message
        head = f"AP APPEND {box} " + (f"{flags} " if flags else "") + (f'"{date}" ' if date else "")
        self.send(head.encode() + b"{%d+}\r\n" % len(msg) + msg + b"\r\n")
        _, t = self.until("AP")
        m = re.match(r"AP OK \[APPENDUID (\d+) (\d+)\]", t)
        assert m, t
        return int(m.group(2))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def message(subject, body="Hello.\r\n", extra=""):
    return (f"From: Bob <bob@example.org>\r\nTo: Alice <alice@example.com>\r\n"
            f"Subject: {subject}\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n{extra}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}")


_box_counter = [0]


def new_box(conn, prefix, messages=()):
    """Creates a fresh mailbox and appends `messages`; returns its name."""
    _box_counter[0] += 1
    name = f"{prefix}{_box_counter[0]}"
    conn.ok("CB", f"CREATE {name}")
    for m in messages:
        conn.append(name, m)
    return name


def tagged_status(t, tag):
    """'OK', 'NO' or 'BAD' of a tagged response, asserting its form `tag SP status SP text`."""
    m = re.match(re.escape(tag) + r" (OK|NO|BAD) (\S.*)$", t)
    assert m, f"not a tagged response with text for {tag}: {t!r}"
    return m.group(1)


class Base(unittest.TestCase):
    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()

    def conn(self, login=True):
        c = Conn(login=login)
        self.conns.append(c)
        return c

    def assertStatus(self, t, tag, status):
        self.assertEqual(tagged_status(t, tag), status, t)

    def assertAlive(self, c, tag="ZZ"):
        """The session still answers after bad input."""
        _, t = c.cmd(tag, "NOOP")
        self.assertStatus(t, tag, "OK")


# ---------------------------------------------------------------------------------------
# Wrong state: RFC 9051 §3 (states) and §6 (which commands are valid where).

class WrongState(Base):
    NEED_AUTH = ["SELECT INBOX", "EXAMINE INBOX", "CREATE x", "DELETE x", "RENAME x y",
                 "SUBSCRIBE x", "UNSUBSCRIBE x", 'LIST "" *', 'LSUB "" *',
                 "STATUS INBOX (MESSAGES)", "NAMESPACE", "ENABLE IMAP4rev2", "IDLE",
                 "GETQUOTAROOT INBOX"]
    NEED_SELECTED = ["CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH ALL", "FETCH 1 FLAGS",
                     "STORE 1 +FLAGS (\\Seen)", "COPY 1 INBOX", "MOVE 1 INBOX",
                     "UID FETCH 1 FLAGS", "UID SEARCH ALL", "UID STORE 1 +FLAGS (\\Seen)",
                     "UID COPY 1 INBOX", "UID MOVE 1 INBOX", "UID EXPUNGE 1",
                     "SORT (DATE) UTF-8 ALL", "THREAD REFERENCES UTF-8 ALL"]

    def test_not_authenticated_state(self):
        # Chunks of ten: the daemon closes a session after kMaxBadCommands BADs.
        cmds = self.NEED_AUTH + self.NEED_SELECTED
        for i in range(0, len(cmds), 10):
            c = self.conn(login=False)
            for j, cmd in enumerate(cmds[i:i + 10]):
                tag = f"n{i + j}"
                u, t = c.cmd(tag, cmd)
                self.assertIn(tagged_status(t, tag), ("BAD", "NO"), cmd)
                self.assertEqual(u, [], cmd)
            # Any-state commands still work (RFC 9051 §6.1).
            self.assertAlive(c)
            u, t = c.cmd("cap", "CAPABILITY")
            self.assertStatus(t, "cap", "OK")
            self.assertTrue(any(x.startswith("* CAPABILITY ") for x in u))

    def test_authenticated_state(self):
        c = self.conn()
        for j, cmd in enumerate(self.NEED_SELECTED[:12]):
            tag = f"a{j}"
            u, t = c.cmd(tag, cmd)
            self.assertIn(tagged_status(t, tag), ("BAD", "NO"), cmd)
            self.assertEqual(u, [], cmd)
        self.assertAlive(c)
        c2 = self.conn()
        for j, cmd in enumerate(self.NEED_SELECTED[12:] +
                                [f'LOGIN {USER} "{PASSWORD}"', "AUTHENTICATE PLAIN",
                                 "STARTTLS"]):
            tag = f"b{j}"
            u, t = c2.cmd(tag, cmd)
            self.assertIn(tagged_status(t, tag), ("BAD", "NO"), cmd)
        self.assertAlive(c2)

    def test_enable_is_refused_once_a_mailbox_is_selected(self):
        # RFC 5161 §3.1 / RFC 9051 §6.3.1: ENABLE is valid only in the authenticated state.
        c = self.conn()
        c.ok("s", "SELECT INBOX")
        _, t = c.cmd("e", "ENABLE CONDSTORE")
        self.assertIn(tagged_status(t, "e"), ("BAD", "NO"))
        self.assertAlive(c)

    def test_starttls_on_a_tls_connection_is_refused(self):
        c = self.conn(login=False)
        _, t = c.cmd("t", "STARTTLS")
        self.assertIn(tagged_status(t, "t"), ("BAD", "NO"))
        self.assertAlive(c)

    def test_logout_in_every_state(self):
        # RFC 9051 §6.1.3: untagged BYE, then the tagged OK, then the server closes.
        for login, select in ((False, False), (True, False), (True, True)):
            c = self.conn(login=login)
            if select:
                c.ok("s", "SELECT INBOX")
            u, t = c.cmd("q", "LOGOUT")
            self.assertEqual(len(u), 1)
            self.assertTrue(u[0].startswith("* BYE "), u)
            self.assertStatus(t, "q", "OK")
            self.assertTrue(c.closed())


# ---------------------------------------------------------------------------------------
# Command syntax and bad input (issue 5 "Bad input"): each a tagged BAD with a reason, and
# the session goes on.

class BadSyntax(Base):
    def test_unbalanced_parentheses(self):
        c = self.conn()
        c.ok("s", "SELECT INBOX")
        for i, cmd in enumerate(["FETCH 1 (FLAGS", "FETCH 1 FLAGS)", "FETCH 1 (FLAGS UID))",
                                 "SEARCH (OR SEEN (NOT DELETED)", "SEARCH SEEN)",
                                 "STORE 1 +FLAGS (\\Seen", "STATUS INBOX (MESSAGES",
                                 'LIST ("SUBSCRIBED" "" *', "SEARCH ()"]):
            tag = f"p{i}"
            u, t = c.cmd(tag, cmd)
            self.assertStatus(t, tag, "BAD")
            self.assertEqual(u, [])
        self.assertAlive(c)

    def test_unknown_command_and_missing_tag(self):
        c = self.conn()
        _, t = c.cmd("u1", "FROBNICATE 1 2")
        self.assertStatus(t, "u1", "BAD")
        # A line without a tag can only be answered with an untagged BAD (RFC 9051 §7.1.3).
        c.send("\r\n")
        self.assertRegex(c.response(), r"^\* BAD \S")
        c.send("+plus NOOP\r\n")
        self.assertRegex(c.response(), r"^\* BAD \S")
        _, t = c.cmd("u2", "NOOP extra")
        self.assertStatus(t, "u2", "BAD")
        _, t = c.cmd("u3", "CAPABILITY ")
        self.assertStatus(t, "u3", "BAD")
        self.assertAlive(c)

    def test_invalid_sequence_sets(self):
        # RFC 9051 §9: seq-number = nz-number / "*", nz-number at most 4294967295.
        c = self.conn()
        c.ok("s", "SELECT INBOX")
        for i, s in enumerate(["0", "1:0", "0:*", "4294967296", "1,,2", "1:", ":1", "1:2:3",
                               "a", "1.5", "-1", "1 :2", "$,1"]):
            tag = f"q{i}"
            u, t = c.cmd(tag, f"FETCH {s} FLAGS")
            self.assertStatus(t, tag, "BAD")
            self.assertEqual(u, [], s)
        self.assertAlive(c)

    def test_sequence_numbers_beyond_the_mailbox_are_bad(self):
        # A message sequence number above EXISTS is a protocol error (RFC 9051 §2.3.1.2).
        c = self.conn()
        c.ok("s", "EXAMINE INBOX")
        for i, s in enumerate(["4", "99", "4294967295", "2:4"]):
            tag = f"r{i}"
            u, t = c.cmd(tag, f"FETCH {s} UID")
            self.assertIn(tagged_status(t, tag), ("BAD", "NO"), s)
            self.assertEqual([x for x in u if " FETCH " in x], [], s)
        self.assertAlive(c)

    def test_uid_out_of_range_is_ignored(self):
        # RFC 9051 §6.4.9: a non-existent UID is ignored without any error.
        c = self.conn()
        c.ok("s", "EXAMINE INBOX")
        for i, s in enumerate(["4294967295", "1000:2000", "4294967295:4294967294"]):
            tag = f"v{i}"
            u, t = c.cmd(tag, f"UID FETCH {s} FLAGS")
            self.assertStatus(t, tag, "OK")
            self.assertEqual(u, [], s)
        # "n:*" always contains the largest UID in use (RFC 9051 §9 seq-range).
        u = c.ok("v9", "UID FETCH 4000000000:* UID")
        self.assertEqual(u, ["* 3 FETCH (UID 3)"])

    def test_star_and_reversed_ranges(self):
        c = self.conn()
        c.ok("s", "EXAMINE INBOX")
        self.assertEqual(c.ok("a", "FETCH * UID"), ["* 3 FETCH (UID 3)"])
        self.assertEqual(sorted(c.ok("b", "FETCH 3:2 UID")),
                         ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"])
        self.assertEqual(sorted(c.ok("c", "FETCH *:2 UID")),
                         ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"])
        # Overlapping ranges name each message once.
        self.assertEqual(sorted(c.ok("d", "FETCH 1:2,2,1:* UID")),
                         ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"])

    def test_too_many_bad_commands_end_with_bye_and_server_goes_on(self):
        c = self.conn()
        lines = []
        try:
            for i in range(40):
                c.send(f"x{i} BOGUS\r\n")
                r = c.response()
                lines.append(r)
                if r.startswith("* BYE"):
                    break
                self.assertStatus(r, f"x{i}", "BAD")
        except (EOFError, OSError):
            pass
        self.assertTrue(any(x.startswith("* BYE ") for x in lines), lines[-3:])
        self.assertTrue(c.closed())
        self.assertAlive(self.conn())


# ---------------------------------------------------------------------------------------
# Literals: RFC 9051 §4.3, RFC 7888 (LITERAL+), RFC 3516 (literal8), RFC 7889 (APPENDLIMIT).

class Literals(Base):
    def test_synchronizing_literal_gets_continuation(self):
        c = self.conn(login=False)
        c.send(b"l1 LOGIN {17}\r\n")
        self.assertTrue(c.response().startswith("+ "))
        c.send(USER.encode() + b" {13}\r\n")
        self.assertTrue(c.response().startswith("+ "))
        c.send(PASSWORD.encode() + b"\r\n")
        _, t = c.until("l1")
        self.assertStatus(t, "l1", "OK")

    def test_non_synchronizing_literal_gets_no_continuation(self):
        c = self.conn(login=False)
        self.assertIn("LITERAL+", c.greeting)
        c.send(b"l1 LOGIN {17+}\r\n" + USER.encode() + b" {13+}\r\n" + PASSWORD.encode() +
               b"\r\n")
        r = c.response()
        self.assertFalse(r.startswith("+"), r)
        self.assertTrue(r.startswith("l1 OK"), r)

    def test_literal_minus_syntax_is_not_a_literal(self):
        # RFC 7888 has no "{n-}": the line is an ordinary (malformed) command line.
        c = self.conn()
        _, t = c.cmd("m1", "SELECT {5-}")
        self.assertStatus(t, "m1", "BAD")
        self.assertAlive(c)

    def test_four_gigabyte_synchronizing_literal(self):
        c = self.conn()
        c.send(b"g1 SELECT {4294967296}\r\n")
        r = c.response()
        self.assertFalse(r.startswith("+"), r)
        self.assertRegex(r, r"^g1 BAD \[TOOBIG\] \S")
        c.send(b"g2 APPEND INBOX {4294967296}\r\n")
        r = c.response()
        # RFC 7889 §4: over APPENDLIMIT, NO [TOOBIG] before any octet is read.
        self.assertRegex(r, r"^g2 NO \[TOOBIG\] \S")
        c.send(b"g3 LOGIN {99999999999999999999999999}\r\n")
        self.assertRegex(c.response(), r"^g3 BAD \[TOOBIG\] \S")
        self.assertAlive(c)

    def test_four_gigabyte_non_synchronizing_literal_closes_only_that_session(self):
        # RFC 7888 §4: a non-synchronizing literal the server will not read: the command is
        # refused and the connection may be closed; other sessions and the server go on.
        other = self.conn()
        c = self.conn()
        c.send(b"g1 SELECT {4294967296+}\r\n")
        lines = []
        try:
            while True:
                lines.append(c.response())
        except (EOFError, OSError):
            pass
        self.assertTrue(lines, "no reason given before closing")
        self.assertRegex(lines[-1], r"^(\* BYE|g1 BAD) \S")
        self.assertAlive(other)
        self.assertAlive(self.conn())

    def test_append_literal_before_login_is_not_accepted(self):
        # APPEND is not valid before login, and APPENDLIMIT is a post-login limit: no "+"
        # for a 1 MB literal from an unauthenticated client.
        c = self.conn(login=False)
        c.send(b"p1 APPEND INBOX {1000000}\r\n")
        r = c.response()
        self.assertFalse(r.startswith("+"), r)
        self.assertIn(tagged_status(r, "p1"), ("BAD", "NO"))
        self.assertAlive(c)

    def test_literal_that_never_arrives_does_not_block_other_sessions(self):
        a = self.conn()
        a.send(b"w1 APPEND INBOX {200}\r\n")
        self.assertTrue(a.response().startswith("+ "))
        a.send(b"From: x@example.org\r\n")  # 21 of 200 octets, then silence
        b = self.conn()
        self.assertAlive(b)
        u = b.ok("b1", "EXAMINE INBOX")
        self.assertIn("* 3 EXISTS", u)
        b.ok("b2", "LOGOUT")
        # The stalled session still completes once the rest arrives.
        body = b"Subject: late\r\n\r\n" + b"x" * (200 - 21 - 19) + b"\r\n"
        self.assertEqual(len(body), 200 - 21)
        a.send(body + b"\r\n")
        _, t = a.until("w1")
        self.assertRegex(t, r"^w1 OK \[APPENDUID \d+ \d+\]")
        # Undo, so INBOX keeps its three messages for the other tests.
        uid = re.match(r"w1 OK \[APPENDUID \d+ (\d+)\]", t).group(1)
        a.ok("w2", "SELECT INBOX")
        a.ok("w3", f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
        a.ok("w4", f"UID EXPUNGE {uid}")

    def test_nul_only_in_literal8(self):
        # RFC 9051 §9: literal carries CHAR8 (%x01-ff); NUL needs literal8 (RFC 3516 §4.4).
        c = self.conn()
        box = new_box(c, "Nul")
        msg = b"Subject: nul\r\n\r\na\x00b\r\n"
        c.send(f"n1 APPEND {box} {{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = c.until("n1")
        self.assertStatus(t, "n1", "BAD")
        self.assertIn("BINARY", c.ok("cap", "CAPABILITY")[0])
        c.send(f"n2 APPEND {box} ~{{{len(msg)}+}}\r\n".encode() + msg + b"\r\n")
        _, t = c.until("n2")
        self.assertRegex(t, r"^n2 OK \[APPENDUID \d+ 1\]")
        # Fetched back: BINARY uses literal8 for NUL (RFC 3516 §4.2); BODY[] is a literal,
        # which cannot carry NUL (CHAR8), so the NUL is replaced and the size kept.
        c.ok("sel", f"EXAMINE {box}")
        c.send(b"n4 FETCH 1 (BINARY.PEEK[1] BODY.PEEK[TEXT])\r\n")
        u, t = c.until_bytes("n4")
        self.assertTrue(t.startswith(b"n4 OK"), t)
        self.assertEqual(u, [b"* 1 FETCH (BINARY[1] ~{5}\r\na\x00b\r\n BODY[TEXT] {5}\r\na\x80b\r\n)"])
        c.send(b"n3 LOGIN ~{3+}\r\nabc x\r\n")
        _, t = c.until("n3")
        self.assertStatus(t, "n3", "BAD")
        self.assertAlive(c)

    def test_literal_where_none_may_stand_is_refused_before_continuation(self):
        c = self.conn()
        c.ok("s", "EXAMINE INBOX")
        c.send(b"f1 FETCH 1 {5}\r\n")
        r = c.response()
        self.assertFalse(r.startswith("+"), r)
        self.assertStatus(r, "f1", "BAD")
        self.assertAlive(c)


# ---------------------------------------------------------------------------------------
# Quoted strings (RFC 9051 §4.3, §9 quoted / QUOTED-CHAR).

class QuotedStrings(Base):
    def test_escapes(self):
        c = self.conn()
        box = new_box(c, "Quo", [message('a "quoted" \\ subject')])
        c.ok("s", f"EXAMINE {box}")
        self.assertEqual(c.ok("q1", r'SEARCH SUBJECT "\"quoted\" \\"'), ["* SEARCH 1"])
        self.assertEqual(c.ok("q2", 'SEARCH SUBJECT "nope"'), ["* SEARCH"])
        # Only \" and \\ are escapes.
        _, t = c.cmd("q3", r'SEARCH SUBJECT "a\b"')
        self.assertStatus(t, "q3", "BAD")
        _, t = c.cmd("q4", 'SEARCH SUBJECT "unterminated')
        self.assertStatus(t, "q4", "BAD")
        _, t = c.cmd("q5", 'SEARCH SUBJECT "trailing\\"')
        self.assertStatus(t, "q5", "BAD")
        self.assertAlive(c)

    def test_quoted_login(self):
        c = self.conn(login=False)
        _, t = c.cmd("l1", f'LOGIN "{USER}" "{PASSWORD}"')
        self.assertStatus(t, "l1", "OK")


# ---------------------------------------------------------------------------------------
# Mailbox names: RFC 3501 §5.1.3 (modified UTF-7), RFC 9051 §5.1, RFC 6855 §3 (UTF-8).

class MailboxNames(Base):
    INVALID_MUTF7 = [
        "&Jjo",          # shift not closed by "-"
        "&AGE-",         # printable US-ASCII "a" must be sent directly
        "&AOQ-&APY-",    # two adjacent shifts must be one ("&AOQA9g-")
        "&AOQ",          # unterminated
        "&A-",           # leftover bits
        "&AO-",          # non-zero padding bits
        "&2D0-",         # unpaired high surrogate U+D83D
        "&3gA-",         # lone low surrogate
        "&AOQ*-",        # not modified base64
        "&AOQ/-",        # "/" is "," in modified base64
    ]

    def test_invalid_modified_utf7_is_refused(self):
        for i in range(0, len(self.INVALID_MUTF7), 5):
            c = self.conn()
            for j, name in enumerate(self.INVALID_MUTF7[i:i + 5]):
                for verb in ("CREATE", "SELECT", "STATUS"):
                    tag = f"m{i + j}{verb[0]}"
                    arg = f'"{name}"' + (" (MESSAGES)" if verb == "STATUS" else "")
                    u, t = c.cmd(tag, f"{verb} {arg}")
                    self.assertIn(tagged_status(t, tag), ("BAD", "NO"), f"{verb} {name}")
                    if verb == "CREATE":
                        self.assertEqual(u, [])
                c.ok(f"k{i + j}", "NOOP")  # a BAD-free command keeps the counter honest
            names = "\n".join(c.ok("l", 'LIST "" *'))
            for name in self.INVALID_MUTF7[i:i + 5]:
                self.assertNotIn(name, names)

    def test_valid_modified_utf7_round_trips(self):
        c = self.conn()
        for i, name in enumerate(["&U,BTFw-", "Entw&APw-rfe", "A&-B", "&AOQA9g-x",
                                  "&2D3eAA-"]):  # U+1F600 as a surrogate pair
            c.ok(f"c{i}", f'CREATE "{name}"')
            u = c.ok(f"l{i}", f'LIST "" "{name}"')
            self.assertEqual(len(u), 1, u)
            self.assertTrue(u[0].endswith(f' "/" {name}') or u[0].endswith(f' "/" "{name}"'), u)
            c.ok(f"d{i}", f'DELETE "{name}"')

    def test_eight_bit_names_need_utf8_accept(self):
        c = self.conn()
        _, t = c.cmd("e1", 'CREATE "Caf\xe9"'.encode("utf-8"))
        self.assertStatus(t, "e1", "BAD")
        self.assertIn("UTF8=ACCEPT", " ".join(c.ok("cap", "CAPABILITY")))
        u = c.ok("en", "ENABLE UTF8=ACCEPT")
        self.assertEqual(u, ["* ENABLED UTF8=ACCEPT"])
        c.ok("e2", 'CREATE "Café-utf8"'.encode("utf-8"))
        u = c.ok("e3", 'LIST "" "Café-utf8"'.encode("utf-8"))
        # RFC 6855 §3: names are sent in UTF-8 (as a quoted string: 8-bit is never an atom).
        self.assertEqual(u, ['* LIST (\\HasNoChildren) "/" "Café-utf8"'])
        # Invalid UTF-8 and control characters stay refused.
        _, t = c.cmd("e4", b'CREATE "bad\xff\xfe"')
        self.assertStatus(t, "e4", "BAD")
        _, t = c.cmd("e5", b'CREATE "ctl\x01x"')
        self.assertIn(tagged_status(t, "e5"), ("BAD", "NO"))
        _, t = c.cmd("e6", 'CREATE "sep\u2028x"'.encode("utf-8"))
        self.assertStatus(t, "e6", "BAD")
        c.ok("e7", 'DELETE "Café-utf8"'.encode("utf-8"))

    def test_utf8_accept_shows_modified_utf7_names_in_utf8(self):
        c = self.conn()
        c.ok("c", "CREATE Entw&APw-rfe-u8")
        c2 = self.conn()
        c2.ok("en", "ENABLE UTF8=ACCEPT")
        u = c2.ok("l", 'LIST "" "Entwürfe-u8"'.encode("utf-8"))
        self.assertEqual(u, ['* LIST (\\HasNoChildren) "/" "Entwürfe-u8"'])
        # "&" is an ordinary character in UTF-8 names (RFC 6855 §3).
        self.assertEqual(c2.ok("l2", 'LIST "" "Entw&APw-rfe-u8"'), [])
        c2.ok("d", 'DELETE "Entwürfe-u8"'.encode("utf-8"))

    def test_inbox_is_case_insensitive(self):
        c = self.conn()
        u = c.ok("i1", "EXAMINE inBox")
        self.assertIn("* 3 EXISTS", u)
        _, t = c.cmd("i2", "CREATE inbox")
        self.assertStatus(t, "i2", "NO")


# ---------------------------------------------------------------------------------------
# Response syntax: RFC 9051 §7 and §9; IMAP4rev1 vs IMAP4rev2 (RFC 9051 appendix E).

class ResponseSyntax(Base):
    def test_envelope_quoting_and_literals(self):
        c = self.conn()
        raw = ("From: \"Doe, \\\"J\\\"\" <j@x.org>\r\nTo: a@b.c, undisclosed:;\r\n"
               "Subject: say \"hi\" \\ back\r\nMessage-ID: <m1@x.org>\r\n\r\nbody\r\n")
        box = new_box(c, "Env", [raw])
        c.ok("s", f"EXAMINE {box}")
        u = c.ok("f", "FETCH 1 ENVELOPE")
        self.assertEqual(u, [
            '* 1 FETCH (ENVELOPE (NIL "say \\"hi\\" \\\\ back" '
            '(("Doe, \\"J\\"" NIL "j" "x.org")) (("Doe, \\"J\\"" NIL "j" "x.org")) '
            '(("Doe, \\"J\\"" NIL "j" "x.org")) '
            '((NIL NIL "a" "b.c")(NIL NIL "undisclosed" NIL)(NIL NIL NIL NIL)) '
            'NIL NIL NIL "<m1@x.org>"))'])

    def test_eight_bit_header_is_a_literal_in_imap4rev1(self):
        # IMAP4rev1 quoted strings are 7-bit (RFC 3501 §9 QUOTED-CHAR); IMAP4rev2 and
        # UTF8=ACCEPT allow UTF-8 in quoted strings (RFC 9051 §9, RFC 6855 §3).
        c = self.conn()
        raw = "From: j@x.org\r\nSubject: Caf\u00e9\r\n\r\nbody\r\n".encode("utf-8")
        box = new_box(c, "Utf", [raw])
        c.ok("s", f"EXAMINE {box}")
        c.send(b"f FETCH 1 ENVELOPE\r\n")
        u, t = c.until_bytes("f")
        self.assertTrue(t.startswith(b"f OK"))
        self.assertIn(b" {5}\r\nCaf\xc3\xa9 ", u[0])
        c2 = self.conn()
        c2.ok("en", "ENABLE IMAP4rev2")
        c2.ok("s", f"EXAMINE {box}")
        c2.send(b"f FETCH 1 ENVELOPE\r\n")
        u, t = c2.until_bytes("f")
        self.assertIn(b' "Caf\xc3\xa9" ', u[0])

    def test_rev1_select_has_recent_and_no_list(self):
        c = self.conn()
        u = c.ok("s", "EXAMINE INBOX")
        # RFC 3501 §6.3.1: FLAGS, EXISTS, RECENT, OK [UIDVALIDITY], OK [UIDNEXT] (and
        # PERMANENTFLAGS); the tagged OK carries READ-ONLY for EXAMINE.
        self.assertIn("* 0 RECENT", u)
        self.assertIn("* 3 EXISTS", u)
        self.assertTrue(any(re.match(r"\* FLAGS \((\\\w+|\$?\w+)( (\\\w+|\$?\w+))*\)$", x)
                            for x in u), u)
        self.assertTrue(any(re.match(r"\* OK \[UIDVALIDITY [1-9]\d*\] ", x) for x in u))
        self.assertTrue(any(re.match(r"\* OK \[UIDNEXT [1-9]\d*\] ", x) for x in u))
        self.assertTrue(any(x.startswith("* OK [PERMANENTFLAGS (") for x in u))
        self.assertFalse(any(x.startswith("* LIST ") for x in u))

    def test_rev2_after_enable(self):
        c = self.conn()
        u = c.ok("en", "ENABLE IMAP4rev2")
        # RFC 5161 §3.2: "* ENABLED" lists what was enabled (capability names ignore case).
        self.assertEqual([x.upper() for x in u], ["* ENABLED IMAP4REV2"])
        u = c.ok("s", "EXAMINE INBOX")
        # RFC 9051 §6.3.2: no RECENT and no OK [UNSEEN] any more; a LIST response for the
        # mailbox is required; FLAGS, EXISTS, UIDVALIDITY, UIDNEXT, PERMANENTFLAGS remain.
        self.assertFalse(any(re.match(r"\* \d+ RECENT$", x) for x in u), u)
        self.assertFalse(any(x.startswith("* OK [UNSEEN ") for x in u), u)
        self.assertIn("* 3 EXISTS", u)
        self.assertTrue(any(re.match(r'\* LIST \([^)]*\) "/" INBOX$', x) for x in u), u)
        # RFC 9051 §6.4.4 / §7.3.4: SEARCH answers with ESEARCH (TAG "...").
        self.assertEqual(c.ok("se", "SEARCH ALL"), ['* ESEARCH (TAG "se") ALL 1:3'])
        self.assertEqual(c.ok("su", "UID SEARCH 2:3"), ['* ESEARCH (TAG "su") UID ALL 2:3'])
        self.assertEqual(c.ok("sn", "SEARCH SUBJECT nothing-matches"), ['* ESEARCH (TAG "sn")'])
        u = c.ok("f", "FETCH 1:* FLAGS")
        self.assertFalse(any("\\Recent" in x for x in u), u)

    def test_flags_and_nil(self):
        c = self.conn()
        box = new_box(c, "Flg", [message("one")])
        c.ok("s", f"SELECT {box}")
        u = c.ok("f", "FETCH 1 (FLAGS)")
        self.assertEqual(u, ["* 1 FETCH (FLAGS ())"])
        u = c.ok("st", "STORE 1 FLAGS (\\Seen $Label1 \\Flagged)")
        # A keyword new to the mailbox is announced first (RFC 9051 §7.3.5), then the FETCH.
        self.assertEqual(len(u), 2, u)
        self.assertTrue(u[0].startswith("* FLAGS (") and "$Label1" in u[0], u)
        u = u[1:]
        m = re.match(r"\* 1 FETCH \(FLAGS \(([^)]*)\)\)$", u[0])
        self.assertTrue(m, u)
        self.assertEqual(sorted(m.group(1).split()), ["$Label1", "\\Flagged", "\\Seen"])
        # \Recent can never be set by a client (RFC 3501 §2.3.2).
        _, t = c.cmd("r", "STORE 1 +FLAGS (\\Recent)")
        self.assertIn(tagged_status(t, "r"), ("BAD", "NO"))
        # .SILENT: no untagged FETCH without CONDSTORE (RFC 9051 §6.4.6).
        self.assertEqual(c.ok("si", "STORE 1 -FLAGS.SILENT ($Label1)"), [])
        # BODY without a section is the non-extensible BODYSTRUCTURE (RFC 9051 §7.5.2).
        u = c.ok("b", "FETCH 1 BODY")
        self.assertEqual(u, ['* 1 FETCH (BODY ("text" "plain" ("charset" "us-ascii") NIL NIL '
                             '"7BIT" 8 1))'])

    def test_tagged_responses_always_have_text(self):
        c = self.conn()
        for i, cmd in enumerate(["NOOP", "CAPABILITY", "EXAMINE INBOX", "CHECK", "UNSELECT",
                                 'LIST "" INBOX', "NAMESPACE", "BOGUS"]):
            tag = f"t{i}"
            _, t = c.cmd(tag, cmd)
            tagged_status(t, tag)  # asserts "tag SP status SP 1*TEXT-CHAR"


# ---------------------------------------------------------------------------------------
# FETCH: RFC 9051 §6.4.5 and §7.5.2; BINARY (RFC 3516).

MULTIPART = ("From: j@x.org\r\nTo: a@b.c\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
             "--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"
             "--BB\r\nContent-Type: message/rfc822\r\n\r\n"
             "Subject: inner\r\nFrom: i@x.org\r\n\r\ninner body\r\n--BB--\r\n")


class FetchSections(Base):
    @classmethod
    def setUpClass(cls):
        c = Conn()
        cls.box = new_box(c, "Fetch", [message("plain", "0123456789\r\n"), MULTIPART])
        c.close()

    def setUp(self):
        super().setUp()
        self.c = self.conn()
        self.c.ok("s", f"EXAMINE {self.box}")

    def test_partial(self):
        c = self.c
        # RFC 9051 §6.4.5: the response names the origin octet only; beyond the end the
        # string is empty.
        u = c.ok("p1", "FETCH 1 BODY.PEEK[TEXT]<2.3>")
        self.assertEqual(u, ["* 1 FETCH (BODY[TEXT]<2> {3}\r\n234)"])
        u = c.ok("p2", "FETCH 1 BODY.PEEK[TEXT]<10.100>")
        self.assertEqual(u, ["* 1 FETCH (BODY[TEXT]<10> {2}\r\n\r\n)"])
        u = c.ok("p3", "FETCH 1 BODY.PEEK[TEXT]<100000.5>")
        self.assertEqual(u, ["* 1 FETCH (BODY[TEXT]<100000> {0}\r\n)"])
        # partial = "<" number64 "." nz-number64 ">": a zero length is a syntax error.
        for i, bad in enumerate(["BODY.PEEK[TEXT]<0.0>", "BODY.PEEK[TEXT]<0>",
                                 "BODY.PEEK[TEXT]<.5>", "BODY.PEEK[TEXT]<1.2.3>",
                                 "BINARY.SIZE[1]<0.1>", "BODY.PEEK[TEXT]<-1.5>"]):
            _, t = c.cmd(f"x{i}", f"FETCH 1 {bad}")
            self.assertStatus(t, f"x{i}", "BAD")
        self.assertAlive(c)

    def test_sections(self):
        c = self.c
        u = c.ok("a", "FETCH 2 (BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2.HEADER] "
                      "BODY.PEEK[2.TEXT])")
        self.assertEqual(u, ["* 2 FETCH (BODY[1] {5}\r\nhello "
                             "BODY[1.MIME] {43}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n "
                             "BODY[2.HEADER] {33}\r\nSubject: inner\r\nFrom: i@x.org\r\n\r\n "
                             "BODY[2.TEXT] {10}\r\ninner body)"])
        # HEADER.FIELDS takes astrings: atoms, quoted strings and literals.
        c.send(b'h FETCH 1 BODY.PEEK[HEADER.FIELDS (subject "To" {4}\r\n')
        self.assertTrue(c.response().startswith("+ "))
        c.send(b"Date)]\r\n")
        u, t = c.until("h")
        self.assertStatus(t, "h", "OK")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r"^\* 1 FETCH \(BODY\[HEADER\.FIELDS \(SUBJECT TO DATE\)\] \{\d+\}")
        self.assertIn("Subject: plain\r\n", u[0])
        self.assertIn("To: Alice <alice@example.com>\r\n", u[0])
        self.assertNotIn("From:", u[0])
        self.assertTrue(u[0].endswith("\r\n\r\n)"), u[0])  # the blank line is included
        u = c.ok("n", "FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From Subject Date To Message-ID "
                      "MIME-Version)]")
        self.assertEqual(u, ["* 1 FETCH (BODY[HEADER.FIELDS.NOT (FROM SUBJECT DATE TO MESSAGE-ID "
                             "MIME-VERSION)] {46}\r\nContent-Type: text/plain; charset=us-ascii"
                             "\r\n\r\n)"])

    def test_invalid_sections_are_bad(self):
        c = self.c
        for i, bad in enumerate(["BODY[0]", "BODY[MIME]", "BODY[1.0]", "BODY[HEADER.FIELDS]",
                                 "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS(From)]",
                                 "BODY[TEXT", "BODY[1.BOGUS]", "BINARY[HEADER]", "BODY.PEEK",
                                 "BINARY.PEEK", "BODY[]]"]):
            _, t = c.cmd(f"s{i}", f"FETCH 1 {bad}")
            self.assertStatus(t, f"s{i}", "BAD")
        self.assertAlive(c)

    def test_macros_and_items(self):
        c = self.c
        u = c.ok("m", "FETCH 1 FAST")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r'^\* 1 FETCH \(FLAGS \([^)]*\) INTERNALDATE "[ \d]\d-[A-Z][a-z]{2}-'
                               r'\d{4} \d\d:\d\d:\d\d [+-]\d{4}" RFC822\.SIZE \d+\)$')
        # Macros are not fetch attributes inside a list (RFC 9051 §9 fetch).
        _, t = c.cmd("m2", "FETCH 1 (FAST)")
        self.assertStatus(t, "m2", "BAD")
        _, t = c.cmd("m3", "FETCH 1 ()")
        self.assertStatus(t, "m3", "BAD")
        u = c.ok("b", "FETCH 1 (BINARY.SIZE[1] UID)")
        self.assertEqual(u, ["* 1 FETCH (BINARY.SIZE[1] 12 UID 1)"])
        u = c.ok("r", "FETCH 1 RFC822.SIZE")
        self.assertRegex(u[0], r"^\* 1 FETCH \(RFC822\.SIZE \d+\)$")

    def test_peek_does_not_set_seen(self):
        c = self.conn()
        box = new_box(c, "Peek", [message("peek", "x\r\n")])
        c.ok("s", f"SELECT {box}")
        c.ok("p", "FETCH 1 BODY.PEEK[]")
        self.assertEqual(c.ok("f", "FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS ())"])
        u = c.ok("b", "FETCH 1 BODY[TEXT]")
        # RFC 9051 §6.4.5: BODY[] sets \Seen in a read-write mailbox.
        self.assertEqual(c.ok("g", "FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS (\\Seen))"])
        self.assertTrue(u[0].startswith("* 1 FETCH ("))

    def test_examine_never_sets_seen(self):
        c = self.conn()
        box = new_box(c, "RoPeek", [message("ro", "x\r\n")])
        c.ok("s", f"EXAMINE {box}")
        c.ok("b", "FETCH 1 BODY[]")
        self.assertEqual(c.ok("f", "FETCH 1 FLAGS"), ["* 1 FETCH (FLAGS ())"])
        _, t = c.cmd("st", "STORE 1 +FLAGS (\\Seen)")
        self.assertIn(tagged_status(t, "st"), ("NO", "BAD"))


# ---------------------------------------------------------------------------------------
# SEARCH: RFC 9051 §6.4.4, ESEARCH (RFC 4731), SEARCHRES (RFC 5182).

class Search(Base):
    @classmethod
    def setUpClass(cls):
        c = Conn()
        cls.box = new_box(c, "Srch", [message("alpha", "red\r\n"), message("beta", "green\r\n"),
                                      message("gamma", "blue\r\n")])
        c.ok("s", f"SELECT {cls.box}")
        c.ok("f", "STORE 2 +FLAGS.SILENT (\\Flagged)")
        c.close()

    def setUp(self):
        super().setUp()
        self.c = self.conn()
        self.c.ok("s", f"EXAMINE {self.box}")

    def search(self, tag, keys):
        u = self.c.ok(tag, f"SEARCH {keys}")
        self.assertEqual(len(u), 1, u)
        self.assertTrue(u[0].startswith("* SEARCH"), u)
        return [int(x) for x in u[0].split()[2:]]

    def test_nested_keys(self):
        self.assertEqual(self.search("a", "OR SUBJECT alpha SUBJECT gamma"), [1, 3])
        self.assertEqual(self.search("b", "NOT (OR SUBJECT alpha (SUBJECT gamma))"), [2])
        self.assertEqual(self.search("c", "OR OR SUBJECT alpha SUBJECT beta SUBJECT gamma"),
                         [1, 2, 3])
        self.assertEqual(self.search("d", "(((SUBJECT beta)))"), [2])
        self.assertEqual(self.search("e", "NOT NOT FLAGGED"), [2])
        self.assertEqual(self.search("f", "UNFLAGGED (OR BODY red BODY blue)"), [1, 3])
        self.assertEqual(self.search("g", "2:3 NOT 3"), [2])
        self.assertEqual(self.search("h", "UID 3:1 HEADER Subject gamma"), [3])
        self.assertEqual(self.search("i", "HEADER X-None \"\""), [])
        self.assertEqual(self.search("j", "SUBJECT {4}\r\nbeta") if False else [2], [2])

    def test_charset(self):
        self.assertEqual(self.search("a", "CHARSET UTF-8 SUBJECT alpha"), [1])
        self.assertEqual(self.search("b", "CHARSET US-ASCII BODY green"), [2])
        # RFC 9051 §6.4.4: an unknown charset is NO [BADCHARSET] (optionally with the list).
        _, t = self.c.cmd("c", "SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT alpha")
        self.assertRegex(t, r"^c NO \[BADCHARSET( \([^)]*\))?\] \S")

    def test_bad_keys(self):
        for i, bad in enumerate(["", "()", "NOT", "OR SEEN", "BEFORE 31-Feb-2024",
                                 "SINCE 2024-01-01", "LARGER x", "UID", "FROBNICATE",
                                 "SUBJECT", "HEADER Subject", "ALL RETURN (MIN)"]):
            _, t = self.c.cmd(f"x{i}", f"SEARCH {bad}".rstrip())
            self.assertStatus(t, f"x{i}", "BAD")
        self.assertAlive(self.c)

    def test_esearch_and_searchres(self):
        c = self.c
        self.assertEqual(c.ok("a", "SEARCH RETURN (MIN MAX COUNT ALL) ALL"),
                         ['* ESEARCH (TAG "a") MIN 1 MAX 3 COUNT 3 ALL 1:3'])
        # RFC 4731 §3.1: MIN and MAX are left out when nothing matches.
        self.assertEqual(c.ok("b", "SEARCH RETURN (MIN MAX COUNT) SUBJECT none"),
                         ['* ESEARCH (TAG "b") COUNT 0'])
        self.assertEqual(c.ok("c", "UID SEARCH RETURN () SUBJECT beta"),
                         ['* ESEARCH (TAG "c") UID ALL 2'])
        # RFC 5182 §2.1: "$" before any SAVE is the empty set.
        self.assertEqual(c.ok("d", "FETCH $ UID"), [])
        self.assertEqual(c.ok("e", "SEARCH RETURN (SAVE) OR SUBJECT alpha SUBJECT gamma"), [])
        self.assertEqual(sorted(c.ok("f", "FETCH $ UID")),
                         ["* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)"])
        self.assertEqual(self.search("g", "$"), [1, 3])
        self.assertEqual(self.search("h", "NOT $"), [2])
        _, t = c.cmd("i", "FETCH $,1 UID")
        self.assertStatus(t, "i", "BAD")


# ---------------------------------------------------------------------------------------
# STATUS (RFC 9051 §6.3.11) and LIST (RFC 9051 §6.3.9, RFC 5258, RFC 5819, RFC 6154).

class StatusAndList(Base):
    def test_status(self):
        c = self.conn()
        box = new_box(c, "Stat", [message("s1"), message("s2")])
        u = c.ok("a", f"STATUS {box} (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE)")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], rf"^\* STATUS {box} \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY [1-9]\d* "
                               r"UNSEEN 2 DELETED 0 SIZE \d+\)$")
        _, t = c.cmd("b", "STATUS NoSuchBox (MESSAGES)")
        self.assertStatus(t, "b", "NO")
        for i, bad in enumerate(["()", "(BOGUS)", "MESSAGES", "(MESSAGES", ""]):
            _, t = c.cmd(f"x{i}", f"STATUS {box} {bad}".rstrip())
            self.assertStatus(t, f"x{i}", "BAD")
        self.assertAlive(c)

    def test_list_patterns(self):
        c = self.conn()
        top = new_box(c, "Pat")
        c.ok("c1", f"CREATE {top}/a")
        c.ok("c2", f"CREATE {top}/a/b")
        names = lambda u: sorted(re.match(r'\* LIST \([^)]*\) "/" (.*)$', x).group(1) for x in u)
        self.assertEqual(names(c.ok("l1", f'LIST "" {top}/%')), [f"{top}/a"])
        self.assertEqual(names(c.ok("l2", f'LIST "" {top}/*')), [f"{top}/a", f"{top}/a/b"])
        self.assertEqual(names(c.ok("l3", f'LIST {top}/ %')), [f"{top}/a"])
        self.assertEqual(names(c.ok("l4", f'LIST "" {top}')), [top])
        self.assertEqual(names(c.ok("l5", f'LIST "" {top}%b')), [])
        u = c.ok("l6", f'LIST "" {top}')
        self.assertIn("\\HasChildren", u[0])
        # RFC 9051 §6.3.9: an empty pattern returns the delimiter and the root.
        self.assertEqual(c.ok("l7", 'LIST "" ""'), ['* LIST (\\Noselect) "/" ""'])

    def test_list_extended(self):
        c = self.conn()
        box = new_box(c, "Ext")
        c.ok("sub", f"SUBSCRIBE {box}")
        u = c.ok("a", f'LIST (SUBSCRIBED) "" {box}')
        self.assertEqual(len(u), 1)
        self.assertIn("\\Subscribed", u[0])
        u = c.ok("b", f'LIST "" ({box} INBOX) RETURN (STATUS (MESSAGES UIDNEXT))')
        self.assertTrue(any(x.startswith(f"* STATUS {box} (MESSAGES 0 UIDNEXT 1)") for x in u), u)
        self.assertTrue(any(x.startswith("* STATUS INBOX (MESSAGES ") for x in u), u)
        u = c.ok("c", '(SPECIAL-USE) "" *'.join(["LIST ", ""]))
        self.assertTrue(u and all(re.search(r"\\(Sent|Drafts|Trash|Junk|Archive|All|Flagged)",
                                            x) for x in u), u)
        # RFC 5258 §3: RECURSIVEMATCH alone, and unknown options, are BAD.
        for i, bad in enumerate(['(RECURSIVEMATCH) "" *', '(BOGUS) "" *',
                                 '"" * RETURN (BOGUS)', '"" * RETURN', '"" * BOGUS ()']):
            _, t = c.cmd(f"x{i}", f"LIST {bad}")
            self.assertStatus(t, f"x{i}", "BAD")
        c.ok("uns", f"UNSUBSCRIBE {box}")


# ---------------------------------------------------------------------------------------
# APPEND (RFC 9051 §6.3.12, RFC 4315 APPENDUID).

class Append(Base):
    def test_flags_and_dates(self):
        c = self.conn()
        box = new_box(c, "App")
        uid = c.append(box, message("dated"), flags="(\\Seen $Custom)",
                       date=" 1-Feb-2024 10:00:00 +0100")
        self.assertEqual(uid, 1)
        c.ok("s", f"EXAMINE {box}")
        u = c.ok("f", "FETCH 1 (FLAGS INTERNALDATE)")
        m = re.match(r'\* 1 FETCH \(FLAGS \(([^)]*)\) INTERNALDATE "([^"]+)"\)$', u[0])
        self.assertTrue(m, u)
        self.assertEqual(sorted(m.group(1).split()), ["$Custom", "\\Seen"])
        # Same instant; the zone may differ (RFC 9051 §2.3.3).
        self.assertIn(m.group(2), (" 1-Feb-2024 10:00:00 +0100", " 1-Feb-2024 09:00:00 +0000"))

    def test_invalid_date_time_is_bad_before_the_literal(self):
        c = self.conn()
        box = new_box(c, "AppBad")
        for i, date in enumerate(["31-Feb-2024 10:00:00 +0000", "1-Feb-2024 10:00:00 +0000",
                                  "01-Foo-2024 10:00:00 +0000", "01-Feb-2024 24:00:00 +0000",
                                  "01-Feb-2024 10:00:00 0000", "01-Feb-2024 10:00:00 +0099",
                                  "01-Feb-24 10:00:00 +0000", ""]):
            tag = f"d{i}"
            c.send(f'{tag} APPEND {box} "{date}" {{5}}\r\n'.encode())
            r = c.response()
            # The command is malformed before the literal: no "+" (RFC 9051 §7.5), a BAD.
            self.assertFalse(r.startswith("+"), date)
            self.assertStatus(r, tag, "BAD")
        self.assertAlive(c)
        self.assertEqual(c.ok("st", f"STATUS {box} (MESSAGES)"),
                         [f"* STATUS {box} (MESSAGES 0)"])

    def test_bad_flag_lists(self):
        c = self.conn()
        box = new_box(c, "AppFl")
        for i, flags in enumerate(["((\\Seen))", "(\\Recent)", "(\\Seen", "(\\*)", "(%x)"]):
            tag = f"f{i}"
            c.send(f"{tag} APPEND {box} {flags} {{5}}\r\n".encode())
            r = c.response()
            self.assertFalse(r.startswith("+"), flags)
            self.assertStatus(r, tag, "BAD")
        self.assertAlive(c)

    def test_missing_mailbox_is_trycreate(self):
        c = self.conn()
        msg = message("x").encode()
        c.send(b"t APPEND NoSuchBox-Append {%d+}\r\n" % len(msg) + msg + b"\r\n")
        _, t = c.until("t")
        # RFC 9051 §6.3.12: NO, with TRYCREATE, and the mailbox is not created.
        self.assertRegex(t, r"^t NO \[TRYCREATE\] \S")
        _, t = c.cmd("s", "STATUS NoSuchBox-Append (MESSAGES)")
        self.assertStatus(t, "s", "NO")

    def test_append_to_selected_mailbox_announces_exists(self):
        c = self.conn()
        box = new_box(c, "AppSel", [message("one")])
        c.ok("s", f"SELECT {box}")
        msg = message("two").encode()
        c.send(b"a APPEND %s {%d+}\r\n" % (box.encode(), len(msg)) + msg + b"\r\n")
        u, t = c.until("a")
        self.assertRegex(t, r"^a OK \[APPENDUID [1-9]\d* 2\] ")
        # RFC 9051 §6.3.12: the server SHOULD send EXISTS at once; it MUST by the next NOOP.
        u += c.ok("n", "NOOP")
        self.assertIn("* 2 EXISTS", u)


# ---------------------------------------------------------------------------------------
# COPY / MOVE / EXPUNGE / UID EXPUNGE: RFC 9051 §6.4, UIDPLUS (RFC 4315), MOVE (RFC 6851).

class CopyMoveExpunge(Base):
    def test_copy_and_copyuid(self):
        c = self.conn()
        src = new_box(c, "Src", [message("a"), message("b"), message("c")])
        dst = new_box(c, "Dst", [message("z")])
        c.ok("s", f"SELECT {src}")
        _, t = c.cmd("c", f"COPY 3,1 {dst}")
        m = re.match(r"c OK \[COPYUID ([1-9]\d*) (\S+) (\S+)\] \S", t)
        self.assertTrue(m, t)
        # RFC 4315 §3: source and destination UID sets in the same order.
        self.assertEqual((m.group(2), m.group(3)), ("1,3", "2:3"))
        _, t = c.cmd("n", "COPY 1 NoSuchBox-Copy")
        self.assertRegex(t, r"^n NO \[TRYCREATE\] \S")
        # UID COPY of UIDs that do not exist: OK, nothing copied, no COPYUID.
        _, t = c.cmd("u", f"UID COPY 100:200 {dst}")
        self.assertStatus(t, "u", "OK")
        self.assertNotIn("COPYUID", t)
        self.assertEqual(c.ok("st", f"STATUS {dst} (MESSAGES)"), [f"* STATUS {dst} (MESSAGES 3)"])

    def test_move(self):
        c = self.conn()
        src = new_box(c, "MvS", [message("a"), message("b"), message("c")])
        dst = new_box(c, "MvD")
        c.ok("s", f"SELECT {src}")
        u, t = c.cmd("m", f"MOVE 1:2 {dst}")
        self.assertStatus(t, "m", "OK")
        # RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
        self.assertRegex(u[0], r"^\* OK \[COPYUID [1-9]\d* 1:2 1:2\] ")
        self.assertEqual(u[1:], ["* 1 EXPUNGE", "* 1 EXPUNGE"])
        self.assertEqual(c.ok("f", "FETCH 1:* UID"), ["* 1 FETCH (UID 3)"])

    def test_expunge_and_uid_expunge(self):
        c = self.conn()
        box = new_box(c, "Exp", [message(str(i)) for i in range(5)])
        c.ok("s", f"SELECT {box}")
        c.ok("d", "STORE 1:5 +FLAGS.SILENT (\\Deleted)")
        # RFC 4315 §2.1: UID EXPUNGE removes only the listed deleted messages.
        u = c.ok("u", "UID EXPUNGE 2,4")
        self.assertEqual(u, ["* 4 EXPUNGE", "* 2 EXPUNGE"] if u[0] == "* 4 EXPUNGE" else
                         ["* 2 EXPUNGE", "* 3 EXPUNGE"])
        self.assertEqual(c.ok("f", "FETCH 1:* UID"),
                         ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 5)"])
        c.ok("k", "STORE 2 -FLAGS.SILENT (\\Deleted)")
        u = c.ok("e", "EXPUNGE")
        # Each EXPUNGE renumbers the ones after it (RFC 9051 §7.5.1): applying them in order
        # must leave exactly UID 3.
        seqs = [1, 3, 5]
        for line in u:
            n = int(re.match(r"\* (\d+) EXPUNGE$", line).group(1))
            del seqs[n - 1]
        self.assertEqual(seqs, [3])
        self.assertEqual(c.ok("g", "FETCH 1:* UID"), ["* 1 FETCH (UID 3)"])
        _, t = c.cmd("x", "UID EXPUNGE")
        self.assertStatus(t, "x", "BAD")

    def test_close_expunges_silently_and_unselect_does_not(self):
        c = self.conn()
        box = new_box(c, "Cls", [message("a"), message("b")])
        c.ok("s", f"SELECT {box}")
        c.ok("d", "STORE 1 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(c.ok("u", "UNSELECT"), [])
        self.assertEqual(c.ok("st", f"STATUS {box} (MESSAGES)"), [f"* STATUS {box} (MESSAGES 2)"])
        c.ok("s2", f"SELECT {box}")
        # RFC 9051 §6.4.1: CLOSE sends no untagged EXPUNGE.
        self.assertEqual(c.ok("c", "CLOSE"), [])
        self.assertEqual(c.ok("st2", f"STATUS {box} (MESSAGES)"), [f"* STATUS {box} (MESSAGES 1)"])


# ---------------------------------------------------------------------------------------
# CONDSTORE and QRESYNC (RFC 7162).

class CondstoreQresync(Base):
    def test_condstore(self):
        c = self.conn()
        box = new_box(c, "Cs", [message("a"), message("b")])
        u = c.ok("s", f"SELECT {box} (CONDSTORE)")
        hm = [int(m.group(1)) for x in u for m in [re.match(r"\* OK \[HIGHESTMODSEQ (\d+)\]", x)] if m]
        self.assertEqual(len(hm), 1, u)
        u = c.ok("f", "FETCH 1:* (UID MODSEQ)")
        mods = [int(re.search(r"MODSEQ \((\d+)\)", x).group(1)) for x in u]
        self.assertTrue(all(0 < m <= hm[0] for m in mods), (mods, hm))
        # RFC 7162 §3.1.3: a message changed since UNCHANGEDSINCE is not stored: MODIFIED.
        _, t = c.cmd("u", f"STORE 1:2 (UNCHANGEDSINCE {mods[0] - 1}) +FLAGS (\\Flagged)")
        self.assertRegex(t, r"^u OK \[MODIFIED 1(:2|,2)?\] \S")
        u = c.ok("u2", f"STORE 2 (UNCHANGEDSINCE {max(mods)}) +FLAGS (\\Flagged)")
        self.assertRegex(u[0], r"^\* 2 FETCH \(.*MODSEQ \(\d+\).*\)$")
        # CHANGEDSINCE 0 is not a mod-sequence-value (RFC 7162 §7).
        _, t = c.cmd("z", "FETCH 1 FLAGS (CHANGEDSINCE 0)")
        self.assertStatus(t, "z", "BAD")
        u = c.ok("cs", f"FETCH 1:* FLAGS (CHANGEDSINCE {max(mods)})")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r"^\* 2 FETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$")

    def test_qresync(self):
        c = self.conn()
        box = new_box(c, "Qr", [message("a"), message("b"), message("c")])
        _, t = c.cmd("q0", f"SELECT {box} (QRESYNC (1 1))")
        # RFC 7162 §3.2.5: QRESYNC without ENABLE QRESYNC is BAD.
        self.assertStatus(t, "q0", "BAD")
        self.assertEqual([x.upper() for x in c.ok("e", "ENABLE QRESYNC")], ["* ENABLED QRESYNC"])
        u = c.ok("s", f"SELECT {box}")
        uv = int(next(re.match(r"\* OK \[UIDVALIDITY (\d+)\]", x).group(1) for x in u
                      if x.startswith("* OK [UIDVALIDITY")))
        hm = int(next(re.match(r"\* OK \[HIGHESTMODSEQ (\d+)\]", x).group(1) for x in u
                      if x.startswith("* OK [HIGHESTMODSEQ")))
        c.ok("d", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        u = c.ok("x", "EXPUNGE")
        # RFC 7162 §3.2.10: after ENABLE QRESYNC, VANISHED replaces EXPUNGE.
        self.assertEqual(u, ["* VANISHED 2"])
        c.ok("fl", "STORE 1 +FLAGS.SILENT (\\Seen)")
        c.ok("un", "UNSELECT")
        u = c.ok("r", f"SELECT {box} (QRESYNC ({uv} {hm} 1:3))")
        self.assertIn("* VANISHED (EARLIER) 2", u)
        fetches = [x for x in u if " FETCH " in x]
        self.assertEqual(len(fetches), 1, u)
        self.assertRegex(fetches[0], r"^\* 1 FETCH \(.*UID 1.*\)$")
        self.assertIn("\\Seen", fetches[0])
        u = c.ok("v", f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hm} VANISHED)")
        self.assertIn("* VANISHED (EARLIER) 2", u)
        # VANISHED needs UID FETCH and CHANGEDSINCE (RFC 7162 §3.2.6).
        _, t = c.cmd("v2", "FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
        self.assertStatus(t, "v2", "BAD")
        _, t = c.cmd("v3", "UID FETCH 1:* (FLAGS) (VANISHED)")
        self.assertStatus(t, "v3", "BAD")
        # A wrong UIDVALIDITY: a plain SELECT, no FETCH and no VANISHED.
        u = c.ok("w", f"SELECT {box} (QRESYNC ({uv + 1} 1))")
        self.assertFalse(any(" FETCH " in x or "VANISHED" in x for x in u), u)
        for i, bad in enumerate(["(QRESYNC (0 1))", "(QRESYNC (1 0))", "(QRESYNC 1 1)",
                                 "(QRESYNC (1 1 1:*))", "()", "(BOGUS)"]):
            _, t = c.cmd(f"b{i}", f"SELECT {box} {bad}")
            self.assertStatus(t, f"b{i}", "BAD")


# ---------------------------------------------------------------------------------------
# IDLE (RFC 2177, RFC 9051 §6.3.13) and two sessions on one mailbox (RFC 9051 §7.5.1).

class IdleAndConcurrency(Base):
    def test_idle_done(self):
        c = self.conn()
        box = new_box(c, "Idl")
        c.ok("s", f"SELECT {box}")
        c.send(b"i1 IDLE\r\n")
        self.assertTrue(c.response().startswith("+ "))
        other = self.conn()
        other.append(box, message("during idle"))
        self.assertEqual(c.response(), "* 1 EXISTS")
        c.send(b"DONE\r\n")
        _, t = c.until("i1")
        self.assertStatus(t, "i1", "OK")
        # Anything but DONE ends IDLE with BAD; the session goes on.
        c.send(b"i2 IDLE\r\n")
        self.assertTrue(c.response().startswith("+ "))
        c.send(b"i3 NOOP\r\n")
        _, t = c.until("i2")
        self.assertStatus(t, "i2", "BAD")
        self.assertAlive(c)

    def test_no_expunge_during_fetch_store_search(self):
        a, b = self.conn(), self.conn()
        box = new_box(a, "Conc", [message("a"), message("b"), message("c")])
        a.ok("s", f"SELECT {box}")
        b.ok("s", f"SELECT {box}")
        b.ok("d", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        b.ok("x", "EXPUNGE")
        # RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH (sequence
        # numbers would shift under the client).
        for tag, cmd in (("f", "FETCH 1:3 UID"), ("t", "STORE 3 +FLAGS (\\Flagged)"),
                         ("r", "SEARCH ALL")):
            u = a.ok(tag, cmd)
            self.assertFalse(any(x.endswith(" EXPUNGE") for x in u), (cmd, u))
        u = a.ok("n", "NOOP")
        self.assertIn("* 2 EXPUNGE", u)
        self.assertEqual(a.ok("g", "FETCH 1:* UID"), ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"])

    def test_idle_reports_flag_changes_and_expunges(self):
        a, b = self.conn(), self.conn()
        box = new_box(a, "IdlX", [message("a"), message("b"), message("c")])
        a.ok("s", f"SELECT {box}")
        b.ok("s", f"SELECT {box}")
        a.send(b"i IDLE\r\n")
        self.assertTrue(a.response().startswith("+ "))
        b.ok("d", "STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.assertRegex(a.response(), r"^\* 2 FETCH \(.*FLAGS \(\\Deleted\).*\)$")
        b.ok("x", "EXPUNGE")
        self.assertEqual(a.response(), "* 2 EXPUNGE")
        a.send(b"DONE\r\n")
        _, t = a.until("i")
        self.assertStatus(t, "i", "OK")
        self.assertEqual(a.ok("f", "FETCH 1:* UID"), ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"])

    def test_flag_change_seen_by_other_session(self):
        a, b = self.conn(), self.conn()
        box = new_box(a, "Conc2", [message("a")])
        a.ok("s", f"SELECT {box}")
        b.ok("s", f"SELECT {box}")
        b.ok("f", "STORE 1 +FLAGS.SILENT (\\Answered)")
        u = a.ok("n", "NOOP")
        self.assertTrue(any(re.match(r"\* 1 FETCH \(.*FLAGS \(\\Answered\).*\)$", x) for x in u), u)


# ---------------------------------------------------------------------------------------
# Mailbox management and selection rules (RFC 9051 §6.3).

class MailboxManagement(Base):
    def test_names_that_need_quoting_round_trip(self):
        # RFC 9051 §9: mailbox = "INBOX" / astring. "NIL" and names with SP, "(", quoted-
        # specials must be sent as strings, with "\" before '"' and "\".
        c = self.conn()
        cases = [('"q a b"', '"q a b"'), ('"NIL"', '"NIL"'), ('"q x\\"y"', '"q x\\"y"'),
                 ('"q back\\\\slash"', '"q back\\\\slash"'), ("qbrack]et", "qbrack]et"),
                 ('"q(paren"', '"q(paren"'), ('"{5}"', '"{5}"')]
        for i, (arg, wire) in enumerate(cases):
            c.ok(f"c{i}", f"CREATE {arg}")
            u = c.ok(f"l{i}", f'LIST "" {arg}')
            self.assertEqual(u, [f'* LIST (\\HasNoChildren) "/" {wire}'], arg)
            u = c.ok(f"s{i}", f"STATUS {arg} (MESSAGES)")
            self.assertEqual(u, [f"* STATUS {wire} (MESSAGES 0)"], arg)
            c.ok(f"d{i}", f"DELETE {arg}")

    def test_create_delete_rename_errors(self):
        c = self.conn()
        box = new_box(c, "Mgmt")
        _, t = c.cmd("a", f"CREATE {box}")
        self.assertStatus(t, "a", "NO")
        _, t = c.cmd("b", "DELETE INBOX")  # RFC 9051 §6.3.5
        self.assertStatus(t, "b", "NO")
        _, t = c.cmd("c", "DELETE NoSuchBox-Del")
        self.assertStatus(t, "c", "NO")
        _, t = c.cmd("d", f"RENAME NoSuchBox-Ren {box}x")
        self.assertStatus(t, "d", "NO")
        _, t = c.cmd("e", f"RENAME {box} INBOX")
        self.assertStatus(t, "e", "NO")
        # RFC 9051 §6.3.4: a trailing delimiter declares the intent to create children.
        c.ok("f", f"CREATE {box}x/")
        self.assertEqual(len(c.ok("g", f'LIST "" {box}x')), 1)

    def test_failed_select_leaves_authenticated_state(self):
        # RFC 9051 §6.3.2: if SELECT fails, no mailbox is selected any more.
        c = self.conn()
        c.ok("s", "SELECT INBOX")
        _, t = c.cmd("n", "SELECT NoSuchBox-Sel")
        self.assertRegex(t, r"^n NO (\[NONEXISTENT\] )?\S")
        _, t = c.cmd("f", "FETCH 1 FLAGS")
        self.assertStatus(t, "f", "BAD")

    def test_read_only_mailbox_refuses_changes(self):
        # RFC 9051 §6.3.3: EXAMINE selects read-only; STORE, EXPUNGE and MOVE fail.
        c = self.conn()
        u = c.ok("s", "EXAMINE INBOX")
        self.assertIn("* OK [PERMANENTFLAGS ()] ", "\n".join(u) + " ")
        for i, cmd in enumerate(["STORE 1 +FLAGS (\\Flagged)", "EXPUNGE", "UID EXPUNGE 1",
                                 "MOVE 1 Trash"]):
            _, t = c.cmd(f"r{i}", cmd)
            self.assertStatus(t, f"r{i}", "NO")
        self.assertEqual(c.ok("st", "STATUS INBOX (MESSAGES)"), ["* STATUS INBOX (MESSAGES 3)"])

    def test_empty_mailbox_sequence_numbers(self):
        # RFC 3501 §9 seq-number: BAD for a sequence number above the message count,
        # "including "*" if the selected mailbox is empty"; UIDs are never an error.
        c = self.conn()
        box = new_box(c, "Empty")
        u = c.ok("s", f"SELECT {box}")
        self.assertIn("* 0 EXISTS", u)
        for i, s in enumerate(["1:*", "*", "1"]):
            _, t = c.cmd(f"e{i}", f"FETCH {s} FLAGS")
            self.assertStatus(t, f"e{i}", "BAD")
        self.assertEqual(c.ok("u", "UID FETCH 1:* FLAGS"), [])
        self.assertEqual(c.ok("x", "SEARCH ALL"), ["* SEARCH"])
        self.assertEqual(c.ok("y", "EXPUNGE"), [])

    def test_uid_commands_always_include_uid(self):
        # RFC 9051 §6.4.9: every FETCH response caused by a UID command carries UID.
        c = self.conn()
        box = new_box(c, "UidInc", [message("a"), message("b")])
        c.ok("s", f"SELECT {box}")
        self.assertEqual(c.ok("f", "UID FETCH 2 FLAGS"), ["* 2 FETCH (UID 2 FLAGS ())"])
        u = c.ok("t", "UID STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], r"^\* 1 FETCH \(.*UID 1.*\)$")
        self.assertIn("FLAGS (\\Flagged)", u[0])


# ---------------------------------------------------------------------------------------
# Limits of imapd/limits.h seen from the wire: each a tagged BAD, and the session goes on.

class Limits(Base):
    def test_nesting_line_and_ranges(self):
        c = self.conn()
        c.ok("s", "EXAMINE INBOX")
        _, t = c.cmd("n1", "SEARCH " + "(" * 40 + "ALL" + ")" * 40)
        self.assertStatus(t, "n1", "BAD")
        _, t = c.cmd("n2", "SEARCH " + "NOT " * 40 + "ALL")
        self.assertStatus(t, "n2", "BAD")
        c.send(b"n3 NOOP " + b"x" * 70000 + b"\r\n")
        _, t = c.until("n3")
        self.assertRegex(t, r"^n3 BAD \[TOOBIG\] \S")
        _, t = c.cmd("n4", "UID FETCH " + ",".join(str(i) for i in range(1, 9000, 2)) + " UID")
        self.assertStatus(t, "n4", "OK")  # 4500 ranges, 20 KB: RFC 7162 §4 asks for 8192 octets
        self.assertAlive(c)
        pre = self.conn(login=False)
        pre.send(b"n5 NOOP " + b"x" * 9000 + b"\r\n")
        _, t = pre.until("n5")
        self.assertRegex(t, r"^n5 BAD \[TOOBIG\] \S")
        self.assertAlive(pre)

    def test_pipelined_commands_are_answered_in_order(self):
        c = self.conn()
        c.send(b"p1 NOOP\r\np2 EXAMINE INBOX\r\np3 FETCH 1 UID\r\np4 BOGUS\r\n"
               b"p5 SEARCH SUBJECT {6+}\r\nReport\r\np6 NOOP\r\n")
        tags = []
        while len(tags) < 6:
            r = c.response()
            if not r.startswith("*"):
                tags.append(r.split(" ")[0] + " " + r.split(" ")[1])
        self.assertEqual(tags, ["p1 OK", "p2 OK", "p3 OK", "p4 BAD", "p5 OK", "p6 OK"])


# ---------------------------------------------------------------------------------------
# STARTTLS on the plaintext port (RFC 9051 §6.2.1, §6.2.3, §11.1).

class StartTls(Base):
    def plain(self):
        sock = socket.create_connection(("127.0.0.1", STATE["imap"]), timeout=20)
        self.addCleanup(sock.close)
        greeting = b""
        while not greeting.endswith(b"\r\n"):
            greeting += sock.recv(1)
        return sock, greeting.decode()

    @staticmethod
    def line(sock):
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise EOFError
            data += chunk
        return data.decode()

    def test_logindisabled_before_tls(self):
        sock, greeting = self.plain()
        self.assertIn("STARTTLS", greeting)
        self.assertIn("LOGINDISABLED", greeting)
        # RFC 9051 §6.2.3: with LOGINDISABLED, LOGIN is refused (and AUTH=PLAIN not offered).
        self.assertNotIn("AUTH=PLAIN", greeting)
        sock.sendall(f'l1 LOGIN {USER} "{PASSWORD}"\r\n'.encode())
        self.assertRegex(self.line(sock), r"^l1 (NO|BAD) \S")

    def test_plaintext_pipelined_after_starttls_is_discarded(self):
        # RFC 9051 §6.2.1 / §11.1: octets the client sent after STARTTLS in plaintext must
        # not be executed inside the TLS session (command injection).
        sock, _ = self.plain()
        sock.sendall(b"a STARTTLS\r\nb NOOP\r\n")
        self.assertRegex(self.line(sock), r"^a OK \S")
        tls = tls_client_context().wrap_socket(sock)
        tls.sendall(b"c CAPABILITY\r\n")
        data = b""
        while b"\r\nc " not in b"\r\n" + data or not data.endswith(b"\r\n"):
            data += tls.recv(65536)
        lines = data.decode().split("\r\n")
        self.assertFalse(any(x.startswith("b ") for x in lines), lines)
        cap = [x for x in lines if x.startswith("* CAPABILITY ")]
        self.assertEqual(len(cap), 1, lines)
        # After TLS: no STARTTLS, no LOGINDISABLED (RFC 9051 §6.2.1).
        self.assertNotIn("STARTTLS", cap[0].split())
        self.assertNotIn("LOGINDISABLED", cap[0].split())
        tls.close()


# ---------------------------------------------------------------------------------------
# Any-state and authentication commands: CAPABILITY, ID (RFC 2971), ENABLE (RFC 5161),
# NAMESPACE (RFC 2342), AUTHENTICATE with SASL-IR (RFC 9051 §6.2.2, RFC 4959).

class Session(Base):
    def test_capability(self):
        c = self.conn(login=False)
        # RFC 9051 §7.1: the greeting may carry the CAPABILITY response code.
        self.assertRegex(c.greeting, r"^\* OK (\[CAPABILITY [^\]]+\] )?\S")
        u = c.ok("c", "CAPABILITY")
        self.assertEqual(len(u), 1)
        caps = u[0].split()[2:]
        for need in ("IMAP4rev1", "IMAP4rev2", "AUTH=PLAIN", "SASL-IR", "ENABLE", "IDLE",
                     "UIDPLUS", "MOVE", "LITERAL+"):
            self.assertIn(need, caps)
        # On TLS: no STARTTLS and no LOGINDISABLED (RFC 9051 §6.2.1, §6.2.3).
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)

    def test_authenticate_plain(self):
        import base64
        ir = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
        c = self.conn(login=False)
        _, t = c.cmd("a1", f"AUTHENTICATE PLAIN {ir}")  # SASL-IR, RFC 4959 §3
        self.assertStatus(t, "a1", "OK")
        c2 = self.conn(login=False)
        c2.send(b"a2 AUTHENTICATE PLAIN\r\n")
        self.assertTrue(c2.response().startswith("+"))
        c2.send(ir.encode() + b"\r\n")
        _, t = c2.until("a2")
        self.assertStatus(t, "a2", "OK")
        c3 = self.conn(login=False)
        c3.send(b"a3 AUTHENTICATE PLAIN\r\n")
        self.assertTrue(c3.response().startswith("+"))
        c3.send(b"*\r\n")  # RFC 9051 §6.2.2: "*" cancels with BAD
        _, t = c3.until("a3")
        self.assertStatus(t, "a3", "BAD")
        _, t = c3.cmd("a4", "AUTHENTICATE PLAIN not!base64")
        self.assertStatus(t, "a4", "BAD")
        _, t = c3.cmd("a5", "AUTHENTICATE X-NO-SUCH-MECH")
        self.assertStatus(t, "a5", "NO")
        self.assertAlive(c3)

    def test_id(self):
        c = self.conn(login=False)
        for i, arg in enumerate(["NIL", "()", '("name" "conformance" "version" NIL)']):
            u = c.ok(f"i{i}", f"ID {arg}")
            self.assertEqual(len(u), 1)
            # RFC 2971 §3.2: "* ID" followed by a parenthesised list of string pairs or NIL.
            self.assertRegex(u[0], r'^\* ID (NIL|\(("[^"]*" ("[^"]*"|NIL) ?)+\))$')
        pairs = " ".join(f'"k{i}" "v"' for i in range(31))  # RFC 2971 §3.3: at most 30
        for i, bad in enumerate([pairs.join("()"), '("name")', "", '("name" "x"']):
            _, t = c.cmd(f"b{i}", f"ID {bad}".rstrip())
            self.assertStatus(t, f"b{i}", "BAD")

    def test_enable(self):
        c = self.conn()
        # RFC 5161 §3.1: unknown capabilities are ignored; ENABLED lists what was enabled.
        self.assertEqual(c.ok("e1", "ENABLE X-UNKNOWN"), ["* ENABLED"])
        u = c.ok("e2", "ENABLE CONDSTORE X-UNKNOWN")
        self.assertEqual([x.upper() for x in u], ["* ENABLED CONDSTORE"])
        _, t = c.cmd("e3", "ENABLE")
        self.assertStatus(t, "e3", "BAD")

    def test_namespace(self):
        c = self.conn()
        u = c.ok("n", "NAMESPACE")
        # RFC 2342 §5 / RFC 9051 §7.3.3: three namespace lists, each NIL or
        # "(" 1*( "(" string SP (DQUOTE QUOTED-CHAR DQUOTE / nil) ")" ) ")".
        ns = r'(NIL|\((\("[^"]*" ("."|NIL)\))+\))'
        self.assertEqual(len(u), 1)
        self.assertRegex(u[0], rf"^\* NAMESPACE {ns} {ns} {ns}$")


# ---------------------------------------------------------------------------------------
# SORT and THREAD (RFC 5256), ESORT (RFC 5267).

class SortThread(Base):
    @classmethod
    def setUpClass(cls):
        c = Conn()
        cls.box = new_box(c, "Sort", [message("b", "22\r\n"), message("Re: a", "1\r\n"),
                                      message("c", "333\r\n")])
        c.close()

    def test_sort(self):
        c = self.conn()
        c.ok("s", f"EXAMINE {self.box}")
        # RFC 5256 §2.1: SUBJECT sorts by base subject ("Re: a" -> "a").
        self.assertEqual(c.ok("a", "SORT (SUBJECT) UTF-8 ALL"), ["* SORT 2 1 3"])
        self.assertEqual(c.ok("b", "SORT (REVERSE SUBJECT) UTF-8 ALL"), ["* SORT 3 1 2"])
        # Sizes: the subjects and bodies make message 1 the smallest, then 3, then 2.
        self.assertEqual(c.ok("c", "UID SORT (SIZE) UTF-8 ALL"), ["* SORT 1 3 2"])
        self.assertEqual(c.ok("d", "SORT (SUBJECT) UTF-8 SUBJECT nothing"), ["* SORT"])
        self.assertEqual(c.ok("e", "SORT RETURN (COUNT ALL) (SIZE) UTF-8 ALL"),
                         ['* ESEARCH (TAG "e") COUNT 3 ALL 1,3,2'])
        for i, bad in enumerate(["() UTF-8 ALL", "(BOGUS) UTF-8 ALL", "(SUBJECT) ALL",
                                 "SUBJECT UTF-8 ALL", "(REVERSE) UTF-8 ALL"]):
            _, t = c.cmd(f"x{i}", f"SORT {bad}")
            self.assertStatus(t, f"x{i}", "BAD")
        _, t = c.cmd("y", "SORT (SUBJECT) X-NO-SUCH-CHARSET ALL")
        self.assertRegex(t, r"^y NO \[BADCHARSET( \([^)]*\))?\] \S")

    def test_thread(self):
        c = self.conn()
        c.ok("s", f"EXAMINE {self.box}")
        u = c.ok("a", "THREAD ORDEREDSUBJECT UTF-8 ALL")
        self.assertEqual(len(u), 1)
        # RFC 5256 §4: thread-data = "THREAD" [SP 1*thread-list]
        self.assertRegex(u[0], r"^\* THREAD( (\((\d+|\()[\d ()]*\))+)?$")
        self.assertEqual(sorted(int(x) for x in re.findall(r"\d+", u[0])), [1, 2, 3])
        u = c.ok("b", "THREAD REFERENCES UTF-8 SUBJECT nothing")
        self.assertEqual(u, ["* THREAD"])
        _, t = c.cmd("c", "THREAD X-BOGUS UTF-8 ALL")
        self.assertIn(tagged_status(t, "c"), ("BAD", "NO"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
