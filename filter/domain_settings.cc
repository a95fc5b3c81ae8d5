// filter/domain_settings.cc: a domain's settings -> its filter policy (see domain_settings.h).
// Each stored value is validated again with store::normalize_setting() (the rules `tsubame
// security set` applies) before it is parsed, so a value written around the CLI is an error
// value (Corruption), never a threshold of 0 from strtod("garbage").
#include "filter/domain_settings.h"

#include <array>
#include <cstdlib>
#include <string>

#include "common/bytes.h"
#include "common/config.h"
#include "store/settings.h"

namespace tsubame::filter {
namespace {

// One row per filter key; the value is store::normalize_setting()'s normalised form.
struct KeyApplier {
  std::string_view key;
  void (*apply)(const std::string& value, DomainPolicy& p);
};

double number(const std::string& v) { return std::strtod(v.c_str(), nullptr); }  // validated

constexpr std::array<KeyApplier, 5> kAppliers = {{
    {"junk_threshold", [](const std::string& v, DomainPolicy& p) { p.junk_threshold = number(v); }},
    {"reject_threshold", [](const std::string& v, DomainPolicy& p) { p.reject_threshold = number(v); }},
    {"classifier_needs_rule", [](const std::string& v, DomainPolicy& p) { p.classifier_needs_rule = v == "yes"; }},
    {"sender_memory", [](const std::string& v, DomainPolicy& p) { p.sender_memory = v == "yes"; }},
    {"blocked_extensions",
     [](const std::string& v, DomainPolicy& p) {
       if (v.empty()) return;  // "" = the base list (the filter's built-in one)
       p.blocked_extensions.clear();
       for (auto e : split(v, ','))
         if (!e.empty()) p.blocked_extensions.emplace_back(e);
     }},
}};

constexpr std::array<std::string_view, kAppliers.size()> kKeys = [] {
  std::array<std::string_view, kAppliers.size()> k{};
  for (size_t i = 0; i < kAppliers.size(); ++i) k[i] = kAppliers[i].key;
  return k;
}();

}  // namespace

std::span<const std::string_view> domain_filter_keys() { return kKeys; }

DomainPolicy config_policy(const Config& cfg) {
  DomainPolicy p;
  p.junk_threshold = double(cfg.integer("filter.junk_threshold"));
  p.reject_threshold = double(cfg.integer("filter.reject_threshold"));
  p.classifier_needs_rule = cfg.boolean("filter.classifier_needs_rule");
  p.sender_memory = cfg.boolean("filter.sender_memory");
  return p;
}

Status apply_domain_settings(store::Store& store, uint32_t domain_id, DomainPolicy& policy) {
  // One read transaction for every key the domain set (NotFound for an unknown domain).
  auto set = store::domain_overrides(store, domain_id);
  if (!set.is_ok()) return set.status();
  DomainPolicy p = policy;  // `policy` changes only when every key applied
  for (const KeyApplier& a : kAppliers) {
    auto it = set->find(std::string(a.key));
    if (it == set->end()) continue;  // not set: keep the base value
    auto norm = store::normalize_setting(a.key, it->second);
    if (!norm.is_ok())
      return Status::corruption("domain " + std::to_string(domain_id) + ": stored setting " +
                                norm.status().message() + " (set it again with `tsubame security set`)");
    a.apply(*norm, p);
  }
  policy = std::move(p);
  return Status::ok();
}

}  // namespace tsubame::filter
