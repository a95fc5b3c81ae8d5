// filter/verdict.h: the filter's answer for one message, with every reason behind it.
//
// A Verdict names one action and carries every contribution (rule hits, meta rules, the
// classifier as id BAYES, policy decisions) with its score and description, so a postmaster
// can always answer "why". to_json() is the stable wire form used by tools and the API:
//
//   {"action":"junk","score":7.5,"fault":false,"reason":"score 7.50 >= junk threshold 5.00",
//    "contributions":[{"id":"URL_IP_LITERAL","score":2.5,"description":"...","kind":"rule"}],
//    "notes":["classifier abstains: 12 spam / 40 ham learned, needs 200 of each"]}
//
// A fault (an exception, a Hyperscan error) yields action deliver, fault = true and a note;
// it never adds score. Pure value type; no failure modes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tsubame::filter {

enum class Action { kDeliver, kJunk, kQuarantine, kReject, kHold };
std::string_view action_name(Action a);  // "deliver", "junk", "quarantine", "reject", "hold"

enum class ContributionKind { kRule, kMeta, kClassifier, kPolicy };
std::string_view contribution_kind_name(ContributionKind k);

struct Contribution {
  std::string id;           // rule id, "BAYES", or a policy id such as "POLICY_BLOCKED_ATTACHMENT"
  double score = 0;         // what it added to the total (0 for policy decisions)
  std::string description;  // from the rule file, or built by the filter
  std::string detail;       // optional specifics (probability, file name, matched list entry)
  ContributionKind kind = ContributionKind::kRule;
};

struct Verdict {
  Action action = Action::kDeliver;
  double score = 0;                        // sum of contribution scores
  std::vector<Contribution> contributions; // rules in rule-file order, then BAYES, then policy
  std::string reason;                      // why this action, in one line
  std::vector<std::string> notes;          // classifier abstention, truncated scopes ...
  bool fault = false;                      // the filter failed; the mail was let through
  std::string fault_note;

  // Adds a contribution and its score to the total.
  void add(Contribution c);
  // True if a contribution with this id is present.
  bool has(std::string_view id) const;
  const Contribution* find(std::string_view id) const;
  std::string to_json() const;
  // Multi-line human-readable form for `tsubame filter scan`.
  std::string to_text() const;
};

}  // namespace tsubame::filter
