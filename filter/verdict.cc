// filter/verdict.cc: Verdict helpers and its JSON and text forms (nlohmann::json).
// No failure modes: invalid UTF-8 in a description is replaced, never thrown on.
#include "filter/verdict.h"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace tsubame::filter {

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kDeliver: return "deliver";
    case Action::kJunk: return "junk";
    case Action::kQuarantine: return "quarantine";
    case Action::kReject: return "reject";
    case Action::kHold: return "hold";
  }
  return "deliver";
}

std::string_view contribution_kind_name(ContributionKind k) {
  switch (k) {
    case ContributionKind::kRule: return "rule";
    case ContributionKind::kMeta: return "meta";
    case ContributionKind::kClassifier: return "classifier";
    case ContributionKind::kPolicy: return "policy";
  }
  return "rule";
}

void Verdict::add(Contribution c) {
  score += c.score;
  contributions.push_back(std::move(c));
}

const Contribution* Verdict::find(std::string_view id) const {
  for (const auto& c : contributions)
    if (c.id == id) return &c;
  return nullptr;
}

bool Verdict::has(std::string_view id) const { return find(id) != nullptr; }

std::string Verdict::to_json() const {
  nlohmann::json j;
  j["action"] = action_name(action);
  j["score"] = score;
  j["reason"] = reason;
  j["fault"] = fault;
  if (fault) j["fault_note"] = fault_note;
  j["contributions"] = nlohmann::json::array();
  for (const auto& c : contributions) {
    nlohmann::json e{{"id", c.id},
                     {"score", c.score},
                     {"description", c.description},
                     {"kind", contribution_kind_name(c.kind)}};
    if (!c.detail.empty()) e["detail"] = c.detail;
    j["contributions"].push_back(std::move(e));
  }
  j["notes"] = notes;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Verdict::to_text() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", score);
  std::string out = std::string("action: ") + std::string(action_name(action)) + "\nscore: " + buf +
                    "\nreason: " + reason + "\n";
  if (fault) out += "fault: " + fault_note + "\n";
  for (const auto& c : contributions) {
    std::snprintf(buf, sizeof buf, "%+7.2f", c.score);
    out += std::string("  ") + buf + "  " + c.id + "  " + c.description;
    if (!c.detail.empty()) out += " [" + c.detail + "]";
    out += "\n";
  }
  for (const auto& n : notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace tsubame::filter
