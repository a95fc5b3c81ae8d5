#!/usr/bin/python3
"""tests/imapd/imapd_flag_journal_test.py: imapd.flag_sync = journal (the default) in the real
daemon. A STORE of system flags is answered once journaled; another connection's read right
after sees it; and a tsubame-imapd killed with SIGKILL straight after acknowledging hundreds
of pipelined STOREs comes back (replaying its journal) with every acknowledged flag in place.

The store and the user alice@example.com with three messages come from imapd_fixture.
Environment: TSUBAME_BIN (the build's bin directory), set by tsubame_pytest().
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tsubame_test import BIN, free_port, start_daemon, write_imapd_fixture_config  # noqa: E402
from imapd_integration_test import Raw  # noqa: E402

STORES = 600


class ImapdFlagJournal(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tsubame-imapd-journal-")
        subprocess.run([os.path.join(BIN, "imapd_fixture"), "init", self.dir], check=True)
        self.proc = None
        self.logs = []

    def tearDown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in self.logs:
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self):
        """Starts tsubame-imapd on fresh ports (retrying if a port was taken)."""
        for attempt in range(5):
            self.port, self.tls_port = free_port(), free_port()
            conf = write_imapd_fixture_config(self.dir, self.port, self.tls_port)
            log = open(os.path.join(self.dir, "imapd-%d.log" % len(self.logs)), "w")
            self.logs.append(log)
            self.proc = start_daemon("tsubame-imapd", conf, (self.port, self.tls_port), log, timeout=60)
            if self.proc is not None:
                return
        self.fail("tsubame-imapd did not start")

    def client(self):
        r = Raw(self.tls_port, tls=True)
        r.login()
        _, ok = r.cmd("S", "SELECT INBOX")
        self.assertTrue(ok.startswith("S OK"), ok)
        return r

    def flags(self, r):
        lines, ok = r.cmd("F", "FETCH 1:3 (FLAGS)")
        self.assertTrue(ok.startswith("F OK"), ok)
        out = {}
        for line in lines:
            if " FETCH " in line:
                seq = int(line.split()[1])
                out[seq] = set(line.split("FLAGS (", 1)[1].split(")", 1)[0].split())
        return out

    def test_journal_lives_in_the_data_directory_and_another_connection_sees_the_change(self):
        self.start()
        self.assertTrue(os.path.exists(os.path.join(self.dir, "data", "imapd-flags.journal")))
        a, b = self.client(), self.client()
        lines, ok = a.cmd("A1", "STORE 2 +FLAGS (\\Flagged \\Answered)")
        self.assertEqual(ok, "A1 OK STORE completed")
        self.assertIn("* 2 FETCH (FLAGS (\\Answered \\Flagged))", lines)
        # The very next read, on another connection: the acknowledged change is there.
        self.assertEqual(self.flags(b)[2], {"\\Answered", "\\Flagged"})
        lines, ok = a.cmd("A2", "STORE 2 -FLAGS.SILENT (\\Answered)")
        self.assertEqual((lines, ok), ([], "A2 OK STORE completed"))
        self.assertEqual(self.flags(b)[2], {"\\Flagged"})
        # A keyword takes the synced path and is answered the same way.
        lines, ok = a.cmd("A3", "STORE 2 +FLAGS ($Forwarded)")
        self.assertEqual(ok, "A3 OK STORE completed")
        self.assertEqual(self.flags(b)[2], {"\\Flagged", "$Forwarded"})
        # A second imapd on the same store is refused: the journal is in use.
        conf2 = os.path.join(self.dir, "second.conf")
        with open(os.path.join(self.dir, "tsubame.conf")) as f:
            text = f.read().replace(f"127.0.0.1:{self.port}", f"127.0.0.1:{free_port()}")
            text = text.replace(f"127.0.0.1:{self.tls_port}", f"127.0.0.1:{free_port()}")
        with open(conf2, "w") as f:
            f.write(text)
        second = subprocess.run([os.path.join(BIN, "tsubame-imapd"), "--config", conf2],
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(second.returncode, 0)
        self.assertIn("in use by another tsubame-imapd", second.stderr)
        a.close()
        b.close()

    def test_acknowledged_flags_survive_sigkill(self):
        self.start()
        r = self.client()
        # STORES pipelined commands in one write; the expected final state follows them.
        cmds, expect = [], {1: set(), 2: set(), 3: set()}
        names = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft"]
        for i in range(STORES):
            seq, flag = 1 + i % 3, names[(i // 3) % 4]
            op = "-" if (i // 12) % 2 else "+"
            cmds.append(f"t{i} STORE {seq} {op}FLAGS.SILENT ({flag})\r\n")
            (expect[seq].discard if op == "-" else expect[seq].add)(flag)
        cmds.append(f"t{STORES} STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n")
        for s in expect.values():
            s.add("\\Deleted")
        r.send("".join(cmds))
        for i in range(STORES + 1):
            lines, ok = r.until(f"t{i}")
            self.assertEqual(ok, f"t{i} OK STORE completed")
        # Every STORE is acknowledged: kill at once, before the writer can catch up.
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        r.close()
        self.start()
        with open(self.logs[-1].name) as f:
            log = f.read()
        self.assertNotIn("error", log.lower())
        # Whether the writer was behind at the kill depends on timing; say what happened.
        replayed = [line for line in log.splitlines() if "flag journal" in line]
        print("after SIGKILL:", replayed[0] if replayed else "nothing left to replay", file=sys.stderr)
        r = self.client()
        self.assertEqual(self.flags(r), expect)
        r.close()
        # A clean stop leaves an empty journal.
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.assertEqual(os.path.getsize(os.path.join(self.dir, "data", "imapd-flags.journal")), 0)
        # The store is consistent.
        check = subprocess.run([os.path.join(BIN, "imapd_fixture"), "check", self.dir],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)


if __name__ == "__main__":
    unittest.main()
