"""Integration tests of the `tsubame` CLI: the real binary on a real store in a temp dir.

Run by ctest (tests/tools/CMakeLists.txt) with TSUBAME_BIN pointing at build/bin.
"""
import json
import os
import shutil
import stat
import re
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("TSUBAME_BIN", "build/bin")
TSUBAME = os.path.join(BIN, "tsubame")


def run(*args, stdin=None, config=None):
    cmd = [TSUBAME]
    if config:
        cmd += ["--config", config]
    cmd += list(args)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tsubame-cli-")
        cls.dir = os.path.join(cls.tmp, "inst")
        r = run("init", cls.dir, "--hostname", "mx.test.example")
        assert r.returncode == 0, r.stderr
        cls.init_out = r.stdout
        cls.conf = os.path.join(cls.dir, "tsubame.conf")
        # Cheap KDF for the rest of the tests (the schema's minimum memory cost).
        with open(cls.conf) as f:
            text = f.read()
        text = text.replace("kdf_memory = 64M", "kdf_memory = 8K").replace("kdf_passes = 3", "kdf_passes = 1")
        with open(cls.conf, "w") as f:
            f.write(text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_init_makes_a_working_installation(self):
        self.assertIn("demo@tsubame.test", self.init_out)
        self.assertRegex(self.init_out, r"password\s+\S{20}")
        key = os.path.join(self.dir, "master.key")
        self.assertEqual(os.stat(key).st_size, 32)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode) & 0o077, 0, "master key must be private")
        self.assertFalse(key.startswith(os.path.join(self.dir, "data")), "key outside data dir")
        self.assertTrue(os.path.exists(os.path.join(self.dir, "data", "data.mdb")))
        self.assertTrue(os.path.exists(os.path.join(self.dir, "tls", "cert.pem")))
        out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName",
                              "-in", os.path.join(self.dir, "tls", "cert.pem")],
                             capture_output=True, text=True)
        self.assertIn("mx.test.example", out.stdout)
        self.assertIn("localhost", out.stdout)
        r = run("user", "list", "--json", config=self.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("demo@tsubame.test", [u["address"] for u in json.loads(r.stdout)])

    def test_init_refuses_an_existing_installation(self):
        r = run("init", self.dir)
        self.assertEqual(r.returncode, 4)
        self.assertIn("already initialised", r.stderr)

    def test_domain_and_user_lifecycle(self):
        self.assertEqual(run("domain", "add", "Example.COM", config=self.conf).returncode, 0)
        r = run("domain", "list", "--json", config=self.conf)
        self.assertIn("example.com", [d["name"] for d in json.loads(r.stdout)])
        r = run("domain", "add", "example.com", config=self.conf)
        self.assertEqual(r.returncode, 4, r.stderr)
        r = run("user", "add", "alice@example.com", "--password-stdin",
                stdin="correct horse battery\n", config=self.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("user", "add", "alice@EXAMPLE.com", "--password-stdin",
                stdin="correct horse battery\n", config=self.conf)
        self.assertEqual(r.returncode, 4, "duplicate user: " + r.stderr)
        r = run("user", "list", "--domain", "example.com", config=self.conf)
        self.assertEqual(r.stdout.split(), ["alice@example.com"])
        # a domain with users cannot be removed
        r = run("domain", "remove", "example.com", config=self.conf)
        self.assertNotEqual(r.returncode, 0)

    def test_bad_input_gets_clear_errors_and_exit_codes(self):
        r = run("user", "add", "not-an-address", "--password-stdin", stdin="x" * 20 + "\n", config=self.conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("malformed address", r.stderr)
        r = run("user", "add", "bob@nosuch.example", "--password-stdin", stdin="long enough pw\n", config=self.conf)
        self.assertEqual(r.returncode, 3, r.stderr)
        r = run("user", "add", "carol@tsubame.test", "--password-stdin", stdin="short\n", config=self.conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn("too short", r.stderr)
        r = run("user", "add", "carol@tsubame.test", "--password-stdin", stdin="carol-password-1\n", config=self.conf)
        self.assertIn("login name", r.stderr)
        self.assertEqual(run("frobnicate", config=self.conf).returncode, 2)
        self.assertEqual(run("domain", "list", "--bogus", config=self.conf).returncode, 2)
        self.assertEqual(run("domain", "add", "bad_domain!", config=self.conf).returncode, 2)

    def test_bad_config_names_file_line_and_key(self):
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("[smtpd]\nmax_recipients = 10\nmystery = 1\n")
        r = run("config", "check", config=bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("bad.conf:3: smtpd.mystery: unknown key", r.stderr)
        r = run("domain", "list", config=os.path.join(self.tmp, "missing.conf"))
        self.assertEqual(r.returncode, 3)

    def test_wrong_master_key_is_refused(self):
        other = os.path.join(self.tmp, "other.key")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(other, 0o600)
        conf2 = os.path.join(self.tmp, "wrongkey.conf")
        with open(self.conf) as f:
            text = f.read()
        with open(conf2, "w") as f:
            f.write(text.replace("key_file = master.key",
                                 "key_file = " + other).replace("data_dir = data",
                                                                "data_dir = " + os.path.join(self.dir, "data")))
        r = run("domain", "list", config=conf2)
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertIn("wrong master key", r.stderr)

    def test_config_defaults_is_the_shipped_file(self):
        r = run("config", "defaults")
        with open(os.path.join(os.environ.get("TSUBAME_SOURCE_DIR", "."), "conf", "tsubame.conf")) as f:
            self.assertEqual(r.stdout, f.read())


FIXTURE = os.path.join(BIN, "tools_store_fixture")

SPAM = ("From: Prize Office <win@prize.example>\r\nTo: {to}\r\nSubject: You won {marker}\r\n"
        "Date: Sun, 22 Nov 2026 04:00:00 +0000\r\nMessage-ID: <{marker}@prize.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
        "Content-Type: text/plain\r\n\r\nClaim your prize at http://192.0.2.7/claim now {marker}\r\n--BB\r\n"
        "Content-Type: application/octet-stream; name=\"prize.exe\"\r\n"
        "Content-Disposition: attachment; filename=\"prize.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\r\n--BB--\r\n")
SPAM_NO_HEADERS = ("From: win@prize.example\r\nTo: {to}\r\nSubject: verify your password {marker}\r\n\r\n"
                   "Your account is suspended. Log in at http://192.0.2.7/login {marker}\r\n")
HAM = ("From: Alice <alice@example.org>\r\nTo: {to}\r\nSubject: Lunch on Friday {marker}\r\n"
       "Date: Sun, 22 Nov 2026 04:00:00 +0000\r\nMessage-ID: <{marker}@example.org>\r\nMIME-Version: 1.0\r\n"
       "Content-Type: text/plain; charset=utf-8\r\n\r\nHi, shall we meet for lunch on Friday at noon? {marker}\r\n")


class Installation(unittest.TestCase):
    """A fresh `tsubame init` installation per test class, with a cheap KDF."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tsubame-cli-")
        cls.dir = os.path.join(cls.tmp, "inst")
        r = run("init", cls.dir, "--hostname", "mx.test.example", "--json")
        assert r.returncode == 0, r.stderr
        cls.conf = os.path.join(cls.dir, "tsubame.conf")
        with open(cls.conf) as f:
            text = f.read()
        text = text.replace("kdf_memory = 64M", "kdf_memory = 8K").replace("kdf_passes = 3", "kdf_passes = 1")
        with open(cls.conf, "w") as f:
            f.write(text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def t(self, *args, stdin=None, code=0):
        """Runs tsubame with this installation's config and checks the exit code."""
        r = run(*args, stdin=stdin, config=self.conf)
        self.assertEqual(r.returncode, code, "tsubame %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def j(self, *args):
        return json.loads(self.t(*args, "--json").stdout)

    def fx(self, *args):
        r = subprocess.run([FIXTURE, self.conf] + list(args), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="") as f:
            f.write(text)
        return path

    def add_user(self, address, password="Correct horse 42"):
        self.t("user", "add", address, "--password-stdin", "--force", stdin=password + "\n")

    def deliver(self, user, text, mailbox="INBOX"):
        path = self.write("msg-%s.eml" % os.urandom(4).hex(), text)
        box, uid = self.fx("deliver", user, path, mailbox).split()
        return int(uid)

    def audit(self, action):
        return self.j("audit", "show", "--action", action)


class FilterCommandsTest(Installation):
    def test_compile_ok_and_errors_with_file_and_line(self):
        r = self.t("filter", "compile")
        self.assertIn("compile", r.stdout)
        bad = os.path.join(self.dir, "rules", "99-broken.rules")
        with open(bad, "w") as f:
            f.write("rule BROKEN_ONE\n  scope    body\n  match    /(unclosed/\n  score    1\n  describe broken\n")
        try:
            r = self.t("filter", "compile", code=1)
            self.assertIn("99-broken.rules:", r.stderr)
            self.assertRegex(r.stderr, r"99-broken\.rules:\d+: ")
        finally:
            os.remove(bad)
        self.t("filter", "compile")

    def test_scan_prints_verdict_and_every_contribution(self):
        spam = self.write("scan/spam.eml", SPAM_NO_HEADERS.format(to="demo@tsubame.test", marker="S1"))
        ham = self.write("scan/ham.eml", HAM.format(to="demo@tsubame.test", marker="H1"))
        v = self.j("filter", "scan", spam)
        self.assertIn(v["action"], ("junk", "quarantine", "reject"))
        ids = [c["id"] for c in v["contributions"]]
        self.assertIn("URL_IP_LITERAL", ids)
        self.assertIn("BAYES", ids)
        self.assertAlmostEqual(v["score"], sum(c["score"] for c in v["contributions"]), places=6)
        v = self.j("filter", "scan", ham)
        self.assertEqual(v["action"], "deliver")
        both = self.j("filter", "scan", spam, ham)
        self.assertEqual([x["file"] for x in both], [spam, ham])
        text = self.t("filter", "scan", spam).stdout
        self.assertIn("URL_IP_LITERAL", text)
        self.assertIn("action:", text)
        r = self.t("filter", "scan", os.path.join(self.tmp, "nope.eml"), code=3)
        self.assertIn("nope.eml", r.stderr)
        # --explain: the classifier abstains in a fresh installation, so no tokens yet.
        v = json.loads(self.t("filter", "scan", "--explain", "5", "--json", spam).stdout)
        self.assertEqual(v["classifier_tokens"], [])
        self.assertIn("classifier tokens", self.t("filter", "scan", "--explain", "5", spam).stdout)
        self.assertNotIn("classifier_tokens", self.j("filter", "scan", spam))
        # --domain judges with that domain's security settings
        self.t("domain", "add", "lenient.example")
        self.t("security", "set", "lenient.example", "junk_threshold", "100")
        self.t("security", "set", "lenient.example", "reject_threshold", "200")
        self.assertEqual(self.j("filter", "scan", "--domain", "lenient.example", spam)["action"], "deliver")
        self.t("filter", "scan", "--domain", "nosuch.example", spam, code=3)

    def test_scan_domain_with_a_malformed_stored_setting_fails_until_it_is_set_again(self):
        # A value `security set` refuses, stored around it (filter/domain_settings.h): the scan
        # must not judge with strtod's reading of it (0: everything junk) but fail, naming the key.
        spam = self.write("scan-bad/spam.eml", SPAM_NO_HEADERS.format(to="demo@tsubame.test", marker="S2"))
        self.t("domain", "add", "broken.example")
        self.t("security", "set", "broken.example", "junk_threshold", "100")
        self.t("security", "set", "broken.example", "reject_threshold", "200")
        self.assertEqual(self.j("filter", "scan", "--domain", "broken.example", spam)["action"], "deliver")
        self.fx("raw-setting", "broken.example", "junk_threshold", "lots")
        r = self.t("filter", "scan", "--domain", "broken.example", spam, code=6)
        self.assertIn("junk_threshold", r.stderr)
        self.assertEqual(r.stdout, "")
        self.t("filter", "eval", "--domain", "broken.example", "--spam", os.path.dirname(spam),
               "--ham", os.path.dirname(spam), code=6)
        self.fx("raw-setting", "broken.example", "junk_threshold", "100")
        self.assertEqual(self.j("filter", "scan", "--domain", "broken.example", spam)["action"], "deliver")
        self.fx("raw-setting", "broken.example", "blocked_extensions", "e x e")
        r = self.t("filter", "scan", "--domain", "broken.example", spam, code=6)
        self.assertIn("blocked_extensions", r.stderr)
        self.t("security", "set", "broken.example", "blocked_extensions", "default")
        self.assertEqual(self.j("filter", "scan", "--domain", "broken.example", spam)["action"], "deliver")

    def test_learn_trains_the_store_and_is_audited(self):
        d = os.path.join(self.tmp, "learn-spam")
        for i in range(3):
            self.write("learn-spam/%d.eml" % i, SPAM.format(to="demo@tsubame.test", marker="L%d" % i))
        before = [int(x) for x in self.fx("tokens").split()]
        out = self.j("filter", "learn", "--spam", d)
        self.assertEqual(out["learned"], 3)
        after = [int(x) for x in self.fx("tokens").split()]
        self.assertEqual(after[0], before[0] + 3)
        self.assertEqual(after[1], before[1])
        self.assertTrue(any("messages=3" in r["details"] for r in self.audit("filter.learn")))
        self.t("filter", "learn", "--unlearn", "--spam", d)
        self.assertEqual([int(x) for x in self.fx("tokens").split()], before)
        self.t("filter", "learn", d, code=2)                    # neither --spam nor --ham
        self.t("filter", "learn", "--spam", "--ham", d, code=2)  # both
        self.t("filter", "learn", "--spam", os.path.join(self.tmp, "missing"), code=3)

    def test_eval_reports_rates_and_speed(self):
        for i in range(4):
            self.write("eval/spam/%d.eml" % i, SPAM_NO_HEADERS.format(to="x@tsubame.test", marker="E%d" % i))
            self.write("eval/ham/%d.eml" % i, HAM.format(to="x@tsubame.test", marker="E%d" % i))
        self.write("eval/ham/4.eml", HAM.format(to="x@tsubame.test", marker="E4"))
        out = self.j("filter", "eval", "--spam", os.path.join(self.tmp, "eval/spam"),
                     "--ham", os.path.join(self.tmp, "eval/ham"))
        for k in ("false_positive_rate", "false_negative_rate", "accuracy", "messages_per_second",
                  "megabytes_per_second"):
            self.assertIn(k, out)
        self.assertEqual((out["spam"], out["ham"]), (4, 5))
        self.assertAlmostEqual(out["false_positive_rate"], out["ham_flagged"] / 5)
        self.assertAlmostEqual(out["false_negative_rate"], (4 - out["spam_flagged"]) / 4)
        self.assertEqual(out["false_negative_rate"], 0.0)  # every spam has an IP-literal link, no Date/Message-ID
        self.assertEqual(out["false_positive_rate"], 0.0)
        self.assertEqual(out["accuracy"], 1.0)
        self.assertGreater(out["messages_per_second"], 0)
        text = self.t("filter", "eval", "--spam", os.path.join(self.tmp, "eval/spam"),
                      "--ham", os.path.join(self.tmp, "eval/ham")).stdout
        self.assertIn("false positives", text)
        self.assertIn("messages/s", text)
        self.t("filter", "eval", "--spam", os.path.join(self.tmp, "eval/spam"), code=2)  # --ham missing

    def test_eval_folds_drift_set_and_explain(self):
        for i in range(4):
            self.write("folds/spam/%d.eml" % i, SPAM_NO_HEADERS.format(to="x@tsubame.test", marker="F%d" % i))
            self.write("folds/ham/%d.eml" % i, HAM.format(to="x@tsubame.test", marker="F%d" % i))
        args = ["filter", "eval", "--folds", "--spam", os.path.join(self.tmp, "folds/spam"),
                "--ham", os.path.join(self.tmp, "folds/ham"), "--bayes-min-learned", "1"]
        text = self.t(*args, "--fold-set", "drift", "--misses", "5", "--explain", "3").stdout
        self.assertIn("drift fwd", text)
        self.assertIn("drift back", text)
        self.assertNotIn("even -> odd", text)
        self.assertIn("even -> odd", self.t(*args).stdout)  # the standard set by default
        self.assertIn("even -> odd", self.t(*args, "--classifier-alone").stdout)  # the pre-session-7 policy
        err = self.t(*args, "--fold-set", "sideways", code=2).stderr
        self.assertIn("--fold-set", err)
        # Campaign folds: the four spam are one campaign at a low similarity, so one side
        # trains on all of them and the other tests them; and each alone at a high one.
        text = self.t(*args, "--fold-set", "campaign", "--campaign-similarity", "0.05").stdout
        self.assertIn("campaign 1", text)
        self.assertIn("1 spam groups", text)
        self.assertIn("largest 4", text)
        self.assertIn("4 spam groups", self.t(*args, "--fold-set", "campaign", "--campaign-similarity", "1").stdout)
        self.t(*args, "--fold-set", "campaign", "--campaign-similarity", "0", code=2)

    def test_eval_folds_sweep_judges_as_the_folds_do(self):
        """The sweep's row at the config's junk threshold (5) is the folds' own verdict, and
        every row comes from the same re-judging (classifier_needs_rule included) as --match-fp."""
        for i in range(4):
            self.write("sweep/spam/%d.eml" % i, SPAM_NO_HEADERS.format(to="x@tsubame.test", marker="S%d" % i))
            self.write("sweep/ham/%d.eml" % i, HAM.format(to="x@tsubame.test", marker="S%d" % i))
        args = ["filter", "eval", "--folds", "--spam", os.path.join(self.tmp, "sweep/spam"),
                "--ham", os.path.join(self.tmp, "sweep/ham"), "--bayes-min-learned", "1", "--sweep"]
        for extra in ([], ["--classifier-alone"]):
            text = self.t(*args, *extra).stdout
            total = re.search(r"^total\s+(\d+)/\d+\s+(\d+)/\d+", text, re.M)
            self.assertIsNotNone(total, text)
            row = re.search(r"^\s*5\.0((?:\s+\d+/\d+)+)\s+total", text, re.M)
            self.assertIsNotNone(row, text)
            cells = [tuple(map(int, c.split("/"))) for c in row.group(1).split()]
            self.assertEqual(len(cells), 4, text)  # the four standard folds
            self.assertEqual((sum(c[0] for c in cells), sum(c[1] for c in cells)),
                             (int(total.group(1)), int(total.group(2))), text)


class FilterDomainCountsTest(Installation):
    """`filter scan --domain` and `filter eval --domain` judge with the domain's own classifier
    counts once that domain has learned enough (as smtpd does for its recipients), and with the
    global counts without --domain. An installation of its own: the learning below would make
    the classifier speak in the other classes' tests."""

    def test_domain_counts_are_used_with_domain(self):
        self.t("domain", "add", "counts.example")
        for i in range(200):  # Classifier min_learned: 200 of each class
            self.write("dc/spam/%d.eml" % i, SPAM_NO_HEADERS.format(to="x@counts.example", marker="D%d" % i))
            self.write("dc/ham/%d.eml" % i, HAM.format(to="x@counts.example", marker="D%d" % i))
        self.assertEqual(self.j("filter", "learn", "--domain", "counts.example", "--spam",
                                os.path.join(self.tmp, "dc/spam"))["learned"], 200)
        # learn --domain counts in the global scope too, so both scopes hold the same counts here;
        # which one judged is told apart by the classifier's own words in the verdict.
        self.assertEqual(self.j("filter", "learn", "--domain", "counts.example", "--ham",
                                os.path.join(self.tmp, "dc/ham"))["learned"], 200)
        probe = self.write("dc/probe.eml", SPAM_NO_HEADERS.format(to="x@counts.example", marker="P1"))

        def bayes(*extra):
            v = self.j("filter", "scan", *extra, probe)
            return next(c for c in v["contributions"] if c["id"] == "BAYES")

        self.assertIn("domain counts", json.dumps(bayes("--domain", "counts.example")))
        self.assertIn("global counts", json.dumps(bayes()))
        self.assertGreater(bayes("--domain", "counts.example")["score"], 0)
        out = self.j("filter", "eval", "--domain", "counts.example", "--spam", os.path.join(self.tmp, "dc/spam"),
                     "--ham", os.path.join(self.tmp, "dc/ham"))
        self.assertEqual((out["spam_flagged"], out["ham_flagged"]), (200, 0))


class AuditTest(Installation):
    def test_show_filters_and_verify(self):
        self.t("domain", "add", "audit-one.example")
        self.t("domain", "add", "audit-two.example")
        recs = self.audit("domain.add")
        self.assertEqual([r["target"] for r in recs[:2]], ["audit-two.example", "audit-one.example"])
        self.assertTrue(all(r["actor"].startswith("cli:") for r in recs))
        self.assertEqual(self.j("audit", "show", "--target", "audit-one.example")[0]["action"], "domain.add")
        self.assertEqual(self.j("audit", "show", "--since", "2100-01-01"), [])
        self.assertEqual(len(self.j("audit", "show", "--limit", "1")), 1)
        self.t("audit", "show", "--since", "yesterday-ish", code=2)
        v = self.j("audit", "verify")
        self.assertTrue(v["ok"])
        self.assertGreaterEqual(v["records"], 3)
        h = self.j("audit", "head")
        self.assertEqual(len(h["mac"]), 64)

    def test_verify_names_the_first_changed_record(self):
        # A copy of the installation, whose audit record is edited in the raw LMDB file.
        self.t("security", "set", "tsubame.test", "lockout_failures", "7")
        copy = os.path.join(self.tmp, "tampered")
        shutil.copytree(self.dir, copy)
        conf = os.path.join(copy, "tsubame.conf")
        data = os.path.join(copy, "data", "data.mdb")
        with open(data, "rb") as f:
            raw = f.read()
        self.assertGreaterEqual(raw.count(b"security.set"), 1)  # the action is stored in the clear
        seq = [r for r in self.audit("security.set")][0]["seq"]
        with open(data, "wb") as f:
            f.write(raw.replace(b"security.set", b"security.sEt"))
        r = run("audit", "verify", config=conf)
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn("record %d" % seq, r.stderr)
        self.assertEqual(run("audit", "verify", config=self.conf).returncode, 0)


class LoginsAndLockoutTest(Installation):
    def test_history_lockout_and_reset(self):
        self.add_user("erin@tsubame.test")
        self.fx("login", "erin@tsubame.test", "success", "192.0.2.10")
        h = self.j("logins", "erin@tsubame.test")
        self.assertEqual(h["logins"][0]["source_ip"], "192.0.2.10")
        self.assertEqual(h["logins"][0]["result"], "success")
        self.assertEqual(h["logins"][0]["client_id"], "fixture-client/1.0")
        self.assertIn("192.0.2.10", self.t("logins", "erin@tsubame.test").stdout)
        self.assertTrue(self.audit("logins.view"))  # viewing personal data is itself recorded
        out = [self.fx("login", "erin@tsubame.test", "bad-password", "198.51.100.1") for _ in range(5)]
        self.assertEqual(out[-1], "locked")
        self.assertTrue(self.j("user", "show", "erin@tsubame.test")["locked"])
        self.assertTrue(self.j("logins", "erin@tsubame.test")["lockout"]["locked"])
        self.t("lockout", "reset", "erin@tsubame.test")
        self.assertFalse(self.j("user", "show", "erin@tsubame.test")["locked"])
        self.assertTrue(self.audit("account.unlock"))
        self.t("logins", "nobody@tsubame.test", code=3)
        self.t("logins", "not an address", code=2)
        self.t("lockout", "reset", "nobody@tsubame.test", code=3)


class BackupRestoreTest(Installation):
    def test_backup_verify_restore_and_refusals(self):
        f = os.path.join(self.tmp, "b1.tsb")
        self.t("domain", "add", "before.example")
        m = self.j("backup", f)
        self.assertTrue(os.path.exists(f) and os.path.exists(f + ".manifest"))
        self.assertEqual(os.path.getsize(f), m["size"])
        self.assertEqual(self.j("backup", "verify", f)["sha256"], m["sha256"])
        self.t("backup", f, code=4)  # never overwrites
        self.assertTrue(self.audit("store.backup"))

        # truncated: refused, nothing changes
        trunc = os.path.join(self.tmp, "trunc.tsb")
        with open(f, "rb") as src, open(trunc, "wb") as dst:
            dst.write(src.read()[: m["size"] // 2])
        shutil.copy(f + ".manifest", trunc + ".manifest")
        self.t("domain", "add", "after.example")
        r = self.t("backup", "verify", trunc, code=6)
        self.assertIn("trunc.tsb", r.stderr)
        self.t("restore", trunc, code=6)
        names = [d["name"] for d in self.j("domain", "list")]
        self.assertIn("after.example", names)

        # foreign: a backup of another installation (another master key) is refused
        other = os.path.join(self.tmp, "other")
        self.assertEqual(run("init", other).returncode, 0)
        ob = os.path.join(self.tmp, "other.tsb")
        self.assertEqual(run("backup", ob, config=os.path.join(other, "tsubame.conf")).returncode, 0)
        self.t("backup", "verify", ob, code=6)
        self.t("restore", ob, code=6)
        self.assertIn("after.example", [d["name"] for d in self.j("domain", "list")])
        self.t("restore", os.path.join(self.tmp, "missing.tsb"), code=3)

        # a good backup replaces the store: the domain added after it is gone
        out = self.j("restore", f)
        self.assertGreaterEqual(out["users"], 1)
        names = [d["name"] for d in self.j("domain", "list")]
        self.assertIn("before.example", names)
        self.assertNotIn("after.example", names)
        self.assertTrue(self.j("audit", "verify")["ok"])
        self.assertTrue(self.audit("store.restore"))


class TraceStatsQueueTest(Installation):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = run("domain", "add", "other.example", config=cls.conf)
        assert r.returncode == 0, r.stderr

    def test_trace_queries_metadata_only(self):
        fx = self.fx
        fx("trace", "QTRACE1", "in", "delivered", "deliver", "friend@remote.example", "demo@tsubame.test")
        fx("trace", "QTRACE2", "in", "junk", "junk", "spam@bulk.example", "demo@tsubame.test")
        fx("trace", "QTRACE3", "in", "rejected", "reject", "spam@bulk.example", "x@other.example")
        fx("trace", "QTRACE4", "out", "delivered", "", "demo@tsubame.test", "bob@remote.example")
        fx("trace", "QOLD", "in", "delivered", "deliver", "old@remote.example", "demo@tsubame.test", "1000000000000")
        recs = self.j("trace", "--recipient", "demo@tsubame.test")
        self.assertEqual({r["queue_id"] for r in recs}, {"QTRACE1", "QTRACE2", "QOLD"})
        for r in recs:
            self.assertNotIn("body", r)
            self.assertNotIn("content", r)
        self.assertEqual([r["queue_id"] for r in self.j("trace", "--sender", "@bulk.example", "--verdict", "reject")],
                         ["QTRACE3"])
        self.assertEqual([r["status"] for r in self.j("trace", "--queue-id", "QTRACE2")], ["junk"])
        self.assertEqual({r["queue_id"] for r in self.j("trace", "--recipient", "demo@tsubame.test",
                                                       "--since", "2020-01-01")}, {"QTRACE1", "QTRACE2"})
        self.assertEqual([r["queue_id"] for r in self.j("trace", "--until", "2002-01-01")], ["QOLD"])
        self.assertEqual([r["queue_id"] for r in self.j("trace", "--direction", "out",
                                                                   "--sender", "demo@tsubame.test")], ["QTRACE4"])
        self.assertIn("QTRACE2", self.t("trace", "--status", "junk").stdout)
        self.t("trace", "--status", "exploded", code=2)
        self.t("trace", "--since", "soon", code=2)
        self.assertTrue(any("recipient=demo@tsubame.test" in r["details"] for r in self.audit("trace.view")))

    def test_stats_per_domain_and_day(self):
        fx = self.fx
        fx("trace", "QS1", "in", "received", "", "a@r.example", "s1@stats.example")
        fx("trace", "QS1", "in", "delivered", "deliver", "a@r.example", "s1@stats.example")
        fx("trace", "QS2", "in", "junk", "junk", "b@r.example", "s1@stats.example")
        fx("trace", "QS3", "in", "rejected", "reject", "b@r.example", "s2@stats.example")
        fx("trace", "QS4", "in", "held", "quarantine", "c@r.example", "s1@stats.example")
        fx("trace", "QS5", "out", "delivered", "", "s1@stats.example", "z@r.example")
        out = self.j("stats", "--domain", "stats.example")
        d = out["domains"]["stats.example"]
        total = d["total"]
        self.assertEqual(total["received"], 4)
        self.assertEqual(total["sent"], 1)
        self.assertEqual(total["rejected"], 1)
        self.assertEqual(total["quarantined"], 1)
        self.assertEqual(total["junk"], 1)
        self.assertAlmostEqual(total["spam_rate"], 3 / 4)
        self.assertEqual(len(d["days"]), 1)
        self.assertIn("stats.example", self.t("stats").stdout)

    def test_queue_list_flush_release_delete(self):
        a = self.fx("enqueue", "demo@tsubame.test", "far@remote.example")
        b = self.fx("enqueue", "demo@tsubame.test", "card@remote.example", "held")
        q = {e["id"]: e for e in self.j("queue", "list")}
        self.assertIn(a, q)
        self.assertTrue(q[b]["held"])
        self.assertEqual(q[b]["hold_rules"], ["DLP_CARD"])
        self.assertEqual([e["id"] for e in self.j("queue", "list", "--held")], [b])
        self.assertIn("flushed 1", self.t("queue", "flush").stdout)
        import time
        q = {e["id"]: e for e in self.j("queue", "list")}
        self.assertLessEqual(q[a]["next_attempt_ms"], time.time() * 1000 + 1000)
        self.assertGreater(q[b]["next_attempt_ms"], 0)
        self.t("queue", "release", b)
        self.assertFalse({e["id"]: e for e in self.j("queue", "list")}[b]["held"])
        self.t("queue", "delete", a)
        self.assertNotIn(a, [e["id"] for e in self.j("queue", "list")])
        self.t("queue", "delete", a, code=3)
        self.t("queue", "release", "NOSUCHID", code=3)
        self.assertTrue(self.audit("queue.release"))
        self.assertTrue(self.audit("queue.view"))


class UserAliasSecurityTest(Installation):
    def test_user_lifecycle(self):
        self.t("user", "add", "frank@tsubame.test", "--password-stdin", stdin="Blue's 2nd pass\n")
        u = self.j("user", "show", "frank@tsubame.test")
        self.assertFalse(u["disabled"])
        self.assertIn("INBOX", [m["name"] for m in u["mailboxes"]])
        self.assertTrue(any(r["target"] == "frank@tsubame.test" for r in self.audit("user.view")))
        self.t("user", "disable", "frank@tsubame.test")
        self.assertTrue(self.j("user", "show", "frank@tsubame.test")["disabled"])
        self.t("user", "enable", "frank@tsubame.test")
        self.assertFalse(self.j("user", "show", "frank@tsubame.test")["disabled"])
        self.t("user", "quota", "frank@tsubame.test", "2G")
        self.assertEqual(self.j("user", "show", "frank@tsubame.test")["quota_bytes"], 2 << 30)
        self.t("user", "quota", "frank@tsubame.test", "lots", code=2)
        self.t("user", "passwd", "frank@tsubame.test", "--password-stdin", stdin="New pass for 2027\n")
        self.t("user", "passwd", "frank@tsubame.test", "--password-stdin", stdin="short\n", code=2)
        r = self.t("user", "passwd", "frank@tsubame.test", "--password-stdin", stdin="xx-frank-xx-yy\n", code=2)
        self.assertIn("login name", r.stderr)
        self.t("user", "show", "ghost@tsubame.test", code=3)
        self.t("user", "disable", "ghost@tsubame.test", code=3)
        for action in ("user.disable", "user.enable", "user.quota", "user.passwd"):
            self.assertTrue(self.audit(action), action)

    def test_guessable_ids_refused_unless_forced(self):
        for local in ("admin", "Administrator", "root", "test", "info", "user1", "postmaster"):
            r = self.t("user", "add", local + "@tsubame.test", "--password-stdin", stdin="Strong pass 123\n", code=5)
            self.assertIn("guessable", r.stderr)
        self.assertNotIn("admin@tsubame.test", [u["address"] for u in self.j("user", "list")])
        self.t("user", "add", "admin@tsubame.test", "--password-stdin", "--force", stdin="Strong pass 123\n")

    def test_domain_password_policy(self):
        self.t("domain", "add", "strict.example")
        self.t("security", "set", "strict.example", "password_min_length", "14")
        self.t("security", "set", "strict.example", "password_min_classes", "4")
        r = self.t("user", "add", "gina@strict.example", "--password-stdin", stdin="Abcdef-123\n", code=2)
        self.assertIn("too short", r.stderr)
        r = self.t("user", "add", "gina@strict.example", "--password-stdin", stdin="abcdefgh ijklmnop\n", code=2)
        self.assertIn("classes", r.stderr)
        self.t("user", "add", "gina@strict.example", "--password-stdin", stdin="Abcdefgh-12345\n")
        # the same password is fine in a domain with the default policy
        self.t("user", "add", "gina@tsubame.test", "--password-stdin", stdin="abcdefgh ijklmnop\n")
        r = self.t("user", "add", "hal@tsubame.test", "--password-stdin", stdin="abcdefghijklmnop\n", code=2)
        self.assertIn("classes", r.stderr)  # the default policy wants two classes

    def test_user_delete_schedules_purge(self):
        self.add_user("hank@tsubame.test")
        self.t("user", "delete", "hank@tsubame.test")
        u = self.j("user", "show", "hank@tsubame.test")
        self.assertTrue(u["disabled"])
        import time
        self.assertGreater(u["purge_due_ms"], (time.time() + 29 * 86400) * 1000)  # default retention 30d
        self.assertEqual(self.j("purge", "--dry-run")["users"], [])
        self.t("user", "enable", "hank@tsubame.test", code=5)
        self.t("user", "delete", "hank@tsubame.test", code=4)
        self.t("user", "undelete", "hank@tsubame.test")
        self.assertEqual(self.j("user", "show", "hank@tsubame.test")["purge_due_ms"], 0)
        self.t("user", "enable", "hank@tsubame.test")
        self.assertTrue(self.audit("user.delete"))

    def test_aliases(self):
        self.add_user("ivy@tsubame.test")
        self.t("alias", "add", "Sales-Team@TSUBAME.test", "ivy@tsubame.test", "ext@partner.example")
        a = self.j("alias", "list")
        self.assertIn({"alias": "Sales-Team@tsubame.test", "targets": ["ivy@tsubame.test", "ext@partner.example"]},
                      [{k: x[k] for k in ("alias", "targets")} for x in a])
        self.t("alias", "add", "sales-team@tsubame.test", "ivy@tsubame.test", code=4)
        self.t("alias", "add", "ivy@tsubame.test", "demo@tsubame.test", code=4)   # a user's address
        self.t("alias", "add", "x@nosuch.example", "ivy@tsubame.test", code=3)
        self.t("alias", "add", "bad address", "ivy@tsubame.test", code=2)
        self.t("alias", "add", "y@tsubame.test", "not-an-address", code=2)
        self.t("alias", "remove", "sales-team@tsubame.test")
        self.assertNotIn("Sales-Team@tsubame.test", [x["alias"] for x in self.j("alias", "list")])
        self.t("alias", "remove", "sales-team@tsubame.test", code=3)
        self.assertTrue(self.audit("alias.add") and self.audit("alias.remove"))
        # a domain with aliases left cannot be removed; its settings go with it
        self.t("domain", "add", "aliased.example")
        self.t("security", "set", "aliased.example", "tls_required", "no")
        self.t("alias", "add", "x@aliased.example", "ivy@tsubame.test")
        r = self.t("domain", "remove", "aliased.example", code=4)
        self.assertIn("alias", r.stderr)
        self.t("alias", "remove", "x@aliased.example")
        self.t("domain", "remove", "aliased.example")
        self.t("domain", "add", "aliased.example")
        self.assertEqual(self.j("security", "show", "aliased.example")["settings"]["tls_required"]["value"], "yes")

    def test_security_settings(self):
        s = self.j("security", "show", "tsubame.test")["settings"]
        for key in ("lockout_failures", "lockout_duration", "tls_required", "auth_mechanisms", "junk_threshold",
                    "reject_threshold", "blocked_extensions", "retention_deleted_users", "retention_reports",
                    "retention_trace", "password_min_length"):
            self.assertIn(key, s)
        self.t("security", "set", "tsubame.test", "lockout_duration", "1h")
        self.t("security", "set", "tsubame.test", "tls_required", "No")
        self.t("security", "set", "tsubame.test", "auth_mechanisms", "plain, scram-sha-256")
        self.t("security", "set", "tsubame.test", "blocked_extensions", ".EXE, js,exe")
        self.t("security", "set", "tsubame.test", "junk_threshold", "4.5")
        s = self.j("security", "show", "tsubame.test")["settings"]
        self.assertEqual(s["lockout_duration"]["value"], "3600")
        self.assertFalse(s["lockout_duration"]["default"])
        self.assertEqual(s["tls_required"]["value"], "no")
        self.assertEqual(s["auth_mechanisms"]["value"], "PLAIN,SCRAM-SHA-256")
        self.assertEqual(s["blocked_extensions"]["value"], "exe,js")
        self.assertEqual(s["junk_threshold"]["value"], "4.5")
        self.t("security", "set", "tsubame.test", "lockout_failures", "0", code=2)
        self.t("security", "set", "tsubame.test", "lockout_failures", "many", code=2)
        self.t("security", "set", "tsubame.test", "auth_mechanisms", "CRAM-MD5", code=2)
        self.t("security", "set", "tsubame.test", "no_such_key", "1", code=2)
        self.t("security", "set", "nosuch.example", "tls_required", "yes", code=3)
        self.assertEqual(self.j("security", "show", "tsubame.test")["settings"]["lockout_failures"]["value"], "5")
        self.t("security", "set", "tsubame.test", "lockout_duration", "default")
        self.assertTrue(self.j("security", "show", "tsubame.test")["settings"]["lockout_duration"]["default"])
        self.assertTrue(any("tls_required=no" in r["details"] for r in self.audit("security.set")))


class AccessGrantTest(Installation):
    def test_grant_approve_read_revoke(self):
        self.add_user("jay@tsubame.test")
        uid = self.deliver("jay@tsubame.test", HAM.format(to="jay@tsubame.test", marker="GRANTMARK"))
        read = ("access", "read", "jay@tsubame.test", "INBOX", str(uid), "--grant")
        self.t("access", "grant", "jay@tsubame.test", "--agent", "sam", "--hours", "2", code=2)  # no ticket
        self.t("access", "grant", "jay@tsubame.test", "--ticket", "T-9", "--agent", "sam", "--hours", "200", code=5)
        g = self.j("access", "grant", "jay@tsubame.test", "--ticket", "T-9", "--agent", "sam", "--hours", "2")["id"]
        r = self.t(*read, str(g), code=5)  # requested, not approved
        self.assertNotIn("GRANTMARK", r.stdout)
        r = self.t("access", "approve", str(g), "--approver", "sam", code=5)  # own request
        self.assertIn("requester", r.stderr)
        self.t("access", "approve", str(g), "--approver", "lee")
        lst = self.j("access", "list", "jay@tsubame.test")
        self.assertEqual(lst[0]["approved_by"], "lee")
        self.assertTrue(lst[0]["active"])
        self.assertLessEqual(lst[0]["expires_ms"] - lst[0]["approved_ms"], 2 * 3600 * 1000)
        self.assertIn("GRANTMARK", self.t(*read, str(g)).stdout)
        self.assertTrue(any("INBOX/%d" % uid in r["details"] for r in self.audit("grant.access")))
        self.t("access", "revoke", str(g))
        r = self.t(*read, str(g), code=5)
        self.assertNotIn("GRANTMARK", r.stdout)
        self.assertTrue(self.audit("grant.denied"))
        self.t(*read, "999", code=3)
        self.t("access", "approve", "999", "--approver", "lee", code=3)

    def test_grant_for_another_user_is_refused(self):
        self.add_user("kim@tsubame.test")
        self.add_user("lou@tsubame.test")
        uid = self.deliver("lou@tsubame.test", HAM.format(to="lou@tsubame.test", marker="LOUMARK"))
        g = self.j("access", "grant", "kim@tsubame.test", "--ticket", "T-1", "--agent", "sam", "--hours", "1")["id"]
        self.t("access", "approve", str(g), "--approver", "lee")
        r = self.t("access", "read", "lou@tsubame.test", "INBOX", str(uid), "--grant", str(g), code=5)
        self.assertNotIn("LOUMARK", r.stdout)


class PurgeTest(Installation):
    def test_purge_removes_the_users_mail_and_records(self):
        self.add_user("mia@tsubame.test")
        self.add_user("ned@tsubame.test")
        marker = "PURGEMARK" + os.urandom(6).hex()
        for i in range(2):
            self.deliver("mia@tsubame.test", SPAM.format(to="mia@tsubame.test", marker=marker + str(i)))
        self.deliver("mia@tsubame.test", HAM.format(to="mia@tsubame.test", marker=marker + "J"), "Junk")
        self.deliver("ned@tsubame.test", HAM.format(to="ned@tsubame.test", marker="KEEPNED"))
        self.fx("login", "mia@tsubame.test", "success", "192.0.2.44")
        self.fx("trace", "QMIA", "in", "delivered", "deliver", "x@remote.example", "mia@tsubame.test")
        blobs, messages, problems = [int(x) for x in self.fx("blobs").split()]
        self.assertEqual((blobs, messages, problems), (4, 4, 0))
        self.t("user", "delete", "mia@tsubame.test")
        self.assertEqual(self.j("purge", "--dry-run")["users"], [])  # retention not yet over
        self.t("security", "set", "tsubame.test", "retention_deleted_users", "0")
        self.assertEqual(self.j("purge", "--dry-run")["users"], ["mia@tsubame.test"])
        out = self.j("purge")
        self.assertEqual(out["users"][0]["address"], "mia@tsubame.test")
        self.assertEqual(out["users"][0]["messages"], 3)
        self.assertEqual(out["users"][0]["logins"], 1)
        self.assertEqual(out["users"][0]["trace_records"], 1)
        # the store API: only ned's blob is left, and the store check is clean
        blobs, messages, problems = [int(x) for x in self.fx("blobs").split()]
        self.assertEqual((blobs, messages, problems), (1, 1, 0))
        self.t("user", "show", "mia@tsubame.test", code=3)
        self.assertEqual(self.j("trace", "--recipient", "mia@tsubame.test"), [])
        # the raw store file holds nothing of it (content is sealed anyway; so is the address)
        with open(os.path.join(self.dir, "data", "data.mdb"), "rb") as f:
            raw = f.read()
        self.assertNotIn(marker.encode(), raw)
        self.assertNotIn(b"mia@tsubame.test", raw)
        self.assertTrue(any(r["target"] == "mia@tsubame.test" for r in self.audit("user.purge")))
        self.assertTrue(self.j("audit", "verify")["ok"])
        # the address can be used again, by a new user with empty mailboxes
        self.add_user("mia@tsubame.test")
        self.assertEqual(sum(m["messages"] for m in self.j("user", "show", "mia@tsubame.test")["mailboxes"]), 0)
        self.t("user", "delete", "ned@tsubame.test", "--purge-now")
        self.assertEqual([int(x) for x in self.fx("blobs").split()], [0, 0, 0])

    def test_retention_purges_old_reports_trace_and_logins(self):
        self.add_user("quinn@tsubame.test")
        uid = self.deliver("quinn@tsubame.test", SPAM.format(to="quinn@tsubame.test", marker="RETAIN"))
        rid = self.fx("report", "quinn@tsubame.test", "INBOX", str(uid), "spam")
        self.fx("login", "quinn@tsubame.test", "success", "192.0.2.50")
        self.fx("trace", "QANCIENT", "in", "delivered", "deliver", "a@r.example", "quinn@tsubame.test", "1000000000000")
        self.fx("trace", "QFRESH", "in", "delivered", "deliver", "a@r.example", "quinn@tsubame.test")
        out = self.j("purge")  # defaults: trace 180d, reports 90d, logins 365d
        self.assertEqual((out["reports"], out["trace_records"], out["login_records"]), (0, 1, 0))
        self.assertEqual((out["sent_message_ids"], out["correspondents"]), (0, 0))
        # What a submission leaves for the reply and correspondent memories goes at its own
        # expiry (a day here), whatever the domains' retention settings.
        now_ms = int(time.time() * 1000)
        self.fx("sent", "<old-1@tsubame.test>", "old-partner@customer.example", str(now_ms - 2 * 86400000), "86400000")
        self.fx("sent", "<new-1@tsubame.test>", "new-partner@customer.example", str(now_ms), "86400000")
        out = self.j("purge")
        self.assertEqual((out["sent_message_ids"], out["correspondents"]), (1, 1))
        self.assertTrue(any("sent_ids=1 correspondents=1" in r["details"] for r in self.audit("retention.purge")))
        out = self.j("purge")
        self.assertEqual((out["sent_message_ids"], out["correspondents"]), (0, 0))
        self.assertEqual([r["queue_id"] for r in self.j("trace", "--recipient", "quinn@tsubame.test")], ["QFRESH"])
        self.t("security", "set", "tsubame.test", "retention_reports", "0")
        self.t("security", "set", "tsubame.test", "retention_logins", "0")
        out = self.j("purge")
        self.assertEqual(out["trace_records"], 0)
        self.assertGreaterEqual(out["reports"], 1)
        self.assertGreaterEqual(out["login_records"], 1)
        self.assertEqual([r["queue_id"] for r in self.j("trace", "--recipient", "quinn@tsubame.test")], ["QFRESH"])
        self.t("quarantine", "show", rid, code=3)
        self.assertEqual(self.j("logins", "quinn@tsubame.test")["logins"], [])
        self.assertTrue(self.audit("retention.purge"))


class QuarantineTest(Installation):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = run("user", "add", "olga@tsubame.test", "--password-stdin", stdin="Quiet river 2026\n", config=cls.conf)
        assert r.returncode == 0, r.stderr

    def reported(self, marker, kind="spam"):
        uid = self.deliver("olga@tsubame.test", SPAM.format(to="olga@tsubame.test", marker=marker))
        return int(self.fx("report", "olga@tsubame.test", "INBOX", str(uid), kind))

    def test_list_show_attachments_are_audited(self):
        rid = self.reported("QSHOW")
        lst = self.j("quarantine", "list")
        mine = [r for r in lst if r["id"] == rid][0]
        self.assertEqual((mine["kind"], mine["status"], mine["reporter"]), ("spam", "open", "olga@tsubame.test"))
        self.assertNotIn("content", mine)
        self.assertTrue(self.audit("quarantine.list"))
        s = self.j("quarantine", "show", str(rid))
        self.assertIn("QSHOW", s["subject"])
        self.assertIn("http://192.0.2.7/claim", [l["href"] for l in s["links"]])
        self.assertEqual(s["attachments"][0]["filename"], "prize.exe")
        self.assertEqual(s["attachments"][0]["sniffed"], "pe")
        self.assertTrue(any(r["target"] == "report:%d" % rid for r in self.audit("report.view")))
        self.assertIn("Subject: You won QSHOW", self.t("quarantine", "show", str(rid), "--raw").stdout)
        a = self.j("quarantine", "attachments", str(rid))
        self.assertEqual(a[0]["filename"], "prize.exe")
        self.assertTrue(a[0]["executable"])
        dest = os.path.join(self.tmp, "prize.bin")
        self.t("quarantine", "attachments", str(rid), "--save", "1", "--to", dest)
        with open(dest, "rb") as f:
            self.assertEqual(f.read()[:2], b"MZ")  # decoded from base64
        self.t("quarantine", "attachments", str(rid), "--save", "1", "--to", dest, code=4)  # never overwrites
        self.t("quarantine", "attachments", str(rid), "--save", "9", "--to", dest + "2", code=3)
        self.assertTrue(self.audit("report.attachment.save"))

    def test_unreported_messages_cannot_be_opened(self):
        uid = self.deliver("olga@tsubame.test", SPAM.format(to="olga@tsubame.test", marker="NOTREPORTED"))
        ids = [r["id"] for r in self.j("quarantine", "list")]
        for rid in [max(ids + [0]) + 1, 0, 999999]:
            r = self.t("quarantine", "show", str(rid), code=3)
            self.assertNotIn("NOTREPORTED", r.stdout)
        self.t("quarantine", "show", "INBOX/%d" % uid, code=2)
        # there is no option that names a mailbox or a message
        self.t("quarantine", "show", "--mailbox", "INBOX", "--uid", str(uid), code=2)
        for sub in ("attachments", "export"):
            r = run("quarantine", sub, "--help", config=self.conf)
            self.assertNotIn("--uid", r.stdout)
            self.assertNotIn("--mailbox", r.stdout)

    def test_decide_trains_the_classifier_idempotently(self):
        rid = self.reported("QDECIDE")
        spam0, ham0 = [int(x) for x in self.fx("tokens").split()]
        self.t("quarantine", "decide", str(rid), "spam")
        self.assertEqual([int(x) for x in self.fx("tokens").split()], [spam0 + 1, ham0])
        self.t("quarantine", "decide", str(rid), "spam")  # repeated: nothing changes
        self.assertEqual([int(x) for x in self.fx("tokens").split()], [spam0 + 1, ham0])
        self.assertEqual([r for r in self.j("quarantine", "list") if r["id"] == rid][0]["status"], "confirmed")
        self.t("quarantine", "decide", str(rid), "ham")  # revised: the spam training is undone
        self.assertEqual([int(x) for x in self.fx("tokens").split()], [spam0, ham0 + 1])
        self.assertEqual([r for r in self.j("quarantine", "list", "--status", "false-report")
                          if r["id"] == rid][0]["status"], "false-report")
        self.t("quarantine", "decide", str(rid), "maybe", code=2)
        self.t("quarantine", "decide", "424242", "spam", code=3)
        self.assertTrue(self.audit("report.decide"))

    def test_export_writes_an_rfc5965_report(self):
        import email
        import email.policy
        rid = self.reported("QEXPORT")
        dest = os.path.join(self.tmp, "report.arf")
        self.t("quarantine", "export", str(rid), dest)
        with open(dest, "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "feedback-report")
        parts = list(msg.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/feedback-report", "message/rfc822"])
        fb = parts[1].get_payload()
        fb = fb if isinstance(fb, str) else "".join(str(x) for x in fb)
        self.assertIn("Feedback-Type: abuse", fb)
        self.assertIn("User-Agent:", fb)
        self.assertIn("Version: 1", fb)
        original = parts[2].get_payload()[0]
        self.assertIn("QEXPORT", original["Subject"])
        self.t("quarantine", "export", str(rid), dest, code=4)
        self.assertTrue(self.audit("report.export"))


class HelpAndUsageTest(Installation):
    def test_every_command_has_help(self):
        cmds = [["filter", "scan"], ["filter", "learn"], ["filter", "eval"], ["filter", "compile"],
                ["audit", "show"], ["audit", "verify"], ["logins"], ["lockout", "reset"], ["backup"],
                ["backup", "verify"], ["restore"], ["trace"], ["stats"], ["queue", "list"], ["queue", "release"],
                ["queue", "delete"], ["queue", "flush"], ["user", "show"], ["user", "disable"], ["user", "enable"],
                ["user", "delete"], ["user", "passwd"], ["user", "quota"], ["alias", "add"], ["alias", "remove"],
                ["alias", "list"], ["security", "show"], ["security", "set"], ["access", "grant"],
                ["access", "approve"], ["access", "revoke"], ["access", "list"], ["access", "read"], ["purge"],
                ["quarantine", "list"], ["quarantine", "show"], ["quarantine", "attachments"],
                ["quarantine", "decide"], ["quarantine", "export"]]
        for c in cmds:
            r = run(*c, "--help")
            self.assertEqual(r.returncode, 0, c)
            self.assertIn("Usage", r.stdout, c)
        for c in (["queue"], ["audit"], ["access"], ["quarantine"], ["security"], ["alias"]):
            self.assertEqual(run(*c, config=self.conf).returncode, 2, c)  # a subcommand is required
        self.assertEqual(run("audit", "show", "--bogus", config=self.conf).returncode, 2)


class QuarantineWebhookTest(Installation):
    """`quarantine decide` posts a signed quarantine.decided event (metadata only)."""

    @classmethod
    def setUpClass(cls):
        import http.server
        import threading
        super().setUpClass()
        cls.events = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                cls.events.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.secret = "s3cret-" + os.urandom(8).hex()
        secret_file = os.path.join(cls.tmp, "webhook.secret")
        with open(secret_file, "w") as f:
            f.write(cls.secret + "\n")
        os.chmod(secret_file, 0o600)
        with open(cls.conf) as f:
            text = f.read()
        text = text.replace("webhook_urls = \n", "webhook_urls = http://127.0.0.1:%d/hook\n" % cls.server.server_port)
        text = text.replace("webhook_secret_file = \n", "webhook_secret_file = %s\n" % secret_file)
        with open(cls.conf, "w") as f:
            f.write(text)
        r = run("user", "add", "pat@tsubame.test", "--password-stdin", stdin="Quiet river 2026\n", config=cls.conf)
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        super().tearDownClass()

    def test_decision_event_is_signed_and_has_no_body(self):
        import hashlib
        import hmac
        uid = self.deliver("pat@tsubame.test", SPAM.format(to="pat@tsubame.test", marker="HOOKMARK"))
        rid = int(self.fx("report", "pat@tsubame.test", "INBOX", str(uid), "spam"))
        self.t("quarantine", "decide", str(rid), "spam")
        self.assertEqual(len(self.events), 1)
        headers, body = self.events[0]
        h = {k.lower(): v for k, v in headers.items()}
        self.assertEqual(h["x-tsubame-event"], "quarantine.decided")
        want = "sha256=" + hmac.new(self.secret.encode(), (h["x-tsubame-timestamp"] + ".").encode() + body,
                                    hashlib.sha256).hexdigest()
        self.assertEqual(h["x-tsubame-signature"], want)
        self.assertNotIn(b"HOOKMARK", body)  # metadata only, never the message
        text = body.decode()
        self.assertIn('"report_id":%d' % rid, text.replace(" ", ""))
        self.assertIn("confirmed", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
