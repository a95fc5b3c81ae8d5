"""`tsubame quarantine decide ID spam --add-rule KIND` (issue 6, optional item): a filter rule
derived from a reported message goes into rules_dir/80-reported.rules, the whole rule set is
compiled before anything else changes (else the file is put back and nothing changes), the
addition is audit-logged, and `tsubame filter scan` then fires the rule on a message of the
same campaign only. Reuses test_cli.py's Installation (a `tsubame init` per class) and the
store fixture that files reports the way imapd does.

Run by ctest (tests/tools/CMakeLists.txt) with TSUBAME_BIN pointing at build/bin.
"""
import os
import unittest

import test_cli
from test_cli import SPAM


class QuarantineRuleTest(test_cli.Installation):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = test_cli.run("user", "add", "rhea@tsubame.test", "--password-stdin",
                         stdin="Quiet river 2026\n", config=cls.conf)
        assert r.returncode == 0, r.stderr
        cls.rules_file = os.path.join(cls.dir, "rules", "80-reported.rules")

    def reported(self, text):
        uid = self.deliver("rhea@tsubame.test", text)
        return int(self.fx("report", "rhea@tsubame.test", "INBOX", str(uid), "spam"))

    def rules_text(self):
        if not os.path.exists(self.rules_file):
            return None
        with open(self.rules_file) as f:
            return f.read()

    def hits(self, text):
        path = self.write("rule-scan/%s.eml" % os.urandom(4).hex(), text)
        return [c["id"] for c in self.j("filter", "scan", path)["contributions"]]

    def status_of(self, rid):
        return [r for r in self.j("quarantine", "list") if r["id"] == rid][0]["status"]

    def test_sender_rule_is_added_compiled_audited_and_fires(self):
        rid = self.reported(SPAM.format(to="rhea@tsubame.test", marker="RSENDER"))
        r = self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "sender")
        rule = "REPORTED_SENDER_%d" % rid
        self.assertIn(rule, r.stdout)
        self.assertIn("SIGHUP", r.stdout)  # tells the postmaster how smtpd picks it up
        text = self.rules_text()
        self.assertIn("rule %s\n" % rule, text)
        self.assertIn("  scope    from\n", text)
        self.t("filter", "compile")
        self.assertEqual(self.status_of(rid), "confirmed")
        added = [a for a in self.audit("filter.rule.add") if a["target"] == "report:%d" % rid]
        self.assertEqual(len(added), 1)
        self.assertIn(rule, added[0]["details"])
        # The same sender fires the rule; another sender, or a longer address, does not.
        self.assertIn(rule, self.hits(SPAM.format(to="x@example.org", marker="NEXT")))
        other = SPAM.replace("win@prize.example", "win@prize.example.net")
        self.assertNotIn(rule, self.hits(other.format(to="x@example.org", marker="OTHER")))
        # Repeated: the rule is there already; the file does not change.
        self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "sender")
        self.assertEqual(self.rules_text(), text)
        self.assertEqual(len([a for a in self.audit("filter.rule.add")
                              if a["target"] == "report:%d" % rid]), 1)

    def test_url_host_and_subject_rules(self):
        rid = self.reported(SPAM.format(to="rhea@tsubame.test", marker="RURL"))
        self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "url-host", "--rule-score", "7.5")
        self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "subject")
        url_rule, subject_rule = "REPORTED_URL_HOST_%d" % rid, "REPORTED_SUBJECT_%d" % rid
        self.assertIn("  score    7.50\n", self.rules_text())
        same = self.hits(SPAM.format(to="x@example.org", marker="RURL"))
        self.assertIn(url_rule, same)
        self.assertIn(subject_rule, same)
        other = self.hits(test_cli.HAM.format(to="x@example.org", marker="RURL"))
        self.assertNotIn(url_rule, other)
        self.assertNotIn(subject_rule, other)

    def test_a_rule_set_that_does_not_compile_is_rolled_back(self):
        rid = self.reported(SPAM.format(to="rhea@tsubame.test", marker="RBROKEN"))
        before = self.rules_text()
        bad = os.path.join(self.dir, "rules", "99-broken.rules")
        with open(bad, "w") as f:
            f.write("rule BROKEN_TWO\n  scope    body\n  match    /(unclosed/\n  score    1\n  describe broken\n")
        try:
            r = self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "subject", code=1)
            self.assertIn("99-broken.rules", r.stderr)
            self.assertIn("nothing changed", r.stderr)
        finally:
            os.remove(bad)
        self.assertEqual(self.rules_text(), before)      # the file is as it was (or absent)
        self.assertEqual(self.status_of(rid), "open")    # and the report is not decided
        self.assertFalse([a for a in self.audit("filter.rule.add") if a["target"] == "report:%d" % rid])

    def test_refusals(self):
        rid = self.reported(test_cli.HAM.format(to="rhea@tsubame.test", marker="RREFUSE"))
        before = self.rules_text()
        self.t("quarantine", "decide", str(rid), "ham", "--add-rule", "sender", code=2)
        self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "body", code=2)
        self.t("quarantine", "decide", str(rid), "spam", "--add-rule", "url-host", code=3)  # no links
        self.t("quarantine", "decide", "424242", "spam", "--add-rule", "sender", code=3)
        self.assertEqual(self.rules_text(), before)
        self.assertEqual(self.status_of(rid), "open")


if __name__ == "__main__":
    unittest.main(verbosity=2)
