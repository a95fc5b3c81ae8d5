#!/usr/bin/env bash
# bench/imap/run.sh: the IMAP benchmark (issue 5, item 8).
#
# APPEND, FETCH, SEARCH and STORE operations per second with 1, 10 and 50 clients, and memory
# per idle connection, against tsubame-imapd and Dovecot (Debian's dovecot-imapd, as shipped:
# maildir, fsync optimized, high-security login processes, no FTS), in this one run, with the
# same load from bench/imap/load.py (what each phase does is described there). Prints a table
# with Tsubame / Dovecot ratios. Nothing here is a test: it only measures.
#
# Every daemon runs from a temp dir (BENCH_KEEP=1 keeps it) with its own configuration on
# loopback; plaintext LOGIN is allowed on loopback for the benchmark. Needs root (Dovecot's
# master; its mail processes run as nobody) and dovecot-core + dovecot-imapd (installed if
# missing, services kept from starting).
#
# Environment:
#   BENCH_ENGINES        "tsubame dovecot" (default: both)
#   BENCH_IMAP_CLIENTS   client counts (default "1 10 50")
#   BENCH_IMAP_USERS     users, client i logs in as user i mod USERS (default 50)
#   BENCH_IMAP_MESSAGES  messages each client APPENDs, then works on (default 200)
#   BENCH_IMAP_FETCH / _SEARCH / _STORE   operations per phase, split over the clients
#                        (default 4000 / 1000 / 4000)
#   BENCH_IMAP_IDLE      idle connections for the memory figure (default 200; 0: skip)
#   BENCH_IMAP_PROCS     load generator processes (default 2)
#   BENCH_DOVECOT_FSYNC_ALWAYS  1: also measure a second Dovecot with mail_fsync = always
#                        (fsyncs every change, flags included: Tsubame's durability), shown
#                        as an extra "fsync=always" row under each operation (default 0;
#                        the default run is unchanged). Operations only, no idle figure.
#   TSUBAME_BIN          directory with tsubame and tsubame-imapd (default: build them,
#                        Release, in build-bench/ at -j2)
#   BENCH_DOVECOT_IMAP_PORT, BENCH_TSUBAME_IMAP_PORT (12143, 12144)
# If Tsubame does not build or start, its half is skipped with a message and Dovecot is
# still measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/imap/peers.sh"

engines=${BENCH_ENGINES:-"tsubame dovecot"}
want() { [[ " $engines " == *" $1 "* ]]; }
nusers=${BENCH_IMAP_USERS:-50}
dc_port=${BENCH_DOVECOT_IMAP_PORT:-12143}
ts_port=${BENCH_TSUBAME_IMAP_PORT:-12144}
domain=bench.test
password=Kq7-swallow-42-bench

work=$(mktemp -d "${TMPDIR:-/var/tmp}/tsubame-bench-imap.XXXXXX")   # real disk, not tmpfs
chmod 755 "$work"
ts_pid=
cleanup() {
  [ -n "$ts_pid" ] && { kill "$ts_pid" 2>/dev/null || true; wait "$ts_pid" 2>/dev/null || true; }
  dovecot_stop "$work/dovecot"
  dovecot_stop "$work/dovecot-always"
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
: > "$work/results"
for i in $(seq "$nusers"); do echo "u$i@$domain $password"; done > "$work/users"

clients=${BENCH_IMAP_CLIENTS:-"1 10 50"}
idle=${BENCH_IMAP_IDLE:-200}
top=$(printf '%s\n' $clients | sort -n | tail -1)

# load NAME PORT SERVER_PID ARGS...: the same load for every server; errors are reported, not fatal.
load() {
  local name=$1 port=$2 pid=$3; shift 3
  python3 "$root/bench/imap/load.py" --name "$name" --port "$port" --server-pid "$pid" \
    --users "$work/users" --messages "${BENCH_IMAP_MESSAGES:-200}" \
    --fetch "${BENCH_IMAP_FETCH:-4000}" --search "${BENCH_IMAP_SEARCH:-1000}" \
    --store "${BENCH_IMAP_STORE:-4000}" --procs "${BENCH_IMAP_PROCS:-2}" "$@" \
    | tee -a "$work/results" | sed -u 's/^/   /' \
    || echo "   $name: the load generator reported errors (above); figures may be partial"
}
# The phases, then memory per idle connection on a freshly restarted server (selecting the
# mailboxes the largest client count filled).
load_ops() { load "$1" "$2" "$3" --clients "$clients" --idle 0; }
load_idle() {
  [ "$idle" -gt 0 ] || return 0
  load "$1" "$2" "$3" --clients "" --idle "$idle" --idle-level "${top:-0}"
}

# ---------------------------------------------------------------- Tsubame
# run_tsubame: returns early (after saying why) when Tsubame cannot be built or started.
run_tsubame() {
  local bin=${TSUBAME_BIN:-} ts="$work/tsubame" i
  if [ -z "$bin" ]; then
    bin=$root/build-bench/bin
    tsubame_build "$root" "$root/build-bench" "$work/build.log" tsubame tsubame-imapd || bin=
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/tsubame" ] || [ ! -x "$bin/tsubame-imapd" ]; then
    echo "   SKIPPED: tsubame and tsubame-imapd not built or not in ${bin:-build-bench/bin}; measuring Dovecot only"; return
  fi
  bench_port_free "$ts_port" || { echo "   SKIPPED: port $ts_port in use"; return 0; }
  tsubame_setup "$bin/tsubame" "$ts" "$domain" &&
    tsubame_conf "$ts/tsubame.conf" imapd.listen_imap "127.0.0.1:$ts_port" ||
    { echo "   SKIPPED: setting up the Tsubame installation failed"; return; }
  # The bench logs in with plaintext LOGIN on loopback (as with Dovecot): the domain's
  # per-domain policy must allow it (binaries without `tsubame security` have no such policy).
  if "$bin/tsubame" security --help >/dev/null 2>&1; then
    "$bin/tsubame" --config "$ts/tsubame.conf" security set "$domain" tls_required no >/dev/null ||
      { echo "   SKIPPED: tsubame security set $domain tls_required no failed"; return; }
  fi
  for i in $(seq "$nusers"); do
    tsubame_add_user "$bin/tsubame" "$ts" "u$i@$domain" "$password" ||
      { echo "   SKIPPED: tsubame user add failed"; return; }
  done
  "$bin/tsubame-imapd" --config "$ts/tsubame.conf" >"$ts/imapd.log" 2>&1 & ts_pid=$!
  if ! bench_wait_port "$ts_port" 60; then
    echo "   SKIPPED: tsubame-imapd did not start:"; tail -20 "$ts/imapd.log"
    kill "$ts_pid" 2>/dev/null || true; ts_pid=; return
  fi
  load_ops tsubame "$ts_port" "$ts_pid"
  kill "$ts_pid"; wait "$ts_pid" 2>/dev/null || true; ts_pid=
  "$bin/tsubame-imapd" --config "$ts/tsubame.conf" >>"$ts/imapd.log" 2>&1 & ts_pid=$!
  bench_wait_port "$ts_port" 60 || { echo "   tsubame-imapd did not restart"; return 0; }
  load_idle tsubame "$ts_port" "$ts_pid"
  kill "$ts_pid"; wait "$ts_pid" 2>/dev/null || true; ts_pid=
}
if want tsubame; then
  echo "== Tsubame"
  run_tsubame
fi

# ---------------------------------------------------------------- Dovecot
if want dovecot; then
  echo "== Dovecot"
  bench_need dovecot-core dovecot-imapd
  bench_port_free "$dc_port"
  dovecot_setup "$work/dovecot" "$dc_port" 0
  for i in $(seq "$nusers"); do dovecot_add_user "$work/dovecot" "u$i@$domain" "$password"; done
  dovecot_start "$work/dovecot" "$dc_port"
  load_ops dovecot "$dc_port" "$(dovecot_pid "$work/dovecot")"
  dovecot_stop "$work/dovecot"
  dovecot_start "$work/dovecot" "$dc_port"
  load_idle dovecot "$dc_port" "$(dovecot_pid "$work/dovecot")"
  dovecot_stop "$work/dovecot"
fi

# A second Dovecot with mail_fsync = always (equal durability), on request.
if want dovecot && [ "${BENCH_DOVECOT_FSYNC_ALWAYS:-0}" = 1 ]; then
  echo "== Dovecot (mail_fsync = always)"
  dovecot_setup "$work/dovecot-always" "$dc_port" 0
  sed -i "s/^instance_name = .*/&-always/" "$work/dovecot-always/dovecot.conf"
  echo "mail_fsync = always" >> "$work/dovecot-always/dovecot.conf"
  for i in $(seq "$nusers"); do dovecot_add_user "$work/dovecot-always" "u$i@$domain" "$password"; done
  dovecot_start "$work/dovecot-always" "$dc_port"
  load_ops dovecot-fsync "$dc_port" "$(dovecot_pid "$work/dovecot-always")"
  dovecot_stop "$work/dovecot-always"
fi

# ---------------------------------------------------------------- report
python3 - "$work/results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ops = {(r["server"], r["op"], r["clients"]): r for r in rows if r["op"] != "idle"}
idle = {r["server"]: r for r in rows if r["op"] == "idle"}
print("\noperations/s (higher is better)")
print("%-7s %7s %12s %12s %8s" % ("op", "clients", "Tsubame", "Dovecot", "ratio"))
for op in ("APPEND", "FETCH", "SEARCH", "STORE"):
    for c in sorted({k[2] for k in ops}):
        t, d = ops.get(("tsubame", op, c)), ops.get(("dovecot", op, c))
        if not t and not d:
            continue
        cell = lambda r: ("%.1f" % r["ops_per_second"] + ("!" if r["errors"] else "")) if r else "-"
        ratio = "%.2fx" % (t["ops_per_second"] / d["ops_per_second"]) if t and d and d["ops_per_second"] else "-"
        print("%-7s %7d %12s %12s %8s" % (op, c, cell(t), cell(d), ratio))
    for c in sorted({k[2] for k in ops}):  # BENCH_DOVECOT_FSYNC_ALWAYS=1: equal durability
        t, d = ops.get(("tsubame", op, c)), ops.get(("dovecot-fsync", op, c))
        if not d:
            continue
        ratio = "%.2fx" % (t["ops_per_second"] / d["ops_per_second"]) if t and d["ops_per_second"] else "-"
        print("%-7s %7d %12s %12s %8s  (Dovecot mail_fsync=always)" % ("", c, cell(t), cell(d), ratio))
if idle:
    print("\nmemory per idle connection (LOGIN + SELECT), KiB (lower is better)")
    print("%-5s %12s %12s %14s" % ("", "Tsubame", "Dovecot", "Dovecot/Tsubame"))
    t, d = idle.get("tsubame"), idle.get("dovecot")
    for key, label in (("rss_kib_per_connection", "RSS"), ("pss_kib_per_connection", "PSS"),
                       ("uss_kib_per_connection", "USS"), ("anon_kib_per_connection", "Anon")):
        if (t and key not in t) or (d and key not in d):
            continue
        ratio = "%.1fx" % (d[key] / t[key]) if t and d and t[key] > 0 else "-"
        print("%-5s %12s %12s %14s" % (label, "%.1f" % t[key] if t else "-", "%.1f" % d[key] if d else "-", ratio))
    for name, r in idle.items():
        print("  %s: %d connections; RSS %d -> %d KiB, PSS %d -> %d KiB, USS %d -> %d KiB, processes %d -> %d%s" % (
            name, r["connections"], r["rss_kib_before"], r["rss_kib_after"], r["pss_kib_before"],
            r["pss_kib_after"], r["uss_kib_before"], r["uss_kib_after"], r["processes_before"], r["processes_after"],
            ", %d failed" % r["errors"] if r["errors"] else ""))
PY
