// filter/domain_settings.h: the one place that turns a domain's security settings
// (store/settings.h, set with `tsubame security set`) into its filter policy.
//
//   [filter] configuration ── config_policy() ──► base DomainPolicy
//                                                    │
//   the domain's stored keys ── apply_domain_settings() (validated like `security set`)
//                                                    ▼
//                                              the domain's DomainPolicy
//
// smtpd (smtpd/store_backend.cc, per message and recipient domain) and `tsubame filter
// scan|eval --domain` (tools/cmd_filter.cc) both call it, so a setting added here takes
// effect in both, judged the same way.
//
// Failure: apply_domain_settings() returns NotFound for an unknown domain id, the store's
// error when the settings cannot be read, and Corruption when a stored value of a filter key
// fails the validation `tsubame security set` applies (normalize_setting): the value was
// written around the CLI or by an older version. On any error the policy is left unchanged;
// the caller chooses the fallback (smtpd logs and judges by the base policy, the CLI fails).
// Thread-safety: any thread (one LMDB read transaction per call; no cache).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.h"
#include "filter/policy.h"

namespace tsubame {
class Config;
namespace store {
class Store;
}
}  // namespace tsubame

namespace tsubame::filter {

// The keys of the settings table (store::setting_defs()) that change a domain's filter
// policy, each with the DomainPolicy field it sets:
//   junk_threshold ........ junk_threshold (number, 0..1000)
//   reject_threshold ...... reject_threshold (number, 0..1000)
//   classifier_needs_rule . classifier_needs_rule (yes/no)
//   sender_memory ......... sender_memory (yes/no)
//   blocked_extensions .... blocked_extensions (list; empty keeps the base list, which is
//                           the filter's built-in one)
// Every other key of the table belongs to another module (authentication, passwords,
// retention); tests/filter/domain_settings_test.cc checks the two lists against each other.
std::span<const std::string_view> domain_filter_keys();

// The [filter] base every domain starts from: filter.junk_threshold,
// filter.reject_threshold, filter.classifier_needs_rule, filter.sender_memory; every other field keeps the
// DomainPolicy default (the caller may refine it, as smtpd does max_message_bytes).
DomainPolicy config_policy(const Config& cfg);

// Applies every filter key `domain_id` has set on top of `policy` (normally the base);
// keys the domain did not set keep the value `policy` has. See the file comment for errors.
Status apply_domain_settings(store::Store& store, uint32_t domain_id, DomainPolicy& policy);

}  // namespace tsubame::filter
