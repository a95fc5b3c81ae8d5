#!/usr/bin/python3
"""tests/imapd/imapd_smtpd_idle_test.py: imapd and smtpd over one store. IDLE woken by a real
smtpd delivery (issue 5 §4, §7), and a copy that a mail program appends to Sent teaching
smtpd's filter who the user wrote to (filter/README.md "Correspondent memory").

One `tsubame init` installation; the real tsubame-smtpd and tsubame-imapd run on free
loopback ports over it. An IMAPS session IDLEs on INBOX, smtplib sends a message to the demo
user through smtpd's MX listener, and the untagged EXISTS must arrive within one second of
smtpd's final 250 (issue 5: "a session in IDLE learns of mail that smtpd delivered within
one second"). smtpd's datagram on general.run_dir/imapd.notify wakes the session at once;
the 1 s MODSEQ poll is only the fallback.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import imaplib
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from imapd_integration_test import Raw, free_port  # noqa: E402
from tsubame_test import start_daemon, stop_daemon  # noqa: E402

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))


# Shared helpers (tests/tsubame_test.py): a daemon counts as started on its own "ready" line
# while alive, not on a port that answers (it may be another test's daemon).
start = start_daemon
stop = stop_daemon


class ImapdSmtpdIdle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tsubame-idle-")
        cls.dir = os.path.join(cls.tmp, "inst")
        out = subprocess.run([os.path.join(BIN, "tsubame"), "init", cls.dir, "--json"],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out.strip().splitlines()[-1])
        cls.user, cls.password = info["user"], info["password"]
        conf = os.path.join(cls.dir, "tsubame.conf")
        with open(conf) as f:
            template = f.read()
        cls.procs, cls.logs = [], []
        # Ports are probed free, but another test may take one before our daemon binds it:
        # then that daemon exits and we try again with fresh ports.
        for attempt in range(5):
            cls.mx, cls.sub, cls.subs = free_port(), free_port(), free_port()
            cls.imap, cls.imaps = free_port(), free_port()
            text = template
            ports = {"listen_mx": cls.mx, "listen_submission": cls.sub,
                     "listen_submissions": cls.subs, "listen_imap": cls.imap,
                     "listen_imaps": cls.imaps}
            for key, port in ports.items():
                text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = 127.0.0.1:{port}", text)
                assert n == 1, key
            with open(conf, "w") as f:
                f.write(text)
            cls.tearDownProcs()
            cls.logs = [open(os.path.join(cls.tmp, f"{n}.{attempt}.log"), "w") for n in ("imapd", "smtpd")]
            try:
                for name, ports_, log in (("tsubame-imapd", (cls.imap, cls.imaps), cls.logs[0]),
                                          ("tsubame-smtpd", (cls.mx,), cls.logs[1])):
                    p = start(name, conf, ports_, log)
                    if p is None:
                        break
                    cls.procs.append(p)
                else:
                    return
            except Exception:
                cls.tearDownClass()
                raise
        cls.tearDownClass()
        raise RuntimeError("daemons did not start after 5 port choices; see " + cls.tmp)

    @classmethod
    def tearDownProcs(cls):
        for p in cls.procs:
            stop(p)
        cls.procs = []
        for f in cls.logs:
            f.close()
        cls.logs = []

    @classmethod
    def tearDownClass(cls):
        cls.tearDownProcs()
        if os.environ.get("TSUBAME_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_idle_sees_smtpd_delivery_within_one_second(self):
        # imapd listens for smtpd's notifications in the installation's run_dir.
        self.assertTrue(os.path.exists(os.path.join(self.dir, "run", "imapd.notify")))
        r = Raw(self.imaps, tls=True)
        self.addCleanup(r.close)
        _, ok = r.cmd("L", f'LOGIN "{self.user}" "{self.password}"')
        self.assertTrue(ok.startswith("L OK"), ok)
        lines, ok = r.cmd("s", "SELECT INBOX")
        self.assertTrue(ok.startswith("s OK"), ok)
        n = int(next(l.split()[1] for l in lines if l.endswith(" EXISTS")))
        r.send("i IDLE\r\n")
        self.assertEqual(r.line(), "+ idling")

        msg = (f"From: Bob <bob@example.org>\r\nTo: <{self.user}>\r\n"
               "Subject: Lunch on Friday\r\n"
               "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
               "Message-ID: <idle-test-1@example.org>\r\n\r\n"
               "Shall we meet at noon by the station?\r\n")
        with smtplib.SMTP("127.0.0.1", self.mx, local_hostname="client.example.org",
                          timeout=30) as s:
            refused = s.sendmail("bob@example.org", [self.user], msg)
            self.assertEqual(refused, {})
            accepted = time.monotonic()  # the final 250: the message is durably stored
        # Raw's socket timeout (10 s) bounds the wait if nothing comes at all.
        self.assertEqual(r.line(), f"* {n + 1} EXISTS")
        waited = time.monotonic() - accepted
        print(f"EXISTS {waited * 1000:.1f} ms after smtpd's 250", file=sys.stderr)
        self.assertLess(waited, 1.0, f"EXISTS came {waited:.3f} s after the delivery")
        r.send("DONE\r\n")
        _, t = r.until("i")
        self.assertEqual(t, "i OK IDLE terminated")
        lines, t = r.cmd("f", f"FETCH {n + 1} BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        self.assertTrue(t.startswith("f OK"), t)
        self.assertIn("Subject: Lunch on Friday", "\n".join(lines))

    def test_a_copy_appended_to_sent_makes_its_recipients_known(self):
        domain = self.user.split("@", 1)[1]
        security_set = lambda value: subprocess.run(
            [os.path.join(BIN, "tsubame"), "--config", os.path.join(self.dir, "tsubame.conf"),
             "security", "set", domain, "junk_threshold", value], check=True, capture_output=True)
        security_set("2")  # the removal line alone files the order in Junk
        self.addCleanup(security_set, "5")
        # The user's mail program sent an offer through some other server and files its copy.
        copy = (f"From: <{self.user}>\r\nTo: Partner <Partner@Customer.example>\r\n"
                "Subject: Offer 12\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                "Message-ID: <offer-12@sent.example>\r\n\r\nOur offer for the desks.\r\n")
        c = imaplib.IMAP4("127.0.0.1", self.imap)
        self.addCleanup(c.logout)
        c.starttls(ssl_context=ssl._create_unverified_context())  # the installation's self-signed certificate
        c.login(self.user, self.password)
        typ, data = c.append("Sent", r"(\Seen)", None, copy.encode())
        self.assertEqual(typ, "OK", data)

        def send(tag, from_addr, mail_from, threading=""):
            msg = (f"From: <{from_addr}>\r\nTo: <{self.user}>\r\nSubject: Order {tag}\r\n"
                   f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
                   f"Message-ID: <{tag}@customer.example>\r\nMIME-Version: 1.0\r\n{threading}"
                   "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
                   "We would like to order the desks.\r\n"
                   "To be removed from our list reply with remove in the subject.\r\n")
            with smtplib.SMTP("127.0.0.1", self.mx, local_hostname="client.example.org", timeout=30) as s:
                self.assertEqual(s.sendmail(mail_from, [self.user], msg), {})

        def where(tag):
            for box in ("INBOX", "Junk"):
                typ, _ = c.select(box, readonly=True)
                self.assertEqual(typ, "OK", box)
                typ, data = c.search(None, "HEADER", "Message-ID", f"{tag}@customer.example")
                if data[0].split():
                    return box
            return None

        send("order-1", "partner@customer.example", "partner@customer.example")
        send("order-2", "colleague@customer.example", "colleague@customer.example")
        send("order-3", "buyer@elsewhere.example", "buyer@elsewhere.example", "In-Reply-To: <offer-12@sent.example>\r\n")
        self.assertEqual(where("order-1"), "INBOX", "the partner the copy was sent to")
        self.assertEqual(where("order-2"), "Junk", "nobody here wrote to the colleague")
        self.assertEqual(where("order-3"), "INBOX", "a reply to the copy's Message-ID")



if __name__ == "__main__":
    unittest.main(verbosity=2)
