#!/usr/bin/python3
"""tests/imapd/imapd_domain_security_test.py: per-domain authentication settings take effect
in the real tsubame-imapd (issue 6: `tsubame security set DOMAIN KEY VALUE`).

One `tsubame init` installation whose config allows plaintext login on loopback (so that only
the domain setting decides); tsubame-imapd and tsubame-smtpd run over it (the lockout record
is shared through the store). Each test adds its own domains and users with the real CLI and
changes settings with the real CLI while the daemons run (read at each login, no restart):
- tls_required: LOGIN in clear works for a domain with "no"; a domain with "yes" (the
  default) gets NO [PRIVACYREQUIRED] (RFC 5530), for LOGIN and AUTHENTICATE PLAIN alike, also
  for a login that does not exist (no user oracle); over IMAPS it works; the refusal is in
  the login history and does not count toward the lockout.
- auth_mechanisms: the LOGIN command is password authentication equivalent to SASL PLAIN
  (imapd/README.md): a domain allowing only the SASL LOGIN mechanism refuses both the LOGIN
  command and AUTHENTICATE PLAIN with NO [AUTHENTICATIONFAILED]; allowing PLAIN accepts them.
- lockout_failures: the domain's threshold (2) locks, another domain keeps the site's (4);
  SMTP AUTH failures lock the IMAP login too.
Reuses tests/smtpd/smtpd_domain_security_test.py's Installation.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import imaplib
import os
import ssl
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "smtpd"))
from smtpd_domain_security_test import (Installation, password_for,  # noqa: E402
                                        tls_client_context)
import smtplib  # noqa: E402
import base64  # noqa: E402


class ImapdDomainSecurity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.inst = Installation("tsubame-domsec-imapd-")
        try:
            cls.inst.start(["tsubame-imapd", "tsubame-smtpd"])
        except Exception:
            cls.inst.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.close()

    def users(self, *domains):
        return self.inst.domain_users(*domains)

    def clear(self):
        m = imaplib.IMAP4("127.0.0.1", self.inst.ports["listen_imap"], timeout=30)
        self.addCleanup(self.logout, m)
        return m

    def imaps(self):
        m = imaplib.IMAP4_SSL("127.0.0.1", self.inst.ports["listen_imaps"],
                              ssl_context=tls_client_context(), timeout=30)
        self.addCleanup(self.logout, m)
        return m

    @staticmethod
    def logout(m):
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError, EOFError, ssl.SSLError):
            pass

    def login_refusal(self, m, user, password):
        """The NO text of a refused LOGIN (fails the test if the login succeeds)."""
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.login(user, password)
        return str(cm.exception)

    def authenticate_refusal(self, m, user, password):
        with self.assertRaises(imaplib.IMAP4.error) as cm:
            m.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
        return str(cm.exception)

    # ---- tls_required ----

    def test_tls_required_decides_plaintext_login_per_domain(self):
        relaxed, strict = self.users("imap-tls-no.test", "imap-tls-yes.test")
        self.inst.security_set("imap-tls-no.test", "tls_required", "no")
        m = self.clear()
        self.assertNotIn("LOGINDISABLED", m.capabilities)  # the site allows clear text
        self.assertEqual(m.login(relaxed, password_for(relaxed))[0], "OK")
        m = self.clear()
        self.assertIn("PRIVACYREQUIRED", self.login_refusal(m, strict, password_for(strict)))
        # Same answer for a login that does not exist there, and for AUTHENTICATE PLAIN.
        self.assertIn("PRIVACYREQUIRED",
                      self.login_refusal(m, "nobody@imap-tls-yes.test", "whatever it is 1"))
        m = self.clear()
        self.assertIn("PRIVACYREQUIRED",
                      self.authenticate_refusal(m, strict, password_for(strict)))
        # Over TLS the same user logs in.
        self.assertEqual(self.imaps().login(strict, password_for(strict))[0], "OK")
        history = self.inst.logins(strict)
        results = [(e["protocol"], e["result"]) for e in history["logins"]]
        self.assertEqual(results[0], ("imap", "success"))
        self.assertIn(("imap", "refused-by-policy"), results)
        self.assertEqual(history["lockout"]["failures"], 0)
        # Changed while the daemon runs: the next login in clear works.
        self.inst.security_set("imap-tls-yes.test", "tls_required", "no")
        self.assertEqual(self.clear().login(strict, password_for(strict))[0], "OK")

    # ---- auth_mechanisms ----

    def test_login_command_counts_as_plain(self):
        (user,) = self.users("imap-mech.test")
        self.inst.security_set("imap-mech.test", "tls_required", "no")
        self.inst.security_set("imap-mech.test", "auth_mechanisms", "LOGIN")
        m = self.clear()
        self.assertIn("AUTH=PLAIN", m.capabilities)  # advertised: what the server implements
        self.assertIn("AUTHENTICATIONFAILED", self.login_refusal(m, user, password_for(user)))
        self.assertIn("AUTHENTICATIONFAILED",
                      self.authenticate_refusal(m, user, password_for(user)))
        self.inst.security_set("imap-mech.test", "auth_mechanisms", "PLAIN")
        self.assertEqual(self.clear().login(user, password_for(user))[0], "OK")
        m = self.clear()
        typ, _ = m.authenticate("PLAIN", lambda _: f"\0{user}\0{password_for(user)}".encode())
        self.assertEqual(typ, "OK")

    # ---- lockout_* ----

    def test_lockout_failures_per_domain(self):
        strict, site = self.users("imap-lock-two.test", "imap-lock-site.test")
        for d in ("imap-lock-two.test", "imap-lock-site.test"):
            self.inst.security_set(d, "tls_required", "no")
        self.inst.security_set("imap-lock-two.test", "lockout_failures", "2")
        for user in (strict, site):
            m = self.clear()  # two failures per connection (imapd closes after three)
            for attempt in range(2):
                self.assertIn("AUTHENTICATIONFAILED",
                              self.login_refusal(m, user, f"wrong password {attempt}"))
        # Locked at 2: the right password is refused like a wrong one.
        self.assertIn("AUTHENTICATIONFAILED",
                      self.login_refusal(self.clear(), strict, password_for(strict)))
        self.assertTrue(self.inst.logins(strict)["lockout"]["locked"])
        # The other domain keeps the site-wide threshold (4).
        self.assertEqual(self.clear().login(site, password_for(site))[0], "OK")

    def test_smtp_failures_lock_the_imap_login_at_the_domain_threshold(self):
        (user,) = self.users("imap-shared.test")
        self.inst.security_set("imap-shared.test", "tls_required", "no")
        self.inst.security_set("imap-shared.test", "lockout_failures", "2")
        s = smtplib.SMTP("127.0.0.1", self.inst.ports["listen_mx"],
                         local_hostname="client.example.org", timeout=30)
        self.addCleanup(s.close)
        s.ehlo()
        for attempt in range(2):
            token = base64.b64encode(f"\0{user}\0wrong {attempt}".encode()).decode()
            self.assertEqual(s.docmd("AUTH", "PLAIN " + token)[0], 535)
        self.assertIn("AUTHENTICATIONFAILED",
                      self.login_refusal(self.clear(), user, password_for(user)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
