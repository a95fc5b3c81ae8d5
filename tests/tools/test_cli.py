"""Integration tests of the `tsubame` CLI: the real binary on a real store in a temp dir.

Run by ctest (tests/tools/CMakeLists.txt) with TSUBAME_BIN pointing at build/bin.
"""
import json
import os
import shutil
import stat
import subprocess
import tempfile
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
