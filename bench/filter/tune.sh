#!/usr/bin/env bash
# bench/filter/tune.sh [CORPUS_DIR] [EVAL OPTIONS...]: the filter's tuning harness (issue 3).
#
# Cross-validates the whole filter (the rules in conf/rules of this tree, the classifier with
# ClassifierParams' defaults, the policy at the config's junk threshold) on split A ONLY of the
# corpus, in memory: four folds (even -> odd, odd -> even, old -> new, new -> old by file name
# within each class; filter/README.md). Prints false positives (ham junked or worse) and false
# negatives (spam delivered) per fold, and the same out-of-fold verdicts at junk thresholds
# 3 to 12. Split B is never read: it is for the one final measurement (bench/filter/run.sh).
#
# Extra options go to `tsubame filter eval --folds`, e.g.
#   bench/filter/tune.sh ../corpus --misses 20           # list misses with their contributions
#   bench/filter/tune.sh ../corpus --misses 20 --explain 10   # ... and each miss's 10 strongest tokens
#   bench/filter/tune.sh ../corpus --fold-set drift --match-fp 8   # spam by time, ham interleaved (B's shape)
#   bench/filter/tune.sh ../corpus --fold-set campaign --match-fp 8   # no spam campaign on both sides
#   bench/filter/tune.sh ../corpus --fold-set sender --match-fp 8   # no ham sender on both sides
#   bench/filter/tune.sh ../corpus --classifier-alone    # let the classifier junk without a rule
#                                   # (filter.classifier_needs_rule = no; filter/README.md "Policy")
#   bench/filter/tune.sh ../corpus --fit                 # logistic-regression rule weights
#   bench/filter/tune.sh ../corpus --bayes-strength 1    # try a classifier parameter
#   bench/filter/tune.sh ../corpus --regime tone --tone-margin 0.1   # train until no errors
#   bench/filter/tune.sh ../corpus --model logreg --lr-rate 0.5 --lr-epochs 20 --lr-l2 1e-4 --match-fp 15
#                                   # hashed logistic regression instead of the counts, also judged
#                                   # at the junk threshold with the same total FP (15 = 0.29%)
#   bench/filter/tune.sh ../corpus --model ensemble --match-fp 42   # mean of counts and logreg
#   bench/filter/tune.sh ../corpus --fit --json > fit.json && bench/filter/apply_fit.py fit.json conf/rules
#
# TSUBAME_RULES=DIR measures the rule files in DIR instead of conf/rules.
# TSUBAME_BIN=DIR uses DIR/tsubame (say build-filtrel/bin); otherwise a Release build in
# build-bench/ is made. Deterministic: the same tree and corpus give the same table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
corpus=${1:-$root/../corpus}
[ $# -gt 0 ] && shift
[ -d "$corpus/A/spam" ] && [ -d "$corpus/A/ham" ] || { echo "tune.sh: no $corpus/A/{spam,ham} (../shared/tools/fetch-corpus)" >&2; exit 2; }
if [ -n "${TSUBAME_BIN:-}" ]; then
  ts="$TSUBAME_BIN/tsubame"
else
  cmake -S "$root" -B "$root/build-bench" -DCMAKE_BUILD_TYPE=Release -DTSUBAME_TESTS=OFF -DTSUBAME_BENCH=OFF >/dev/null
  nice cmake --build "$root/build-bench" -j2 --target tsubame >/dev/null
  ts="$root/build-bench/bin/tsubame"
fi
work=$(mktemp -d /tmp/tsubame-tune.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$ts" init "$work/ts" --json >/dev/null
rm -rf "$work/ts/rules" && ln -s "${TSUBAME_RULES:-$root/conf/rules}" "$work/ts/rules"   # this tree's rules (or TSUBAME_RULES=DIR)
export TSUBAME_CONFIG="$work/ts/tsubame.conf"
"$ts" filter compile >/dev/null
exec "$ts" filter eval --folds --spam "$corpus/A/spam" --ham "$corpus/A/ham" --sweep "$@"
