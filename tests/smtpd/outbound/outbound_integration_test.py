#!/usr/bin/python3
"""tests/smtpd/outbound/outbound_integration_test.py: the real queue runner (through
outbound_fixture, on the real store) delivering to a fake remote MX written here with
asyncio (stdlib only) on a loopback port, reached through smtpd.relay_host or the transport map.

Covers: a successful delivery (bytes, envelope, trace, mail log, entry removed); a 4xx that is
retried with backoff and delivered after a flush; a 5xx bounced as an RFC 3464 DSN into the
local sender's INBOX (read back from the store); expiry after the queue lifetime; no DSN for
a null sender; a DSN for a remote sender queued with the null reverse-path and delivered;
per-domain transport map; opportunistic STARTTLS.
"""
import asyncio
import os
import sys
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

BIN = os.environ.get("TSUBAME_BIN", os.path.join(os.path.dirname(__file__), "../../../build/bin"))
FIXTURE = os.path.join(BIN, "outbound_fixture")

CONTENT = (b"From: alice@local.test\r\nTo: bob@remote.test\r\nSubject: outbound test\r\n"
           b"Message-ID: <1@local.test>\r\n\r\nHello.\r\n.leading dot\r\n")


class FakeMx:
    """A small ESMTP server: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, DSN and
    (with a certificate) STARTTLS. RCPT replies by local part: temp* -> 451, perm* -> 550
    (unless accept_all), anything else -> 250. Records every transaction."""

    def __init__(self, cert=None, key=None, chunking=False, broken_tls=False):
        self.chunking = chunking
        self.broken_tls = broken_tls
        self.messages = []
        self.commands = []
        self.accept_all = False
        self.ssl_ctx = None
        if cert:
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self.handle, "127.0.0.1", 0), self.loop)
        self.server = fut.result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def rcpt_reply(self, addr):
        local = addr.split("@")[0]
        if not self.accept_all and local.startswith("temp"):
            return b"451 4.2.1 mailbox busy, try later\r\n"
        if not self.accept_all and local.startswith("perm"):
            return b"550 5.1.1 no such user here\r\n"
        return b"250 2.1.5 ok\r\n"

    async def handle(self, reader, writer):
        tls = False
        mail_from, rcpts = None, []
        writer.write(b"220 mx.remote.test ESMTP fake\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                self.commands.append(cmd)
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    exts = ["PIPELINING", "SIZE 10000000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"]
                    if (self.ssl_ctx or self.broken_tls) and not tls:
                        exts.append("STARTTLS")
                    if self.chunking:
                        exts.append("CHUNKING")
                    lines = ["mx.remote.test hello"] + exts
                    out = "".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                                  for i, l in enumerate(lines))
                    writer.write(out.encode())
                elif verb == "STAR" and self.broken_tls:
                    writer.write(b"220 2.0.0 ready to start TLS\r\n")
                    await writer.drain()
                    writer.write(b"this is not a TLS server hello\r\n" * 4)  # handshake fails
                    await writer.drain()
                    break
                elif verb == "STAR" and self.ssl_ctx and not tls:
                    writer.write(b"220 2.0.0 ready to start TLS\r\n")
                    await writer.drain()
                    await writer.start_tls(self.ssl_ctx)
                    tls = True
                    mail_from, rcpts = None, []
                elif verb == "MAIL":
                    mail_from = cmd[cmd.index("<") + 1:cmd.index(">")]
                    rcpts = []
                    writer.write(b"250 2.1.0 ok\r\n")
                elif verb == "RCPT":
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    reply = self.rcpt_reply(addr)
                    if len(rcpts) >= 100:  # RFC 5321 §4.5.3.1.10
                        reply = b"452 4.5.3 too many recipients\r\n"
                    if reply.startswith(b"250"):
                        rcpts.append(addr)
                    writer.write(reply)
                elif verb == "DATA":
                    if not rcpts:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    data = b""
                    while True:
                        l = await reader.readline()
                        if not l or l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]  # RFC 5321 §4.5.2
                        data += l
                    self.messages.append({"from": mail_from, "rcpts": list(rcpts), "data": data,
                                          "tls": tls, "command": [c for c in self.commands if c.startswith("MAIL")][-1]})
                    writer.write(b"250 2.0.0 queued as FAKE%d\r\n" % len(self.messages))
                elif verb == "BDAT" and self.chunking:
                    parts = cmd.split()
                    data = await reader.readexactly(int(parts[1]))  # RFC 3030: counted, no dots
                    if not rcpts:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                    else:
                        self.messages.append({"from": mail_from, "rcpts": list(rcpts), "data": data, "tls": tls,
                                              "command": [c for c in self.commands if c.startswith("MAIL")][-1]})
                        writer.write(b"250 2.0.0 queued as FAKE%d\r\n" % len(self.messages))
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 bye\r\n")
                    await writer.drain()
                    break
                elif verb in ("RSET", "NOOP"):
                    writer.write(b"250 2.0.0 ok\r\n")
                else:
                    writer.write(b"500 5.5.2 unknown command\r\n")
                await writer.drain()
        finally:
            writer.close()


def fixture(*args, stdin=None):
    r = subprocess.run([FIXTURE] + [str(a) for a in args], input=stdin, capture_output=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("outbound_fixture %s failed: %s" % (args, r.stderr.decode(errors="replace")))
    return r.stdout


def parse_stats(out):
    keys = ["attempts", "delivered", "deferred", "bounced", "dsn_sent"]
    return dict(zip(keys, map(int, out.split())))


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
from tsubame_test import free_port, start_daemon  # noqa: E402  (shared: ports below the ephemeral range)


class OutboundTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tsubame-outbound-")
        fixture("init", self.dir)
        self.mx = FakeMx()

    def tearDown(self):
        self.mx.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def enqueue(self, sender, rcpts, *extra, content=CONTENT):
        return fixture("enqueue", self.dir, sender, rcpts, *extra, stdin=content).decode().strip()

    def run_runner(self, *args, port=None):
        return parse_stats(fixture("run", self.dir, "--relay", "127.0.0.1:%d" % (port or self.mx.port),
                                   "--timeout", "20", *args))

    def show(self, qid):
        return fixture("show", self.dir, qid).decode()

    def inbox(self, address):
        out = fixture("inbox", self.dir, address)
        msgs = []
        while out:
            nl = out.index(b"\n")
            n = int(out[:nl])
            msgs.append(out[nl + 1:nl + 1 + n])
            out = out[nl + 1 + n:]
        return msgs

    def mail_log(self):
        with open(os.path.join(self.dir, "mail.log"), encoding="utf-8", errors="replace") as f:
            return f.read()

    def test_successful_delivery_is_recorded_and_removed(self):
        qid = self.enqueue("alice@local.test", "bob@remote.test")
        stats = self.run_runner()
        self.assertEqual(stats["delivered"], 1)
        self.assertEqual(len(self.mx.messages), 1)
        m = self.mx.messages[0]
        self.assertEqual(m["from"], "alice@local.test")
        self.assertEqual(m["rcpts"], ["bob@remote.test"])
        self.assertEqual(m["data"], CONTENT)  # byte for byte, dot-stuffing undone
        self.assertIn("SIZE=%d" % len(CONTENT), m["command"])
        self.assertEqual(self.show(qid).strip(), "gone")
        trace = fixture("trace", self.dir, qid).decode()
        self.assertIn("out delivered 127.0.0.1[127.0.0.1]:%d" % self.mx.port, trace)
        log = self.mail_log()
        self.assertIn("%s: to=<bob@remote.test>, relay=127.0.0.1[127.0.0.1]:%d" % (qid, self.mx.port), log)
        self.assertIn("status=sent (250 2.0.0 queued as FAKE1)", log)

    def test_temporary_failure_is_retried_with_backoff(self):
        qid = self.enqueue("alice@local.test", "temp-bob@remote.test")
        stats = self.run_runner()
        self.assertEqual((stats["deferred"], stats["delivered"], stats["bounced"]), (1, 0, 0))
        shown = self.show(qid)
        self.assertIn("temp-bob@remote.test pending 451 4.2.1 mailbox busy", shown)
        self.assertIn("attempts=1", shown)
        next_in = int(shown.split("next_in=")[1].split()[0])
        self.assertTrue(200 <= next_in <= 300, shown)  # first backoff step: 5 minutes
        # Not due yet: a scan now does nothing.
        self.assertEqual(self.run_runner()["attempts"], 0)
        # `tsubame queue flush`, and the remote now accepts.
        self.mx.accept_all = True
        self.assertEqual(fixture("flush", self.dir).decode().strip(), "1")
        stats = self.run_runner()
        self.assertEqual(stats["delivered"], 1)
        self.assertEqual(self.show(qid).strip(), "gone")
        self.assertEqual(self.mx.messages[-1]["rcpts"], ["temp-bob@remote.test"])
        trace = fixture("trace", self.dir, qid).decode()
        self.assertIn("out deferred", trace)
        self.assertIn("out delivered", trace)

    def test_permanent_failure_bounces_into_local_senders_inbox(self):
        qid = self.enqueue("alice@local.test", "perm-bob@remote.test,carol@remote.test")
        stats = self.run_runner()
        self.assertEqual((stats["delivered"], stats["bounced"], stats["dsn_sent"]), (1, 1, 1))
        self.assertEqual(self.show(qid).strip(), "gone")
        msgs = self.inbox("alice@local.test")
        self.assertEqual(len(msgs), 1)
        dsn = msgs[0]
        self.assertTrue(dsn.startswith(b"Return-Path: <>\r\n"), dsn[:100])
        self.assertIn(b"Content-Type: multipart/report; report-type=delivery-status;", dsn)
        self.assertIn(b"Content-Type: message/delivery-status", dsn)
        self.assertIn(b"Reporting-MTA: dns; mx.local.test\r\n", dsn)
        self.assertIn(b"Arrival-Date: ", dsn)
        self.assertIn(b"Final-Recipient: rfc822; perm-bob@remote.test\r\n", dsn)
        self.assertIn(b"Action: failed\r\n", dsn)
        self.assertIn(b"Status: 5.1.1\r\n", dsn)
        self.assertIn(b"Remote-MTA: dns; 127.0.0.1\r\n", dsn)
        self.assertIn(b"Diagnostic-Code: smtp; 550 5.1.1 no such user here\r\n", dsn)
        self.assertNotIn(b"Final-Recipient: rfc822; carol@remote.test", dsn)  # delivered: no DSN
        self.assertIn(b"Content-Type: message/rfc822", dsn)
        self.assertIn(b"Subject: outbound test", dsn)
        self.assertIn(b"To: <alice@local.test>", dsn)
        self.assertIn("status=bounced", self.mail_log())

    def test_ret_hdrs_returns_headers_only(self):
        self.enqueue("alice@local.test", "perm-x@remote.test", "FAILURE", "HDRS", "ENV42")
        self.run_runner()
        dsn = self.inbox("alice@local.test")[0]
        self.assertIn(b"text/rfc822-headers", dsn)
        self.assertIn(b"Original-Envelope-Id: ENV42", dsn)
        self.assertNotIn(b"leading dot", dsn)
        # DSN parameters were passed on to a server that offers DSN (RFC 3461).
        self.assertIn("RET=HDRS ENVID=ENV42", " ".join(self.mx.commands))
        self.assertIn("NOTIFY=FAILURE", " ".join(self.mx.commands))

    def test_notify_never_gets_no_dsn(self):
        qid = self.enqueue("alice@local.test", "perm-x@remote.test", "NEVER")
        stats = self.run_runner()
        self.assertEqual((stats["bounced"], stats["dsn_sent"]), (1, 0))
        self.assertEqual(self.show(qid).strip(), "gone")
        self.assertEqual(self.inbox("alice@local.test"), [])

    def test_null_sender_is_never_bounced(self):
        qid = self.enqueue("", "perm-x@remote.test")
        stats = self.run_runner()
        self.assertEqual((stats["bounced"], stats["dsn_sent"]), (1, 0))
        self.assertEqual(self.show(qid).strip(), "gone")
        self.assertEqual(self.inbox("alice@local.test"), [])
        self.assertIn("MAIL FROM:<>", " ".join(self.mx.commands))

    def test_queue_lifetime_expiry_bounces(self):
        qid = self.enqueue("alice@local.test", "temp-x@remote.test")
        stats = self.run_runner("--lifetime", "3600", "--clock-offset", "7200")
        self.assertEqual((stats["bounced"], stats["dsn_sent"]), (1, 1))
        self.assertEqual(self.show(qid).strip(), "gone")
        dsn = self.inbox("alice@local.test")[0]
        self.assertIn(b"Action: failed\r\n", dsn)
        self.assertIn(b"Status: 4.2.1\r\n", dsn)
        self.assertIn(b"Diagnostic-Code: smtp; 451 4.2.1 mailbox busy", dsn)
        self.assertIn("status=expired", self.mail_log())

    def test_remote_sender_gets_a_queued_dsn_with_null_reverse_path(self):
        qid = self.enqueue("dave@elsewhere.test", "perm-x@remote.test")
        stats = self.run_runner()
        self.assertEqual(stats["dsn_sent"], 1)
        self.assertEqual(self.show(qid).strip(), "gone")
        stats = self.run_runner()  # delivers the DSN itself through the relay
        self.assertEqual(stats["delivered"], 1)
        dsn = self.mx.messages[-1]
        self.assertEqual(dsn["from"], "")
        self.assertEqual(dsn["rcpts"], ["dave@elsewhere.test"])
        self.assertIn(b"report-type=delivery-status", dsn["data"])
        self.assertIn(b"Final-Recipient: rfc822; perm-x@remote.test", dsn["data"])

    def test_transport_map_routes_per_domain(self):
        dead = free_port()
        tmap = os.path.join(self.dir, "transport")
        with open(tmap, "w") as f:
            f.write("# test map\nremote.test 127.0.0.1:%d\n.dead.test [127.0.0.1]:%d\n" % (self.mx.port, dead))
        qid = self.enqueue("alice@local.test", "bob@remote.test,carol@mx.dead.test")
        # The relay host points nowhere useful: the map wins for both domains.
        stats = parse_stats(fixture("run", self.dir, "--transport", tmap, "--relay", "127.0.0.1:%d" % dead,
                                    "--timeout", "20"))
        self.assertEqual((stats["delivered"], stats["deferred"]), (1, 1))
        self.assertEqual(self.mx.messages[0]["rcpts"], ["bob@remote.test"])
        shown = self.show(qid)
        self.assertIn("bob@remote.test delivered", shown)
        self.assertIn("carol@mx.dead.test pending", shown)
        self.assertIn("connection", shown.split("carol@mx.dead.test pending")[1].splitlines()[0])

    def test_every_address_of_a_host_is_tried(self):
        # "localhost" may resolve to ::1 and 127.0.0.1; the fake MX listens on 127.0.0.1 only,
        # so a refused ::1 must lead on to the next address, not to a deferral.
        qid = self.enqueue("alice@local.test", "bob@remote.test")
        stats = parse_stats(fixture("run", self.dir, "--relay", "localhost:%d" % self.mx.port, "--timeout", "20"))
        self.assertEqual(stats["delivered"], 1)
        self.assertEqual(self.show(qid).strip(), "gone")

    def test_concurrent_delivery_limit(self):
        ids = [self.enqueue("alice@local.test", "bob%d@remote.test" % i) for i in range(3)]
        stats = self.run_runner("--max-deliveries", "1")
        self.assertEqual(stats["delivered"], 1)
        gone = [q for q in ids if self.show(q).strip() == "gone"]
        self.assertEqual(gone, ids[:1])  # oldest first
        stats = self.run_runner()
        self.assertEqual(stats["delivered"], 2)
        self.assertTrue(all(self.show(q).strip() == "gone" for q in ids))

    def test_chunking_sends_bdat(self):
        self.mx.close()
        self.mx = FakeMx(chunking=True)
        qid = self.enqueue("alice@local.test", "bob@remote.test,perm-x@remote.test")
        stats = self.run_runner()
        self.assertEqual((stats["delivered"], stats["bounced"]), (1, 1))
        self.assertEqual(self.mx.messages[0]["data"], CONTENT)  # counted bytes, no dot-stuffing
        self.assertEqual(self.mx.messages[0]["rcpts"], ["bob@remote.test"])
        self.assertIn("BDAT %d LAST" % len(CONTENT), self.mx.commands)
        self.assertNotIn("DATA", self.mx.commands)
        self.assertEqual(self.show(qid).strip(), "gone")

    def test_more_than_100_recipients_go_in_several_sessions(self):
        rcpts = ["r%03d@remote.test" % i for i in range(150)]
        qid = self.enqueue("alice@local.test", ",".join(rcpts))
        stats = self.run_runner()
        self.assertEqual((stats["delivered"], stats["deferred"]), (150, 0))
        self.assertEqual(stats["attempts"], 2)
        self.assertEqual([len(m["rcpts"]) for m in self.mx.messages], [100, 50])
        self.assertEqual(sorted(self.mx.messages[0]["rcpts"] + self.mx.messages[1]["rcpts"]), rcpts)
        self.assertEqual(self.show(qid).strip(), "gone")

    def test_bad_routing_settings_refuse_to_start(self):
        r = subprocess.run([FIXTURE, "run", self.dir, "--transport", os.path.join(self.dir, "missing")],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"transport map", r.stderr)
        r = subprocess.run([FIXTURE, "run", self.dir, "--relay", "bad host:x"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"smtpd.relay_host", r.stderr)

    def test_failed_tls_handshake_is_retried_in_clear(self):
        self.mx.close()
        self.mx = FakeMx(broken_tls=True)
        qid = self.enqueue("alice@local.test", "bob@remote.test")
        stats = self.run_runner("--tls")
        self.assertEqual((stats["delivered"], stats["attempts"]), (1, 2))
        self.assertFalse(self.mx.messages[0]["tls"])
        self.assertEqual(self.mx.commands.count("STARTTLS"), 1)  # not asked again in clear
        self.assertIn("TLS handshake failed", self.mail_log())
        self.assertEqual(self.show(qid).strip(), "gone")

    def test_opportunistic_starttls(self):
        self.mx.close()
        self.mx = FakeMx(os.path.join(self.dir, "tls/cert.pem"), os.path.join(self.dir, "tls/key.pem"))
        qid = self.enqueue("alice@local.test", "bob@remote.test")
        stats = self.run_runner("--tls")
        self.assertEqual(stats["delivered"], 1)
        self.assertTrue(self.mx.messages[0]["tls"])
        self.assertEqual(self.mx.messages[0]["data"], CONTENT)
        self.assertEqual(self.mx.commands.count("EHLO mx.local.test"), 2)  # again after TLS
        self.assertIn("%s: TLS with 127.0.0.1[127.0.0.1]:%d: TLSv1.3" % (qid, self.mx.port), self.mail_log())
        self.assertIn("unverified", self.mail_log())  # self-signed: logged, delivered anyway


if __name__ == "__main__":
    unittest.main(verbosity=2)
