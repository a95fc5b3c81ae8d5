#!/usr/bin/python3
"""tests/imapd/imapd_webhook_test.py: "account.locked" from the real tsubame-imapd (issue 6 §4).

One `tsubame init` installation with httpd.webhook_urls pointing at a local Python HTTP
receiver (tests/smtpd/smtpd_webhook_test.py's Receiver and Installation) and a lockout
threshold of security.lockout_failures; the real tsubame-imapd runs on free loopback ports.
Failed IMAP LOGINs up to the threshold lock the account: exactly one signed "account.locked"
event arrives (HMAC-SHA256 over "<timestamp>.<body>", common/webhook.h), naming the user and
protocol "imap", and none before the threshold.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import imaplib
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "smtpd"))
from smtpd_webhook_test import (LOCKOUT_FAILURES, Installation, Receiver,  # noqa: E402
                                expected_signature)


class ImapdWebhook(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.inst = Installation("tsubame-imapd-hooks-", cls.receiver.port)
        cls.victim, cls.victim_password = "imaplock@tsubame.test", "Quiet river 2026 imap"
        try:
            cls.inst.add_user(cls.victim, cls.victim_password)
            cls.inst.start("tsubame-imapd", (cls.inst.ports["listen_imap"],))
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.close()
        cls.receiver.close()

    def login(self, password):
        m = imaplib.IMAP4("127.0.0.1", self.inst.ports["listen_imap"], timeout=30)
        try:
            m.login(self.victim, password)
            return True
        except imaplib.IMAP4.error:
            return False
        finally:
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError, EOFError):
                pass

    def test_login_failures_up_to_the_threshold_publish_account_locked(self):
        for attempt in range(LOCKOUT_FAILURES):
            self.assertEqual(self.receiver.of_type("account.locked"), [], attempt)
            self.assertFalse(self.login("not the password %d" % attempt))
        events = self.receiver.wait_for("account.locked")
        self.assertEqual(len(events), 1)
        headers, body = events[0]
        self.assertEqual(headers["x-tsubame-signature"],
                         expected_signature(self.inst.secret, headers, body))
        event = json.loads(body)
        self.assertEqual(event["type"], "account.locked")
        self.assertEqual(event["source"], "imapd")
        data = event["data"]
        self.assertEqual(data["user"], self.victim)
        self.assertEqual(data["protocol"], "imap")
        self.assertEqual(data["failures"], LOCKOUT_FAILURES)
        self.assertEqual(data["source_ip"], "127.0.0.1")
        self.assertNotIn(b"not the password", body)
        # Locked: the right password is refused too, and the refusal sends no second event.
        self.assertFalse(self.login(self.victim_password))
        time.sleep(1)  # give a wrongly published second event the chance to arrive
        self.assertEqual(len(self.receiver.of_type("account.locked")), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
