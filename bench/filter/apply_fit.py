#!/usr/bin/env python3
"""bench/filter/apply_fit.py FIT.json RULES_DIR: write fitted rule scores into the rule files.

FIT.json is the output of `tsubame filter eval --folds --fit --json` (tune.sh makes it). Each
rule or meta that the fit did not mark "rare" gets `score <fitted score>` (one decimal
place, the rule-file unit); rare rules keep their hand-set score. Prints what changed and the
BAYES points the fit suggests (ClassifierParams::spam_points / ham_points in
filter/classifier.h, set by hand). Fails (exit 1) on a rule id it cannot find.
"""
import json
import pathlib
import re
import sys


def main() -> int:
    fit = json.load(open(sys.argv[1]))
    rules_dir = pathlib.Path(sys.argv[2])
    want = {w["id"]: round(w["score"], 1) for w in fit["weights"] if w["id"] != "BAYES" and not w["rare"]}
    found = set()
    for path in sorted(rules_dir.glob("*.rules")):
        lines = path.read_text().split("\n")
        current = None
        changed = False
        for i, line in enumerate(lines):
            m = re.match(r"^(rule|meta)\s+([A-Z0-9_]+)", line)
            if m:
                current = m.group(2)
                continue
            m = re.match(r"^(\s+score\s+)(-?[0-9.]+)\s*$", line)
            if m and current in want:
                found.add(current)
                new = "%.1f" % want[current]
                if float(m.group(2)) != float(new):
                    print("%-28s %6s -> %s" % (current, m.group(2), new))
                    lines[i] = m.group(1) + new
                    changed = True
                current = None
        if changed:
            path.write_text("\n".join(lines))
    missing = set(want) - found
    if missing:
        print("rules without a score line (add one by hand): " + ", ".join(sorted(missing)), file=sys.stderr)
        return 1
    print("BAYES: spam_points %.2f, ham_points %.2f (filter/classifier.h, by hand)" %
          (fit["bayes_spam_points"], fit["bayes_ham_points"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
