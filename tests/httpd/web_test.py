"""End-to-end test of the tsubame-httpd web page in headless Chromium (Debian's chromium at
/usr/bin/chromium) driven by playwright-core from npm (tests/httpd/web/package.json, pinned by
package-lock.json). This test runs `npm ci` itself, in <build>/httpd-web, when the lock file
changed or node_modules is missing. A user reports a message as spam on the page; the domain's
postmaster sees it in the quarantine and confirms it. The outcome is then checked through the
API. Missing chromium, node or npm is a FAILURE, never a skip.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PASSWORD, Daemon, Installation, message  # noqa: E402


def filecmp_same(a, b):
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
CHROMIUM = "/usr/bin/chromium"


class WebPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [name for name, ok in (("chromium (/usr/bin/chromium)", os.path.exists(CHROMIUM)),
                                         ("node", shutil.which("node")), ("npm", shutil.which("npm"))) if not ok]
        if missing:
            raise RuntimeError("the browser test needs chromium, node (>= 20) and npm; missing: "
                               + ", ".join(missing) + " (tools/install-deps --test installs them)")
        # playwright-core goes into the build tree (never the source tree): the package files
        # and e2e.js are copied there, and `npm ci` runs when the lock file changed.
        cls.work = os.path.join(os.path.dirname(os.path.abspath(harness.BIN)), "httpd-web")
        os.makedirs(cls.work, exist_ok=True)
        lock_changed = not filecmp_same(os.path.join(WEB, "package-lock.json"), os.path.join(cls.work, "package-lock.json"))
        for name in ("package.json", "package-lock.json", "e2e.js"):
            shutil.copyfile(os.path.join(WEB, name), os.path.join(cls.work, name))
        if lock_changed or not os.path.isdir(os.path.join(cls.work, "node_modules", "playwright-core")):
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=cls.work, capture_output=True,
                               text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError("npm ci failed in %s: %s" % (cls.work, r.stderr[-2000:]))
        cls.inst = Installation()
        cls.inst.add_user("postmaster@tsubame.test")
        cls.subject = "Limited offer 4e2e"
        cls.uid = cls.inst.deliver(cls.inst.demo, message(cls.subject, "buy now"))
        cls.inst.deliver(cls.inst.demo, message("Quarterly plan", "hello", sender="Alice <alice@tsubame.test>"))
        cls.d = Daemon(cls.inst)

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        cls.inst.cleanup()
        assert rc == 0, "tsubame-httpd did not exit cleanly on SIGTERM: %r" % rc

    def test_report_spam_then_admin_decides_in_the_browser(self):
        profile = tempfile.mkdtemp(prefix="tsubame-chromium-")
        try:
            env = dict(os.environ, BASE_URL="https://localhost:%d" % self.inst.port, USER=self.inst.demo,
                       PASSWORD=self.inst.demo_password, ADMIN="postmaster@tsubame.test",
                       ADMIN_PASSWORD=PASSWORD, SUBJECT=self.subject, USER_DATA_DIR=profile)
            if os.environ.get("TSUBAME_SCREENSHOT_DIR"):
                env["SCREENSHOT_DIR"] = os.environ["TSUBAME_SCREENSHOT_DIR"]
            r = subprocess.run(["node", os.path.join(self.work, "e2e.js")], env=env, capture_output=True,
                               text=True, timeout=300)
            self.assertEqual(r.returncode, 0, "browser test failed:\n" + r.stdout + r.stderr + "\n" + self.d.log_text())
            self.assertIn("e2e ok", r.stdout)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        # What the clicks did, seen through the API.
        tok = self.d.login(self.inst.demo, self.inst.demo_password)
        _, _, msgs = self.d.request("GET", "/api/messages", token=tok)
        self.assertEqual({m["uid"]: m for m in msgs["messages"]}[self.uid]["reported"], "spam")
        admin = self.d.login("postmaster@tsubame.test", PASSWORD)
        _, _, q = self.d.request("GET", "/api/quarantine?status=confirmed", token=admin)
        mine = [r for r in q["reports"] if r["subject"] == self.subject]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["decided_by"], "postmaster@tsubame.test")


if __name__ == "__main__":
    unittest.main(verbosity=2)
