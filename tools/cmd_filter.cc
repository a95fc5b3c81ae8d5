// tools/cmd_filter.cc: `tsubame filter scan|learn|eval|compile` (issue 3, item 5).
//
// The rule set and the compiled-database cache come from the config (general.rules_dir,
// general.cache_dir); the classifier's counts from the store. `scan` and `eval` apply the
// [filter] thresholds, or with --domain that domain's security settings (store/settings.h).
// `eval` counts a message as flagged spam when its action is junk, quarantine or reject.
// Failure: an unreadable file is an error (exit 3 or 1) before anything is learned from the
// rest; a rule set that does not compile is listed as file:line: reason (exit 1).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "common/bytes.h"
#include "filter/engine.h"
#include "filter/filter.h"
#include "filter/rules.h"
#include "store/settings.h"
#include "store/tokens.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

Result<std::unique_ptr<filter::Filter>> open_filter(Context& ctx, bool with_store) {
  auto cfg = ctx.config();
  if (!cfg.is_ok()) return cfg.status();
  filter::FilterOptions o;
  o.rules = (*cfg)->str("general.rules_dir");
  o.cache_dir = (*cfg)->str("general.cache_dir");
  if (with_store) {
    auto st = ctx.store();
    if (!st.is_ok()) return st.status();
    o.store = *st;
  }
  return filter::Filter::open(std::move(o));
}

// The policy scans are judged by: the config's thresholds, or the domain's settings.
Result<filter::Policy> scan_policy(Context& ctx, const std::string& domain) {
  auto cfg = ctx.config();
  if (!cfg.is_ok()) return cfg.status();
  filter::Policy p;
  p.domain.junk_threshold = double((*cfg)->integer("filter.junk_threshold"));
  p.domain.reject_threshold = double((*cfg)->integer("filter.reject_threshold"));
  if (domain.empty()) return p;
  auto st = ctx.store();
  if (!st.is_ok()) return st.status();
  auto d = (*st)->find_domain(to_lower(domain));
  if (!d.is_ok()) return d.status();
  auto junk = store::domain_setting_number(**st, d->id, "junk_threshold");
  auto reject = store::domain_setting_number(**st, d->id, "reject_threshold");
  auto ext = store::domain_setting_list(**st, d->id, "blocked_extensions");
  if (!junk.is_ok()) return junk.status();
  if (!reject.is_ok()) return reject.status();
  if (!ext.is_ok()) return ext.status();
  p.domain.junk_threshold = *junk;
  p.domain.reject_threshold = *reject;
  if (!ext->empty()) p.domain.blocked_extensions = *ext;
  return p;
}

bool flagged_as_spam(filter::Action a) {
  return a == filter::Action::kJunk || a == filter::Action::kQuarantine || a == filter::Action::kReject;
}

int run_scan(Context& ctx, const std::vector<std::string>& files, const std::string& domain) {
  auto list = collect_files(files);
  if (!list.is_ok()) return fail("filter scan", list.status());
  auto policy = scan_policy(ctx, domain);
  if (!policy.is_ok()) return fail("filter scan", policy.status());
  auto f = open_filter(ctx, true);
  if (!f.is_ok()) return fail("filter scan", f.status());
  uint32_t domain_id = 0;
  if (!domain.empty()) domain_id = (*ctx.store())->find_domain(to_lower(domain))->id;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& path : *list) {
    auto raw = read_file(path);
    if (!raw.is_ok()) return fail("filter scan", raw.status());
    filter::SmtpEnvelope env;
    env.domain_id = domain_id;
    filter::Verdict v = (*f)->scan(*raw, env, *policy);
    if (ctx.json) {
      auto j = nlohmann::json::parse(v.to_json());
      j["file"] = path;
      out.push_back(std::move(j));
    } else {
      std::cout << path << ":\n" << v.to_text();
      if (list->size() > 1) std::cout << "\n";
    }
  }
  if (ctx.json) std::cout << (files.size() == 1 && list->size() == 1 ? out[0].dump() : out.dump()) << "\n";
  return kOk;
}

int run_learn(Context& ctx, bool spam, bool ham, const std::vector<std::string>& files, bool unlearn,
              const std::string& domain) {
  if (spam == ham) return fail("filter learn", Status::invalid("give exactly one of --spam and --ham"));
  auto list = collect_files(files);
  if (!list.is_ok()) return fail("filter learn", list.status());
  auto f = open_filter(ctx, true);
  if (!f.is_ok()) return fail("filter learn", f.status());
  auto st = ctx.store();
  uint32_t domain_id = 0;
  if (!domain.empty()) {
    auto d = (*st)->find_domain(to_lower(domain));
    if (!d.is_ok()) return fail("filter learn", d.status());
    domain_id = d->id;
  }
  uint64_t n = 0;
  for (const auto& path : *list) {
    auto raw = read_file(path);
    if (!raw.is_ok()) return fail("filter learn", raw.status());
    Status s = (*f)->learn(*raw, spam, domain_id, unlearn ? -1 : +1);
    if (!s.is_ok()) return fail("filter learn " + path, s);
    n++;
  }
  (void)audit(**st, unlearn ? "filter.unlearn" : "filter.learn", domain.empty() ? "global" : to_lower(domain),
              std::string(spam ? "spam" : "ham") + " messages=" + std::to_string(n));
  auto totals = store::token_totals(**st, domain_id);
  if (ctx.json) {
    nlohmann::json j{{"learned", n}, {"as", spam ? "spam" : "ham"}, {"unlearn", unlearn}};
    if (totals.is_ok()) j["totals"] = {{"spam", totals->spam}, {"ham", totals->ham}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << (unlearn ? "unlearned " : "learned ") << n << " message(s) as " << (spam ? "spam" : "ham");
    if (totals.is_ok()) std::cout << " (now " << totals->spam << " spam, " << totals->ham << " ham)";
    std::cout << "\n";
  }
  return kOk;
}

int run_eval(Context& ctx, const std::string& spam_dir, const std::string& ham_dir, const std::string& domain) {
  auto spam = collect_files({spam_dir});
  if (!spam.is_ok()) return fail("filter eval --spam", spam.status());
  auto ham = collect_files({ham_dir});
  if (!ham.is_ok()) return fail("filter eval --ham", ham.status());
  if (spam->empty() || ham->empty()) return fail("filter eval", Status::invalid("need at least one spam and one ham message"));
  auto policy = scan_policy(ctx, domain);
  if (!policy.is_ok()) return fail("filter eval", policy.status());
  auto f = open_filter(ctx, true);
  if (!f.is_ok()) return fail("filter eval", f.status());
  // Read everything first so the timing measures the filter, not the disk.
  std::vector<std::string> spam_raw, ham_raw;
  uint64_t bytes = 0;
  for (auto* pair : {&spam_raw, &ham_raw}) {
    for (const auto& p : (pair == &spam_raw ? *spam : *ham)) {
      auto r = read_file(p);
      if (!r.is_ok()) return fail("filter eval", r.status());
      bytes += r->size();
      pair->push_back(std::move(*r));
    }
  }
  filter::SmtpEnvelope env;
  uint64_t spam_flagged = 0, ham_flagged = 0, faults = 0;
  uint64_t t0 = monotonic_ns();
  for (const auto& m : spam_raw) {
    auto v = (*f)->scan(m, env, *policy);
    spam_flagged += flagged_as_spam(v.action);
    faults += v.fault;
  }
  for (const auto& m : ham_raw) {
    auto v = (*f)->scan(m, env, *policy);
    ham_flagged += flagged_as_spam(v.action);
    faults += v.fault;
  }
  double secs = double(monotonic_ns() - t0) / 1e9;
  if (secs <= 0) secs = 1e-9;
  double ns = double(spam_raw.size()), nh = double(ham_raw.size());
  double fpr = double(ham_flagged) / nh, fnr = (ns - double(spam_flagged)) / ns;
  double acc = (double(spam_flagged) + nh - double(ham_flagged)) / (ns + nh);
  double mps = (ns + nh) / secs, mbps = double(bytes) / secs / 1e6;
  if (ctx.json) {
    nlohmann::json j{{"spam", spam_raw.size()}, {"ham", ham_raw.size()}, {"spam_flagged", spam_flagged},
                     {"ham_flagged", ham_flagged}, {"false_positive_rate", fpr}, {"false_negative_rate", fnr},
                     {"accuracy", acc}, {"messages_per_second", mps}, {"megabytes_per_second", mbps},
                     {"seconds", secs}, {"bytes", bytes}, {"faults", faults}};
    std::cout << j.dump() << "\n";
  } else {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "messages:            %zu spam, %zu ham (%llu bytes)\n"
                  "false positives:     %llu of %zu ham (%.3f%%)\n"
                  "false negatives:     %llu of %zu spam (%.3f%%)\n"
                  "accuracy:            %.3f%%\n"
                  "speed (one thread):  %.1f messages/s, %.2f MB/s\n",
                  spam_raw.size(), ham_raw.size(), (unsigned long long)bytes, (unsigned long long)ham_flagged,
                  ham_raw.size(), fpr * 100, (unsigned long long)(spam_raw.size() - spam_flagged), spam_raw.size(),
                  fnr * 100, acc * 100, mps, mbps);
    std::cout << buf;
    if (faults) std::cout << "filter faults:       " << faults << "\n";
  }
  return kOk;
}

int run_compile(Context& ctx) {
  auto cfg = ctx.config();
  if (!cfg.is_ok()) return fail("config", cfg.status());
  std::string dir = (*cfg)->str("general.rules_dir");
  auto defs = filter::load_rule_path(dir);
  if (!defs.is_ok()) {
    std::cerr << defs.status().message() << "\n";
    std::cerr << "tsubame: filter compile: the rule set in " << dir << " has errors\n";
    return kFailed;
  }
  size_t rules = defs->rules.size(), metas = defs->metas.size();
  auto set = filter::build_rule_set(std::move(*defs), {});  // no cache: really compile
  if (!set.is_ok()) {
    std::cerr << set.status().message() << "\n";
    std::cerr << "tsubame: filter compile: the rule set in " << dir << " has errors\n";
    return kFailed;
  }
  if (ctx.json)
    std::cout << nlohmann::json{{"rules_dir", dir}, {"rules", rules}, {"metas", metas}, {"ok", true}}.dump() << "\n";
  else
    std::cout << dir << ": " << rules << " rules and " << metas << " meta rules compile\n";
  return kOk;
}

}  // namespace

void register_filter(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("filter", "Scan, train, evaluate and check the spam filter");
  cmd->require_subcommand(1);

  struct Opts {
    std::vector<std::string> files;
    std::string domain, spam_dir, ham_dir;
    bool spam = false, ham = false, unlearn = false;
  };
  auto o = std::make_shared<Opts>();

  auto* scan = cmd->add_subcommand("scan", "Scan message files; print the verdict and every contribution");
  scan->add_option("FILE", o->files, "Message files or directories")->required();
  scan->add_option("--domain", o->domain, "Judge with this domain's thresholds and attachment policy");
  scan->add_flag("--json", ctx.json, "JSON output (one verdict, or an array for several files)");
  set_action(scan, [&ctx, o] { return run_scan(ctx, o->files, o->domain); });

  auto* learn = cmd->add_subcommand("learn", "Train the classifier on message files or directories");
  learn->add_flag("--spam", o->spam, "The messages are spam");
  learn->add_flag("--ham", o->ham, "The messages are ham (wanted mail)");
  learn->add_flag("--unlearn", o->unlearn, "Undo an earlier learn of the same messages");
  learn->add_option("--domain", o->domain, "Train this domain's counts instead of the global ones");
  learn->add_option("FILE", o->files, "Message files or directories")->required();
  learn->add_flag("--json", ctx.json, "JSON output");
  set_action(learn, [&ctx, o] { return run_learn(ctx, o->spam, o->ham, o->files, o->unlearn, o->domain); });

  auto* eval = cmd->add_subcommand("eval", "Scan labelled corpora (one thread); print error rates and speed");
  eval->add_option("--spam", o->spam_dir, "Directory of spam messages")->required();
  eval->add_option("--ham", o->ham_dir, "Directory of ham messages")->required();
  eval->add_option("--domain", o->domain, "Judge with this domain's thresholds");
  eval->add_flag("--json", ctx.json,
                 "JSON output: false_positive_rate, false_negative_rate (0..1), accuracy, "
                 "messages_per_second, megabytes_per_second");
  set_action(eval, [&ctx, o] { return run_eval(ctx, o->spam_dir, o->ham_dir, o->domain); });

  auto* compile = cmd->add_subcommand("compile", "Check that the rule set in general.rules_dir compiles");
  compile->add_flag("--json", ctx.json, "JSON output");
  set_action(compile, [&ctx] { return run_compile(ctx); });
}

}  // namespace tsubame::cli
