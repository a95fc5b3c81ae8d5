"""Shared helpers of the Python integration tests (ctest runs them in parallel).

Ports: `free_port()` probes a port from 20000-32767, below Linux's ephemeral range
(32768-60999). A port handed out by bind(0) comes from the ephemeral range, which every
outgoing connection of every parallel test also draws from, so a probed-then-closed
ephemeral port could be taken by some client socket before the daemon binds it. Ports below
that range are only taken by other tests' daemons, which `start_daemon` detects.

Daemons: `start_daemon` counts a daemon as started only when it logged "<name>: ready" and
is still alive and its ports answer. A port that merely answers may belong to another test's
daemon. When the daemon exits before it is ready (a port was taken meanwhile),
`start_daemon` returns None and the caller retries with fresh ports (`start_with_retry`).

Environment (set by ctest's tsubame_pytest): TSUBAME_BIN, the build's bin directory.
"""
import os
import random
import signal
import socket
import ssl
import subprocess
import time

BIN = os.environ.get("TSUBAME_BIN",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin"))

PORT_LOW, PORT_HIGH = 20000, 32767
_handed_out = set()


def free_port():
    """A loopback TCP port that was free when probed, never the same twice in one process."""
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randint(PORT_LOW, PORT_HIGH)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free loopback port in %d-%d" % (PORT_LOW, PORT_HIGH))


def tls_client_context():
    """A client TLS context that accepts the test installation's self-signed certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def write_imapd_fixture_config(directory, imap_port, imaps_port, extra=""):
    """Writes DIR/tsubame.conf for tsubame-imapd over an `imapd_fixture init DIR` store (its
    data/, master.key and tls/ files), listening on the two loopback ports; `extra` lines are
    appended to the [imapd] section. Returns the path."""
    conf = os.path.join(directory, "tsubame.conf")
    with open(conf, "w") as f:
        f.write(f"""[general]
data_dir = data
key_file = master.key
[log]
level = info
mail_log =
[tls]
cert_file = tls/cert.pem
key_file = tls/key.pem
[imapd]
listen_imap = 127.0.0.1:{imap_port}
listen_imaps = 127.0.0.1:{imaps_port}
""" + extra)
    return conf


def start_daemon(name, conf, ports, log, timeout=120, extra_args=()):
    """Starts BIN/name --config conf, output appended to the open file `log`. Returns the
    Popen once the daemon logged "<short name>: ready", is alive and every port in `ports`
    accepts a connection; None if it exited first (e.g. a port was taken). Raises when it
    is not ready within `timeout` seconds (the process is killed)."""
    proc = subprocess.Popen([os.path.join(BIN, name), "--config", conf, *extra_args],
                            stdout=log, stderr=log)
    short = name.replace("tsubame-", "")
    marker = "%s: ready" % short
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            return None
        with open(log.name, errors="replace") as f:
            ready = marker in f.read()
        if ready:
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc
            except OSError:
                pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("%s did not become ready; see %s" % (name, log.name))
        time.sleep(0.05)


def start_with_retry(configure, name, log, attempts=5, timeout=120):
    """configure() picks fresh ports, writes the config and returns (conf_path, ports);
    then start_daemon. Retries when a port was taken between the probe and the bind."""
    for _ in range(attempts):
        conf, ports = configure()
        proc = start_daemon(name, conf, ports, log, timeout=timeout)
        if proc is not None:
            return proc, ports
    raise RuntimeError("%s failed to start %d times; see %s" % (name, attempts, log.name))


def stop_daemon(proc, timeout=20):
    """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
