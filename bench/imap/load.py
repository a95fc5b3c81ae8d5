#!/usr/bin/python3
"""bench/imap/load.py: the IMAP load generator of bench/imap/run.sh (Python stdlib only).

Gives any IMAP server exactly the same load: for each client count C (default 1, 10, 50),
C connections (one per client, client i logs in as user i mod U and works in its own new
mailbox b<C>x<i>), spread over --procs worker processes running asyncio, and four timed
phases, each started and ended on a barrier across all workers (so connecting, LOGIN,
CREATE and SELECT are never timed):

  APPEND  each client appends --messages messages (about 4 KiB, deterministic text from a
          fixed seed; every other one \\Seen) with a synchronizing literal.
  FETCH   --fetch operations in all, split over the clients:
          FETCH n (FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY.PEEK[]), n random.
  SEARCH  --search operations in all: SEARCH with one of six criteria in turn (FROM,
          SUBJECT, BODY word, UNSEEN, SINCE+LARGER, OR FLAGGED TO).
  STORE   --store operations in all: STORE n +FLAGS (\\Flagged) / -FLAGS in turn, n random.

Operations per second = operations of the phase / wall time between its two barriers.

Then (or alone, with --clients "") memory per idle connection (--idle N): RSS, PSS (shared
pages divided among the processes that map them), USS (private pages) and anonymous memory
(heap and stacks, without mapped files) of the server's
process tree (--server-pid and all its descendants) before, and 2 s after, N connections
that each did LOGIN and SELECT of a mailbox with --messages messages, divided by N. Run it
on a freshly started server (bench/imap/run.sh restarts both servers for it): a
single-process server would otherwise reuse the memory the phases freed, and hide the cost
of new sessions.

Every command must end in a tagged OK; a NO, BAD or lost connection is counted as an error
and makes the exit status 1 (the figures are still printed). Output: one JSON line per
phase and client count, and one for the idle test.

Usage: load.py --port P --users FILE (lines "address password") --name NAME
               [--clients "1 10 50"] [--messages 200] [--fetch 4000] [--search 1000]
               [--store 4000] [--procs 2] [--idle 200 --server-pid PID]
"""
import argparse
import asyncio
import json
import math
import multiprocessing as mp
import os
import random
import re
import sys
import time

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu invoice "
         "meeting report budget quarterly shipment contract review schedule travel tsubame "
         "swallow lantern harbor meadow").split()
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
SEARCHES = ('FROM "alice"', 'SUBJECT "invoice"', 'BODY "lantern"', "UNSEEN",
            "SINCE 1-Jan-2024 LARGER 4000", 'OR FLAGGED TO "bob"')
LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def make_message(rng, k):
    """About 4 KiB of plain text mail, from the generator rng."""
    subject = " ".join(rng.choice(WORDS) for _ in range(4))
    frm, to = rng.choice(NAMES), rng.choice(NAMES)
    day = 1 + k % 28
    head = (f"From: {frm.title()} <{frm}@example.org>\r\nTo: {to.title()} <{to}@bench.test>\r\n"
            f"Subject: {subject}\r\nDate: Mon, {day:02d} Jan 2024 10:{k % 60:02d}:00 +0000\r\n"
            f"Message-ID: <bench-{k}-{rng.randrange(1 << 30)}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n")
    body, size = [], len(head)
    while size < 4096:
        line = " ".join(rng.choice(WORDS) for _ in range(10)) + "\r\n"
        body.append(line)
        size += len(line)
    return (head + "".join(body)).encode()


class ImapError(Exception):
    pass


class Conn:
    """One IMAP connection: commands in sequence, responses read until the tagged line."""

    def __init__(self):
        self.tag = 0
        self.reader = self.writer = None

    async def open(self, host, port):
        self.reader, self.writer = await asyncio.open_connection(host, port, limit=1 << 22)
        greeting = await self.reader.readline()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting[:100]!r}")

    async def _response(self, tag):
        """Reads up to the tagged response; returns (status line, literal octets seen, untagged lines)."""
        literal_bytes, lines = 0, []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ImapError("connection closed by server")
            m = LITERAL.search(line)
            while m:  # a literal inside the response: read it, then the rest of the line
                n = int(m.group(1))
                await self.reader.readexactly(n)
                literal_bytes += n
                line = await self.reader.readline()
                m = LITERAL.search(line)
            if line.startswith(tag + b" "):
                return line, literal_bytes, lines
            lines.append(line)

    async def cmd(self, text, literal=None):
        self.tag += 1
        tag = b"a%d" % self.tag
        if literal is None:
            self.writer.write(tag + b" " + text.encode() + b"\r\n")
        else:
            self.writer.write(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            await self.writer.drain()
            line = await self.reader.readline()
            while line.startswith(b"* "):  # untagged data may come before the continuation
                line = await self.reader.readline()
            if not line.startswith(b"+"):
                raise ImapError(f"{text}: no continuation: {line[:200]!r}")
            self.writer.write(literal + b"\r\n")
        await self.writer.drain()
        status, literal_bytes, lines = await self._response(tag)
        if not status.startswith(tag + b" OK"):
            raise ImapError(f"{text}: {status[:200]!r}")
        return literal_bytes, lines

    async def close(self):
        try:
            await self.cmd("LOGOUT")
        except (ImapError, OSError):
            pass
        self.writer.close()


# ------------------------------------------------------------------------------ workers
async def worker_level(a, users, level, mine, barrier, results):
    """Runs the four phases for this worker's clients (indexes `mine`) at client count `level`."""
    conns, errors = {}, []
    counts = {"APPEND": 0, "FETCH": 0, "SEARCH": 0, "STORE": 0}
    per_client = {"FETCH": math.ceil(a.fetch / level), "SEARCH": math.ceil(a.search / level),
                  "STORE": math.ceil(a.store / level)}

    async def setup(i):
        c = Conn()
        await c.open(a.host, a.port)
        user, password = users[i % len(users)]
        await c.cmd(f'LOGIN "{user}" "{password}"')
        await c.cmd(f"CREATE b{level}x{i}")
        await c.cmd(f"SELECT b{level}x{i}")
        conns[i] = c

    async def guarded(coro):
        try:
            await coro
        except (ImapError, OSError, asyncio.IncompleteReadError) as e:
            errors.append(str(e))

    async def append(i):
        rng = random.Random(1000 * level + i)
        for k in range(a.messages):
            flags = "(\\Seen) " if k % 2 else ""
            await conns[i].cmd(f"APPEND b{level}x{i} {flags}".rstrip(), make_message(rng, k))
            counts["APPEND"] += 1

    async def fetch(i):
        rng = random.Random(i)
        for _ in range(per_client["FETCH"]):
            n, _ = await conns[i].cmd(f"FETCH {rng.randint(1, a.messages)} "
                                      "(FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY.PEEK[])")
            if n < 4000:  # the body is a literal of about 4 KiB
                raise ImapError(f"FETCH returned {n} literal octets")
            counts["FETCH"] += 1

    async def search(i):
        for k in range(per_client["SEARCH"]):
            await conns[i].cmd("SEARCH " + SEARCHES[(i + k) % len(SEARCHES)])
            counts["SEARCH"] += 1

    async def store(i):
        rng = random.Random(i + 7)
        for k in range(per_client["STORE"]):
            op = "+FLAGS" if k % 2 == 0 else "-FLAGS"
            await conns[i].cmd(f"STORE {rng.randint(1, a.messages)} {op} (\\Flagged)")
            counts["STORE"] += 1

    await asyncio.gather(*(guarded(setup(i)) for i in mine))
    for name, fn in (("APPEND", append), ("FETCH", fetch), ("SEARCH", search), ("STORE", store)):
        barrier.wait()
        await asyncio.gather(*(guarded(fn(i)) for i in mine if i in conns))
        barrier.wait()
        if name == "APPEND":  # untimed: make every session see its new messages
            await asyncio.gather(*(guarded(conns[i].cmd("NOOP")) for i in mine if i in conns))
    await asyncio.gather(*(c.close() for c in conns.values()))
    results.put({"counts": counts, "errors": errors[:5], "error_count": len(errors)})


def worker_main(a, users, level, mine, barrier, results):
    asyncio.run(worker_level(a, users, level, mine, barrier, results))


def run_level(a, users, level):
    procs = max(1, min(a.procs, level))
    barrier = mp.Barrier(procs + 1, timeout=a.phase_timeout)
    results = mp.Queue()
    ps = [mp.Process(target=worker_main, args=(a, users, level, list(range(p, level, procs)), barrier, results))
          for p in range(procs)]
    for p in ps:
        p.start()
    times = {}
    for name in ("APPEND", "FETCH", "SEARCH", "STORE"):
        barrier.wait()
        t0 = time.monotonic()
        barrier.wait()
        times[name] = time.monotonic() - t0
    outs = [results.get() for _ in ps]
    for p in ps:
        p.join()
    errors = sum(o["error_count"] for o in outs)
    rows = []
    for name in ("APPEND", "FETCH", "SEARCH", "STORE"):
        ops = sum(o["counts"][name] for o in outs)
        rows.append({"server": a.name, "clients": level, "op": name, "ops": ops,
                     "seconds": round(times[name], 3), "ops_per_second": round(ops / times[name], 1),
                     "errors": errors})
    for o in outs:
        for e in o["errors"]:
            print(f"{a.name}, {level} clients: {e}", file=sys.stderr)
    return rows, errors


# ------------------------------------------------------------------------------ idle memory
def tree(pid):
    """pid and all its descendants (from /proc/*/stat)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kib(pid):
    """(RSS, PSS, USS, process count, anonymous) summed over the process tree of pid, in KiB.
    Anonymous is the heap/stack part of RSS: RSS and USS also count the pages of mapped
    files a process touched (Tsubame's LMDB map; the kernel maps up to 16 neighbouring
    cached pages per fault), which depend on the file's layout and are page cache, not
    memory the connection holds."""
    rss = pss = uss = n = anon = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                        uss += int(line.split()[1])
                    elif line.startswith("Anonymous:"):
                        anon += int(line.split()[1])
            n += 1
        except OSError:
            pass
    return rss, pss, uss, n, anon


async def idle_test(a, users, mailbox_of):
    await asyncio.sleep(1)
    before = memory_kib(a.server_pid)
    conns, errors = [], []
    sem = asyncio.Semaphore(20)  # log in 20 at a time: Dovecot's default login process limits

    async def one(k):
        async with sem:
            c = Conn()
            try:
                await c.open(a.host, a.port)
                user, password = users[k % len(users)]
                await c.cmd(f'LOGIN "{user}" "{password}"')
                await c.cmd(f"SELECT {mailbox_of.get(k % len(users), 'INBOX')}")
                conns.append(c)
            except (ImapError, OSError, asyncio.IncompleteReadError) as e:
                errors.append(str(e))

    await asyncio.gather(*(one(k) for k in range(a.idle)))
    await asyncio.sleep(2)
    after = memory_kib(a.server_pid)
    n = len(conns)
    await asyncio.gather(*(c.close() for c in conns))
    for e in errors[:5]:
        print(f"{a.name}, idle: {e}", file=sys.stderr)
    row = {"server": a.name, "op": "idle", "connections": n, "processes_before": before[3],
           "processes_after": after[3], "errors": len(errors)}
    for k, key in ((0, "rss"), (1, "pss"), (2, "uss"), (4, "anon")):
        row[f"{key}_kib_before"], row[f"{key}_kib_after"] = before[k], after[k]
        row[f"{key}_kib_per_connection"] = round((after[k] - before[k]) / max(n, 1), 1)
    return row, len(errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--clients", default="1 10 50")
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--fetch", type=int, default=4000)
    ap.add_argument("--search", type=int, default=1000)
    ap.add_argument("--store", type=int, default=4000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--idle-level", type=int, help="client count whose mailboxes idle sessions select")
    ap.add_argument("--server-pid", type=int)
    ap.add_argument("--phase-timeout", type=float, default=600, help="seconds a phase may take")
    a = ap.parse_args()
    users = [tuple(l.split()[:2]) for l in open(a.users) if l.strip()]
    bad = 0
    levels = [int(x) for x in a.clients.split()]
    for level in levels:
        rows, errors = run_level(a, users, level)
        bad += errors
        for r in rows:
            print(json.dumps(r), flush=True)
    if a.idle:
        # Idle sessions select a mailbox with messages: the one level --idle-level (default:
        # the largest of --clients) made for that user (client i used user i mod U), or INBOX.
        top = a.idle_level if a.idle_level is not None else max(levels, default=0)
        mailbox_of = {i % len(users): f"b{top}x{i}" for i in range(top)}
        row, errors = asyncio.run(idle_test(a, users, mailbox_of))
        bad += errors
        print(json.dumps(row), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
