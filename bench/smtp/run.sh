#!/usr/bin/env bash
# bench/smtp/run.sh: the SMTP benchmark (issue 4, item 8).
#
# Messages per second accepted and delivered into mailboxes, end to end, driven by Postfix's
# smtp-source (4 KiB payload, one message per connection) at 1, 10 and 50 parallel sessions,
# against tsubame-smtpd (filter on, fsync on: Tsubame's defaults) and against Postfix
# delivering into Dovecot over LMTP (both as shipped, fsync on), in this one run. A run ends
# when the last message is in the mailbox store (bench/smtp/drive.py); each session count
# gets a fresh recipient. Prints a table with Tsubame / peer ratios. Nothing here is a test.
#
# Every daemon runs from a temp dir (BENCH_KEEP=1 keeps it) with its own configuration on
# loopback ports; nothing of the system's mail setup is used or changed. Needs root (Postfix's
# master and Dovecot's start as root; Dovecot's mail processes run as nobody) and Debian's
# postfix, dovecot-core, dovecot-lmtpd (installed if missing, services kept from starting).
#
# Environment:
#   BENCH_ENGINES        "tsubame postfix" (default: both)
#   BENCH_SMTP_SESSIONS  parallel sessions per run (default "1 10 50")
#   BENCH_SMTP_MESSAGES  messages per run (default 5000)
#   BENCH_SMTP_SIZE      payload bytes per message (default 4096)
#   TSUBAME_BIN          directory with tsubame and tsubame-smtpd (default: build them,
#                        Release, in build-bench/ at -j2)
#   BENCH_POSTFIX_PORT, BENCH_LMTP_PORT, BENCH_TSUBAME_SMTP_PORT (12525, 12424, 12526)
# If Tsubame does not build or start, its half is skipped with a message and the peer is
# still measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/bench/imap/peers.sh"

engines=${BENCH_ENGINES:-"tsubame postfix"}
want() { [[ " $engines " == *" $1 "* ]]; }
sessions=${BENCH_SMTP_SESSIONS:-"1 10 50"}
messages=${BENCH_SMTP_MESSAGES:-5000}
size=${BENCH_SMTP_SIZE:-4096}
pf_port=${BENCH_POSTFIX_PORT:-12525}
lmtp_port=${BENCH_LMTP_PORT:-12424}
ts_port=${BENCH_TSUBAME_SMTP_PORT:-12526}
domain=bench.test

work=$(mktemp -d "${TMPDIR:-/var/tmp}/tsubame-bench-smtp.XXXXXX")   # real disk, not tmpfs
chmod 755 "$work"
ts_pid=
cleanup() {
  [ -n "$ts_pid" ] && { kill "$ts_pid" 2>/dev/null || true; wait "$ts_pid" 2>/dev/null || true; }
  postfix_stop "$work/postfix"
  dovecot_stop "$work/dovecot"
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
: > "$work/results"
echo "SMTP benchmark: $messages messages of $size bytes per run, sessions: $sessions; work dir $work"

# drive NAME SESSIONS ARGS...: one run; a failed run is reported and the script goes on.
drive() {
  local name=$1 s=$2; shift 2
  if python3 "$root/bench/smtp/drive.py" --server "$name" --port "$port" --sessions "$s" \
       --messages "$messages" --size "$size" "$@" >> "$work/results"; then
    echo "   $name, $s sessions: $(tail -1 "$work/results")"
  else
    echo "   $name, $s sessions: FAILED: $(tail -1 "$work/results")"
  fi
}

# ---------------------------------------------------------------- Tsubame
# run_tsubame: returns early (after saying why) when Tsubame cannot be built or started.
run_tsubame() {
  local bin=${TSUBAME_BIN:-} ts="$work/tsubame" s
  if [ -z "$bin" ]; then
    bin=$root/build-bench/bin
    tsubame_build "$root" "$root/build-bench" "$work/build.log" tsubame tsubame-smtpd || bin=
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/tsubame" ] || [ ! -x "$bin/tsubame-smtpd" ]; then
    echo "   SKIPPED: tsubame and tsubame-smtpd not built or not in ${bin:-build-bench/bin}; measuring the peer only"; return
  fi
  bench_port_free "$ts_port" || { echo "   SKIPPED: port $ts_port in use"; return 0; }
  tsubame_setup "$bin/tsubame" "$ts" "$domain" &&
    tsubame_conf "$ts/tsubame.conf" smtpd.listen_mx "127.0.0.1:$ts_port" ||
    { echo "   SKIPPED: setting up the Tsubame installation failed"; return; }
  for s in warmup $sessions; do
    tsubame_add_user "$bin/tsubame" "$ts" "s$s@$domain" "Kq7-swallow-42-bench" ||
      { echo "   SKIPPED: tsubame user add failed"; return; }
  done
  "$bin/tsubame-smtpd" --config "$ts/tsubame.conf" >"$ts/smtpd.log" 2>&1 & ts_pid=$!
  if ! bench_wait_port "$ts_port" 60; then
    echo "   SKIPPED: tsubame-smtpd did not start:"; tail -20 "$ts/smtpd.log"
    kill "$ts_pid" 2>/dev/null || true; ts_pid=; return
  fi
  port=$ts_port
  messages=50 drive tsubame-warmup 5 --to "swarmup@$domain" --mail-log "$ts/log/mail.log" \
    --tsubame "$bin/tsubame" "$ts/tsubame.conf" "swarmup@$domain" >/dev/null
  for s in $sessions; do
    drive tsubame "$s" --to "s$s@$domain" --mail-log "$ts/log/mail.log" \
      --tsubame "$bin/tsubame" "$ts/tsubame.conf" "s$s@$domain"
  done
  kill "$ts_pid"; wait "$ts_pid" 2>/dev/null || true; ts_pid=
}
if want tsubame; then
  echo "== Tsubame"
  run_tsubame
fi

# ---------------------------------------------------------------- Postfix + Dovecot
if want postfix; then
  echo "== Postfix into Dovecot (LMTP)"
  bench_need postfix dovecot-core dovecot-lmtpd
  bench_port_free "$pf_port"; bench_port_free "$lmtp_port"
  dovecot_setup "$work/dovecot" 0 "$lmtp_port"
  for s in warmup $sessions; do dovecot_add_user "$work/dovecot" "s$s@$domain" "Kq7-swallow-42-bench"; done
  postfix_setup "$work/postfix" "$pf_port" "$lmtp_port" "$domain"
  dovecot_start "$work/dovecot" "$lmtp_port"
  postfix_start "$work/postfix" "$pf_port"
  port=$pf_port
  maildir() { echo "$work/dovecot/home/s$1@$domain/Maildir"; }
  messages=50 drive postfix-warmup 5 --to "swarmup@$domain" --maildir "$(maildir warmup)" >/dev/null
  for s in $sessions; do
    drive postfix+dovecot "$s" --to "s$s@$domain" --maildir "$(maildir "$s")"
  done
  postfix_stop "$work/postfix"
  dovecot_stop "$work/dovecot"
fi

# ---------------------------------------------------------------- report
python3 - "$work/results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if not r["server"].endswith("-warmup")]
by = {(r["server"], r["sessions"]): r for r in rows}
print("\nmessages/s stored in the mailbox, end to end (accepted/s by smtp-source in brackets)")
print("%8s %22s %22s %8s" % ("sessions", "Tsubame", "Postfix+Dovecot", "ratio"))
def cell(r):
    if not r:
        return "-"
    bad = "" if r["delivered"] == r["messages"] else " (%d/%d!)" % (r["delivered"], r["messages"])
    return "%.1f (%.1f)%s" % (r["delivered_per_second"], r["accepted_per_second"], bad)
for s in sorted({r["sessions"] for r in rows}):
    t, p = by.get(("tsubame", s)), by.get(("postfix+dovecot", s))
    ratio = "%.2fx" % (t["delivered_per_second"] / p["delivered_per_second"]) if t and p and p["delivered_per_second"] else "-"
    print("%8d %22s %22s %8s" % (s, cell(t), cell(p), ratio))
PY
