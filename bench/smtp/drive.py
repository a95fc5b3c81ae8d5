#!/usr/bin/python3
"""bench/smtp/drive.py: one end-to-end SMTP benchmark run, called by bench/smtp/run.sh.

Runs Postfix's smtp-source against a server and, at the same time, polls until every message
is stored; the run's time is from just before smtp-source starts to the end of the first poll
that found all messages stored. Prints one JSON line:
{"server", "sessions", "messages", "delivered", "accept_seconds", "seconds",
 "accepted_per_second", "delivered_per_second", "junk"}.

Two ways to count what is stored:
  --maildir DIR   files in DIR/new and DIR/cur (Dovecot's Maildir; a message is in new/
                  only once it is complete: Dovecot writes it to tmp/ and renames it).
  --tsubame CLI CONFIG ADDRESS --mail-log FILE
                  while the run goes on: the new `status=sent` lines of tsubame-smtpd's mail
                  log (written when the store commit of the message is durable, before its
                  250); once all are there, the store itself is asked, once, by
                  `tsubame user show ADDRESS --json` (the sum of the message counts of all
                  the user's mailboxes: INBOX, and Junk when the filter files mail there),
                  and only what it counts is reported as delivered. (Polling the store with
                  the CLI during the run would slow the daemon down several times: every CLI
                  command opens the store and writes an audit record.)

Fails (exit 1, message on stderr) when smtp-source fails or when the count stops growing
for --stall seconds before all messages are stored; the JSON line is still printed, with
the count that was reached, so a partial run is visible.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def count_maildir(path):
    n = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(path, sub)) as it:
                n += sum(1 for _ in it)
        except FileNotFoundError:
            pass
    return n, 0


def count_tsubame(cli, config, address):
    out = subprocess.run([cli, "--config", config, "user", "show", address, "--json"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return 0, 0
    boxes = json.loads(out.stdout)["mailboxes"]
    return sum(b["messages"] for b in boxes), sum(b["messages"] for b in boxes if b["name"] == "Junk")


class LogCounter:
    """Counts the `status=sent` lines appended to a mail log since it was created."""

    def __init__(self, path):
        self.path, self.n, self.partial = path, 0, b""
        try:
            self.offset = os.path.getsize(path)
        except FileNotFoundError:
            self.offset = 0

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.n, 0
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        self.n += sum(1 for l in lines if b"status=sent" in l)
        return self.n, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="name for the result line")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sessions", type=int, required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--size", type=int, default=4096, help="payload bytes (smtp-source -l)")
    ap.add_argument("--from", dest="sender", default="loadgen@sender.example")
    ap.add_argument("--to", required=True)
    ap.add_argument("--maildir")
    ap.add_argument("--tsubame", nargs=3, metavar=("CLI", "CONFIG", "ADDRESS"))
    ap.add_argument("--mail-log", help="tsubame-smtpd's mail log (with --tsubame)")
    ap.add_argument("--interval", type=float, default=0.02, help="seconds between polls")
    ap.add_argument("--stall", type=float, default=60.0)
    a = ap.parse_args()
    if not a.maildir and not (a.tsubame and a.mail_log):
        ap.error("give --maildir, or --tsubame and --mail-log")
    if a.maildir:
        count = final = lambda: count_maildir(a.maildir)
        base, _ = count()
    else:
        final = lambda: count_tsubame(*a.tsubame)
        store_base, _ = final()
        count, base = LogCounter(a.mail_log), 0
    want = base + a.messages
    cmd = ["smtp-source", "-s", str(a.sessions), "-m", str(a.messages), "-l", str(a.size),
           "-f", a.sender, "-t", a.to, f"127.0.0.1:{a.port}"]
    t0 = time.monotonic()
    src = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    accept_end = None
    last_n, last_change, n, junk, end = base, t0, base, 0, None
    while True:
        if accept_end is None and src.poll() is not None:
            accept_end = time.monotonic()
        n, junk = count()
        now = time.monotonic()
        if n >= want:
            end = now
            break
        if n != last_n:
            last_n, last_change = n, now
        if accept_end is not None and now - max(last_change, accept_end) > a.stall:
            break
        time.sleep(a.interval)
    if accept_end is None:
        src.wait()
        accept_end = time.monotonic()
    err = src.stderr.read()
    delivered = n - base
    if not a.maildir:  # what the store holds, not what the log says
        stored, junk = final()
        delivered = stored - store_base
        if delivered < a.messages:
            end = None
    seconds = (end or time.monotonic()) - t0
    accept_seconds = accept_end - t0
    print(json.dumps({"server": a.server, "sessions": a.sessions, "messages": a.messages,
                      "delivered": delivered, "accept_seconds": round(accept_seconds, 3),
                      "seconds": round(seconds, 3),
                      "accepted_per_second": round(a.messages / accept_seconds, 1),
                      "delivered_per_second": round(delivered / seconds, 1), "junk": junk}))
    if src.returncode != 0:
        print(f"smtp-source exited with {src.returncode}: {err.strip()}", file=sys.stderr)
        return 1
    if end is None:
        print(f"{a.server}: only {delivered} of {a.messages} messages stored "
              f"(no progress for {a.stall:.0f} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
