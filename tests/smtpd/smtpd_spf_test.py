#!/usr/bin/python3
"""tests/smtpd/smtpd_spf_test.py: the real tsubame-smtpd checks SPF (RFC 7208) against a real
DNS server and the filter judges by the result (smtpd/spf/README.md, filter/README.md
"Sender authentication (SPF)").

A Debian dnsmasq on a loopback port serves the test zone's TXT, A and MX records; the
installation's smtpd.dns_server points at it and smtpd.spf_skip_networks is emptied, so that
mail from 127.0.0.1 is checked (by default loopback clients are not). Each test sends one
transaction with smtplib to the MX port and reads the stored copy back (smtpd_fixture dump):
- a domain whose record lists 127.0.0.1 passes (also through include: and a:), and the
  stored message carries "Received-SPF: pass" with the client and envelope;
- "-all" without us: fail, SPF_FAIL and SPF_FAIL_FROM_DOMAIN in the verdict; plain text stays
  in INBOX (forwarding breaks SPF for honest mail), a phishing lure goes to Junk; a forged
  envelope of another domain than the From's gets SPF_FAIL only;
- "~all": softfail; no record: none; a broken record: permerror;
- a bounce (null reverse-path) is checked by its HELO name;
- an SPF pass for the partner's domain lets the correspondent memory take 4 points where 2
  leave the partner's order in Junk;
- authenticated submissions are never checked (no Received-SPF);
- the mail log names the result and the domain, never the message.
A second installation with the default configuration shows loopback clients are skipped.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpd_domain_security_test import (Installation, password_for,  # noqa: E402
                                        well_formed_message)
import smtplib  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import free_port, tls_client_context  # noqa: E402

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

# The test zone (RFC 2606 .test names). 127.0.0.1 is the client every test connects from.
TXT = {
    "pass.test": "v=spf1 ip4:127.0.0.1 -all",
    "fail.test": "v=spf1 ip4:192.0.2.1 -all",
    "mail.fail.test": "v=spf1 ip4:192.0.2.1 -all",
    "soft.test": "v=spf1 ip4:192.0.2.1 ~all",
    "inc.test": "v=spf1 include:_spf.outsourced.test -all",
    "_spf.outsourced.test": "v=spf1 a:out.outsourced.test mx -all",
    "broken.test": "v=spf1 ip4:300.1.1.1 -all",
    "helo-fail.test": "v=spf1 -all",
    "customer.test": "v=spf1 ip4:127.0.0.0/8 -all",
}
HOSTS = {"out.outsourced.test": "127.0.0.1"}


def start_dnsmasq(tmp):
    """dnsmasq on a free loopback port serving TXT and HOSTS; returns (process, port)."""
    conf = os.path.join(tmp, "dnsmasq.conf")
    with open(conf, "w") as f:
        for name, text in TXT.items():
            f.write(f'txt-record={name},"{text}"\n')
        for name, addr in HOSTS.items():
            f.write(f"host-record={name},{addr}\n")
    for _ in range(5):
        port = free_port()
        log = open(os.path.join(tmp, "dnsmasq.log"), "w")
        # --local=/test/: names under .test are answered from this data only (NXDOMAIN for
        # the rest), as an authoritative server would.
        proc = subprocess.Popen([DNSMASQ, "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1",
                                 "--bind-interfaces", "--no-resolv", "--no-hosts", "--local=/test/",
                                 f"--conf-file={conf}", "--pid-file=", "--log-facility=-"],
                                stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if dns_answers(port):
                return proc, port
            time.sleep(0.1)
        proc.kill()
        proc.wait()
    raise RuntimeError("dnsmasq did not start; see " + tmp)


def dns_answers(port):
    """Whether a DNS server on 127.0.0.1:port answers a TXT query for pass.test."""
    query = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x04pass\x04test\x00"
             + b"\x00\x10\x00\x01")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(query, ("127.0.0.1", port))
            data, _ = s.recvfrom(512)
        except OSError:
            return False
    return data[:2] == b"\x12\x34" and b"v=spf1" in data


def header(msg, name):
    """The first field `name` of a stored message (bytes), unfolded, or None."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(name.lower() + ":"):
            value = line[len(name) + 1:]
            for cont in lines[i + 1:]:
                if not cont[:1] in (" ", "\t"):
                    break
                value += cont
            return value.strip()
    return None


PHISH = ("Your account has been suspended. Please verify your account and password within 24 hours "
         "or it will be closed")


@unittest.skipUnless(os.path.exists(DNSMASQ), "dnsmasq (Debian dnsmasq-base) is not installed")
class SmtpdSpf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Installation("tsubame-spf-smtpd-")
        try:
            cls.dns, cls.dns_port = start_dnsmasq(cls.inst.tmp)
            cls.inst.settings.update({"spf_skip_networks": "", "dns_server": f"127.0.0.1:{cls.dns_port}",
                                      "spf_timeout": "10s"})
            cls.inst.write_config()
            cls.inst.start(["tsubame-smtpd"])
        except Exception:
            cls.inst.close()
            raise
        (cls.user,) = cls.inst.domain_users("spf-a.test")

    @classmethod
    def tearDownClass(cls):
        cls.inst.close()
        if getattr(cls, "dns", None):
            cls.dns.kill()
            cls.dns.wait()

    def send(self, msg, mail_from, helo="client.example.org", recipient=None):
        """One transaction to the MX port; returns (code, text) of the final reply."""
        s = smtplib.SMTP("127.0.0.1", self.inst.ports["listen_mx"], local_hostname=helo, timeout=60)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertEqual(s.mail(mail_from)[0], 250)
        self.assertEqual(s.rcpt(recipient or self.user)[0], 250)
        code, text = s.data(msg.encode())
        return code, text.decode()

    def submit(self, recipient, msg):
        """Sends msg as the test user, authenticated on the submission port (STARTTLS)."""
        s = smtplib.SMTP("127.0.0.1", self.inst.ports["listen_submission"], local_hostname="client.example.org",
                         timeout=30)
        self.addCleanup(s.close)
        s.starttls(context=tls_client_context())
        s.ehlo()
        s.login(self.user, password_for(self.user))
        s.sendmail(self.user, [recipient], msg)

    def stored(self, tag, mailbox):
        """The one stored copy in `mailbox` whose Message-ID is <tag@example.org>, or None."""
        for m in self.inst.mailbox(self.user, mailbox):
            if f"<{tag}@example.org>".encode() in m:
                return m
        return None

    def deliver(self, tag, mail_from, sender, body="The minutes of Tuesday are attached", helo="client.example.org"):
        code, text = self.send(well_formed_message(tag, self.user, f"Minutes {tag}", body, sender=sender),
                               mail_from, helo=helo)
        self.assertEqual(code, 250, text)
        inbox, junk = self.stored(tag, "INBOX"), self.stored(tag, "Junk")
        self.assertTrue((inbox is None) != (junk is None), f"{tag}: stored once")
        return ("INBOX", inbox) if inbox is not None else ("Junk", junk)

    def test_pass_is_recorded_in_received_spf(self):
        box, m = self.deliver("pass-1", "alice@pass.test", "Alice <alice@pass.test>")
        self.assertEqual(box, "INBOX")
        spf = header(m, "Received-SPF")
        self.assertIsNotNone(spf, m[:400])
        self.assertTrue(spf.startswith("pass "), spf)
        for part in ('client-ip="127.0.0.1"', 'envelope-from="alice@pass.test"', "identity=mailfrom",
                     'mechanism="ip4:127.0.0.1"'):
            self.assertIn(part, spf)
        # Received-SPF sits in the trace block above our own Received line (RFC 7208 section 9.1).
        head = m.split(b"\r\n\r\n", 1)[0]
        self.assertLess(head.index(b"Received-SPF:"), head.index(b"Received: from"))

    def test_include_and_a_mechanisms_pass(self):
        box, m = self.deliver("inc-1", "news@inc.test", "News <news@inc.test>")
        self.assertEqual(box, "INBOX")
        self.assertTrue(header(m, "Received-SPF").startswith("pass "), header(m, "Received-SPF"))

    def test_fail_scores_and_a_lure_on_a_forged_from_goes_to_junk(self):
        box, m = self.deliver("fail-1", "alice@fail.test", "Alice <alice@fail.test>")
        self.assertTrue(header(m, "Received-SPF").startswith("fail "), header(m, "Received-SPF"))
        self.assertEqual(box, "INBOX", "a fail alone is not Junk: forwarding breaks SPF for honest mail")
        box, m = self.deliver("fail-2", "alice@mail.fail.test", "Bank <alerts@fail.test>", body=PHISH)
        self.assertEqual(box, "Junk")
        rules = header(m, "X-Tsubame-Rules")
        self.assertIn("SPF_FAIL", rules)
        self.assertIn("SPF_FAIL_FROM_DOMAIN", rules)
        # The same lure with SPF passing its own domain: no SPF rule.
        box, m = self.deliver("fail-3", "alerts@pass.test", "Bank <alerts@pass.test>", body=PHISH)
        self.assertNotIn("SPF_", header(m, "X-Tsubame-Rules") or "")
        # An envelope of another domain than the From's failed: the From is not shown forged.
        path = os.path.join(self.inst.tmp, "fail-4.eml")
        with open(path, "w") as f:
            f.write(well_formed_message("fail-4", self.user, "Minutes", "The minutes", sender="Alice <alice@pass.test>"))
        ids = [c["id"] for c in json.loads(self.inst.cli("filter", "scan", "--json", "--mail-from", "x@fail.test",
                                                         "--spf", "fail", path).stdout)["contributions"]]
        self.assertIn("SPF_FAIL", ids)
        self.assertNotIn("SPF_FAIL_FROM_DOMAIN", ids)
        bad = self.inst.cli("filter", "scan", "--spf", "maybe", path, check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("--spf", bad.stderr)

    def test_softfail_none_and_permerror(self):
        for tag, mail_from, want in (("soft-1", "bob@soft.test", "softfail"),
                                     ("none-1", "bob@norecord.test", "none"),
                                     ("perm-1", "bob@broken.test", "permerror")):
            box, m = self.deliver(tag, mail_from, f"Bob <{mail_from}>")
            spf = header(m, "Received-SPF")
            self.assertTrue(spf.startswith(want + " "), f"{tag}: {spf}")
        _, m = self.deliver("soft-2", "bob@soft.test", "Bob <bob@soft.test>", body=PHISH)
        self.assertIn("SPF_SOFTFAIL", header(m, "X-Tsubame-Rules") or "")

    def test_bounce_is_checked_by_its_helo_name(self):
        box, m = self.deliver("bounce-1", "", "Mail Delivery System <mailer-daemon@helo-fail.test>",
                              helo="helo-fail.test")
        spf = header(m, "Received-SPF")
        self.assertTrue(spf.startswith("fail "), spf)
        self.assertIn("identity=helo", spf)

    def test_spf_pass_lets_the_correspondent_memory_take_four_points(self):
        writer = self.user
        partner = "buyer@customer.test"
        self.submit(partner, well_formed_message("quote-1", partner, "Quote", "Our quote", sender=f"Kim <{writer}>"))
        deadline = time.monotonic() + 30
        while not json.loads(self.inst.cli("trace", "--sender", writer, "--json").stdout):
            self.assertLess(time.monotonic(), deadline, "no trace record of the submission")
            time.sleep(0.1)
        self.inst.security_set("spf-a.test", "junk_threshold", "2")
        order = "We would like to order the desks.\r\nTo be removed from our list reply with remove in the subject"
        # customer.test lists 127.0.0.0/8: pass, and the memory takes 4 points.
        box, m = self.deliver("order-1", partner, f"Buyer <{partner}>", body=order)
        self.assertTrue(header(m, "Received-SPF").startswith("pass "))
        self.assertEqual(box, "INBOX", header(m, "X-Tsubame-Rules"))
        path = os.path.join(self.inst.tmp, "order.eml")
        with open(path, "w") as f:
            f.write(well_formed_message("order-2", writer, "Minutes", order, sender=f"Buyer <{partner}>"))
        verdict = lambda *extra: json.loads(self.inst.cli(  # noqa: E731
            "filter", "scan", "--json", "--domain", "spf-a.test", "--mail-from", partner, *extra, path).stdout)
        points = lambda v: [c["score"] for c in v["contributions"] if c["id"] == "CORRESPONDENT_KNOWN"]  # noqa: E731
        self.assertEqual(points(verdict("--spf", "pass")), [-4.0])
        self.assertEqual(points(verdict()), [-2.0])
        self.assertEqual(points(verdict("--spf", "fail")), [])
        self.inst.security_set("spf-a.test", "junk_threshold", "5")

    def test_submissions_are_not_checked_and_the_log_names_no_message(self):
        writer = self.user
        self.submit(writer, well_formed_message("self-1", writer, "Note to self", "Remember the desks",
                                                sender=f"Kim <{writer}>"))
        deadline = time.monotonic() + 30
        while self.stored("self-1", "INBOX") is None:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertIsNone(header(self.stored("self-1", "INBOX"), "Received-SPF"))
        self.deliver("log-1", "alice@fail.test", "Alice <alice@fail.test>", body="Secret words in the body")
        # The mail log and the daemon's own log: the result and domain, never the body.
        text = ""
        for path in [os.path.join(self.inst.dir, "log", "mail.log"), *self.inst.log_paths.values()]:
            with open(path, errors="replace") as f:
                text += f.read()
        self.assertRegex(text, r"spf=fail domain=fail\.test")
        self.assertNotIn("Secret words", text)


class SmtpdSpfSkipsLoopback(unittest.TestCase):
    """The default configuration: loopback clients (local relays, content filters) are not
    checked, so mail from 127.0.0.1 carries no Received-SPF."""

    def test_default_skips_loopback(self):
        inst = Installation("tsubame-spf-default-")
        self.addCleanup(inst.close)
        inst.start(["tsubame-smtpd"])
        (user,) = inst.domain_users("spf-b.test")
        s = smtplib.SMTP("127.0.0.1", inst.ports["listen_mx"], local_hostname="client.example.org", timeout=60)
        self.addCleanup(s.close)
        s.sendmail("alice@fail.test", [user], well_formed_message("skip-1", user, "Minutes", "The minutes",
                                                                  sender="Alice <alice@fail.test>"))
        (m,) = inst.mailbox(user, "INBOX")
        self.assertIsNone(header(m, "Received-SPF"))
        self.assertNotIn(b"SPF_", m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
