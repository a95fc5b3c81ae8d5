// tools/cmd_filter.cc: `tsubame filter scan|learn|eval|compile` (issue 3, item 5).
//
// The rule set and the compiled-database cache come from the config (general.rules_dir,
// general.cache_dir); the classifier's counts from the store. `scan` and `eval` apply the
// [filter] thresholds, or with --domain that domain's filter settings (filter/domain_settings.h).
// `eval` counts a message as flagged spam when its action is junk, quarantine or reject.
// `eval --folds` is the tuning harness: cross-validation over the given corpus in memory
// (filter/crossval.h), never touching the store's counts; `--misses` lists the out-of-fold
// errors with their contributions, `--fit` prints logistic-regression weights for the rules,
// `--regime tone` trains the folds until no errors instead of on every message; `--model
// logreg|ensemble` replaces or averages the counts with a hashed logistic regression, and
// `--match-fp N` judges again at the junk threshold with the same total false positives.
// Failure: an unreadable file is an error (exit 3 or 1) before anything is learned from the
// rest; a rule set that does not compile is listed as file:line: reason (exit 1).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/bytes.h"
#include "filter/crossval.h"
#include "filter/domain_settings.h"
#include "filter/engine.h"
#include "filter/filter.h"
#include "filter/rules.h"
#include "store/store.h"
#include "store/tokens.h"
#include "tools/cli.h"
#include "tools/util.h"

namespace tsubame::cli {
namespace {

Result<std::unique_ptr<filter::Filter>> open_filter(Context& ctx, bool with_store) {
  auto cfg = ctx.config();
  if (!cfg.is_ok()) return cfg.status();
  filter::FilterOptions o = filter::filter_options(**cfg);
  if (with_store) {
    auto st = ctx.store();
    if (!st.is_ok()) return st.status();
    o.store = *st;
  }
  return filter::Filter::open(std::move(o));
}

// The policy scans are judged by: the config's [filter] values, refined with --domain by the
// filter keys that domain set (filter/domain_settings.h, the function smtpd uses, so the CLI
// judges as the daemon does), together with the domain's id, which selects the domain's own
// classifier counts as smtpd's envelope does. An unknown domain or a malformed stored value
// fails the command.
struct ScanPolicy {
  filter::Policy policy;
  uint32_t domain_id = 0;  // 0: no --domain, the global scope
};

Result<ScanPolicy> scan_policy(Context& ctx, const std::string& domain) {
  auto cfg = ctx.config();
  if (!cfg.is_ok()) return cfg.status();
  ScanPolicy sp;
  sp.policy.domain = filter::config_policy(**cfg);
  if (domain.empty()) return sp;
  auto st = ctx.store();
  if (!st.is_ok()) return st.status();
  auto d = (*st)->find_domain(to_lower(domain));
  if (!d.is_ok()) return d.status();
  sp.domain_id = d->id;
  TSUBAME_TRY(filter::apply_domain_settings(**st, d->id, sp.policy.domain));
  return sp;
}

bool flagged_as_spam(filter::Action a) {
  return a == filter::Action::kJunk || a == filter::Action::kQuarantine || a == filter::Action::kReject;
}

int run_scan(Context& ctx, const std::vector<std::string>& files, const std::string& domain, size_t explain,
             const std::string& mail_from, const std::string& spf_text) {
  if (!mail_from.empty() && (mail_from.find('@') == std::string::npos || mail_from.size() > store::kMaxAddressBytes))
    return fail("filter scan", Status::invalid("--mail-from: not an address: " + mail_from));
  filter::SpfResult spf = filter::SpfResult::kNotChecked;
  if (!spf_text.empty()) {
    auto r = filter::parse_spf_result(spf_text);
    if (!r) return fail("filter scan", Status::invalid("--spf: not an SPF result (none, neutral, pass, fail, softfail, temperror, permerror): " + spf_text));
    spf = *r;
  }
  auto list = collect_files(files);
  if (!list.is_ok()) return fail("filter scan", list.status());
  auto policy = scan_policy(ctx, domain);
  if (!policy.is_ok()) return fail("filter scan", policy.status());
  auto f = open_filter(ctx, true);
  if (!f.is_ok()) return fail("filter scan", f.status());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& path : *list) {
    auto raw = read_file(path);
    if (!raw.is_ok()) return fail("filter scan", raw.status());
    filter::SmtpEnvelope env;
    env.domain_id = policy->domain_id;
    env.mail_from = mail_from;
    env.spf = spf;
    env.spf_helo = mail_from.empty();  // a bounce: smtpd checks the HELO name
    auto [v, why] = (*f)->scan_explained(*raw, env, policy->policy, explain);
    if (ctx.json) {
      auto j = nlohmann::json::parse(v.to_json());
      j["file"] = path;
      if (explain > 0) {
        nlohmann::json t = nlohmann::json::array();
        for (const auto& w : why)
          t.push_back({{"token", w.name}, {"probability", w.probability}, {"spam", w.counts.spam}, {"ham", w.counts.ham}});
        j["classifier_tokens"] = std::move(t);
      }
      out.push_back(std::move(j));
    } else {
      std::cout << path << ":\n" << v.to_text();
      if (explain > 0) {
        std::cout << "classifier tokens (f(w), learned in spam/ham):\n";
        if (why.empty()) std::cout << "    (none: the classifier abstains or knows none of them)\n";
        char buf[64];
        for (const auto& w : why) {
          std::snprintf(buf, sizeof buf, "    %.3f  %6llu/%-6llu  ", w.probability, (unsigned long long)w.counts.spam,
                        (unsigned long long)w.counts.ham);
          std::cout << buf << w.name << "\n";
        }
      }
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
  // As smtpd does at start, the classifier's counts are read into memory before the clock
  // starts (Classifier::warm); the rules were loaded by open_filter() in the same way.
  if (const filter::Classifier* c = (*f)->classifier()) {
    if (Status w = c->warm(); !w.is_ok()) return fail("filter eval", w);
  }
  filter::SmtpEnvelope env;
  env.domain_id = policy->domain_id;
  uint64_t spam_flagged = 0, ham_flagged = 0, faults = 0;
  uint64_t t0 = monotonic_ns();
  for (const auto& m : spam_raw) {
    auto v = (*f)->scan(m, env, policy->policy);
    spam_flagged += flagged_as_spam(v.action);
    faults += v.fault;
  }
  for (const auto& m : ham_raw) {
    auto v = (*f)->scan(m, env, policy->policy);
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

struct FoldOptions {
  bool enabled = false;
  bool classifier_alone = false;  // judge with classifier_needs_rule off (the policy before session 7)
  size_t misses = 0;           // print up to this many misses of each kind per fold
  bool fit = false;
  bool sweep = false;
  double fit_l2 = 1.0;
  double fit_logit = 3.0;      // log-odds at which the fitted scores reach the junk threshold
  filter::ClassifierParams params;
  filter::TrainingRegime regime;
  filter::ModelOptions model;
  long match_fp = -1;          // also judge at the lowest junk threshold with total FP <= this
  std::string fold_set = "standard";  // or "drift" (filter::drift_folds), "campaign" (campaign_folds), "sender" (sender_folds)
  double campaign_similarity = filter::kCampaignSimilarity;
};

// The strongest tokens of a miss (--explain N), named by tokenising the file again as
// prepare_message() did (its words and the rules it hit): the token, f(w), and in how many of
// the fold's learned spam and ham it was.
void print_strongest(const filter::CorpusMessage& m, const std::vector<std::pair<uint64_t, filter::TokenStat>>& strongest,
                     filter::TokenStat totals, const filter::ClassifierParams& params) {
  std::map<uint64_t, std::string> names;
  if (auto raw = read_file(m.name); raw.is_ok()) {
    if (auto parsed = filter::parse_message(*raw, {}); parsed.is_ok())
      for (auto& t : filter::named_tokens(filter::classifier_input(*parsed, m.analysis.verdict)))
        names.emplace(t.hash, std::move(t.name));
  }
  for (const auto& [h, st] : strongest) {
    auto it = names.find(h);
    std::printf("    %.3f  %4llu/%-4llu  %s\n", filter::token_probability(st, totals, params),
                (unsigned long long)st.spam, (unsigned long long)st.ham,
                it == names.end() ? "?" : it->second.c_str());
  }
}

// Cross-validation over one labelled corpus (the tuning harness; filter/README.md).
int run_folds(Context& ctx, const std::string& spam_dir, const std::string& ham_dir, const std::string& domain,
              const FoldOptions& fo) {
  auto spam = collect_files({spam_dir});
  if (!spam.is_ok()) return fail("filter eval --spam", spam.status());
  auto ham = collect_files({ham_dir});
  if (!ham.is_ok()) return fail("filter eval --ham", ham.status());
  if (spam->size() < 4 || ham->size() < 4)
    return fail("filter eval --folds", Status::invalid("need at least four spam and four ham messages"));
  auto policy = scan_policy(ctx, domain);
  if (!policy.is_ok()) return fail("filter eval", policy.status());
  if (fo.classifier_alone) policy->policy.domain.classifier_needs_rule = false;
  auto f = open_filter(ctx, false);
  if (!f.is_ok()) return fail("filter eval", f.status());
  // The sender-memory tokens as the product learns them: the shared mail domains of the filter
  // just opened from the configuration.
  filter::ClassifierParams token_params = fo.params;
  token_params.shared_mail_domains = (*f)->classifier_params().shared_mail_domains;
  std::vector<filter::CorpusMessage> corpus;
  for (int cls = 0; cls < 2; ++cls) {
    for (const auto& p : (cls == 0 ? *spam : *ham)) {
      auto r = read_file(p);
      if (!r.is_ok()) return fail("filter eval", r.status());
      corpus.push_back(filter::prepare_message(**f, p, *r, cls == 0, token_params));
    }
  }
  std::vector<filter::Fold> folds;
  if (fo.fold_set == "campaign") {
    auto cf = filter::campaign_folds(corpus, fo.campaign_similarity);
    if (!ctx.json)
      std::printf("campaign folds: %zu spam groups at Jaccard >= %.2f (largest %zu, %zu spam alone)\n",
                  cf.campaigns, fo.campaign_similarity, cf.largest, cf.singletons);
    folds = std::move(cf.folds);
  } else if (fo.fold_set == "sender") {
    auto sf = filter::sender_folds(corpus);
    if (!ctx.json)
      std::printf("sender folds: %zu ham senders (lists and From organisations; largest %zu ham)\n",
                  sf.senders, sf.largest);
    folds = std::move(sf.folds);
  } else {
    folds = fo.fold_set == "drift" ? filter::drift_folds(corpus) : filter::standard_folds(corpus);
  }
  auto cv = filter::cross_validate(corpus, folds, fo.params, policy->policy, fo.regime, fo.model);
  size_t fp = 0, fn = 0, nh = 0, ns = 0;
  nlohmann::json jf = nlohmann::json::array();
  if (!ctx.json)
    std::printf("%-12s %16s %16s  %s\n", "fold", "FP (ham junked)", "FN (spam kept)", "learned spam/ham, passes");
  for (const auto& fig : cv.folds) {
    fp += fig.false_positives;
    fn += fig.false_negatives;
    nh += fig.ham;
    ns += fig.spam;
    if (ctx.json) {
      jf.push_back({{"fold", fig.name}, {"ham", fig.ham}, {"spam", fig.spam},
                    {"false_positives", fig.false_positives}, {"false_negatives", fig.false_negatives},
                    {"learned_spam", fig.training.learned_spam}, {"learned_ham", fig.training.learned_ham},
                    {"passes", fig.training.passes}});
    } else {
      std::printf("%-12s %7zu/%-8zu %7zu/%-8zu  %zu/%zu, %d\n", fig.name.c_str(), fig.false_positives, fig.ham,
                  fig.false_negatives, fig.spam, fig.training.learned_spam, fig.training.learned_ham,
                  fig.training.passes);
    }
  }
  if (!ctx.json)
    std::printf("%-12s %7zu/%-8zu %7zu/%-8zu  FP %.2f%%  FN %.2f%%\n", "total", fp, nh, fn, ns,
                100.0 * double(fp) / double(nh), 100.0 * double(fn) / double(ns));
  if (fo.match_fp >= 0) {
    // The same verdicts at the junk threshold that gives (at most) the given total FP, so
    // that models are compared along their FP/FN curves rather than across them.
    double t = filter::threshold_for_false_positives(corpus, cv, static_cast<size_t>(fo.match_fp));
    auto figs = filter::judge_at(corpus, cv, t);
    size_t mfp = 0, mfn = 0;
    if (!ctx.json) std::printf("\nat junk %.2f (lowest with total FP <= %ld):\n", t, fo.match_fp);
    for (const auto& fig : figs) {
      mfp += fig.false_positives;
      mfn += fig.false_negatives;
      if (!ctx.json)
        std::printf("%-12s %7zu/%-8zu %7zu/%-8zu\n", fig.name.c_str(), fig.false_positives, fig.ham,
                    fig.false_negatives, fig.spam);
    }
    if (!ctx.json)
      std::printf("%-12s %7zu/%-8zu %7zu/%-8zu  FP %.2f%%  FN %.2f%%\n", "total", mfp, nh, mfn, ns,
                  100.0 * double(mfp) / double(nh), 100.0 * double(mfn) / double(ns));
  }
  if (fo.sweep && !ctx.json) {
    // The same out-of-fold verdicts judged at other junk thresholds, as --match-fp judges them
    // (filter::judge_at: the policy's classifier_needs_rule applies at each threshold, and a
    // policy action such as a blocked attachment stays flagged whatever the threshold).
    std::printf("\njunk threshold sweep (FP/FN per fold, then totals):\n");
    for (double t = 3.0; t <= 12.01; t += 0.5) {
      std::printf("%5.1f", t);
      size_t tfp = 0, tfn = 0;
      for (const auto& fig : filter::judge_at(corpus, cv, t)) {
        std::printf("  %3zu/%-3zu", fig.false_positives, fig.false_negatives);
        tfp += fig.false_positives;
        tfn += fig.false_negatives;
      }
      std::printf("  total FP %.2f%% FN %.2f%%\n", 100.0 * double(tfp) / double(nh), 100.0 * double(tfn) / double(ns));
    }
  }
  if (fo.misses > 0 && !ctx.json) {
    for (const auto& fig : cv.folds) {
      size_t shown_fp = 0, shown_fn = 0;
      for (const auto& r : cv.results) {
        if (r.fold != fig.name) continue;
        const auto& m = corpus[r.message];
        bool flagged = r.verdict.action != filter::Action::kDeliver && r.verdict.action != filter::Action::kHold;
        bool miss = m.spam ? !flagged : flagged;
        if (!miss) continue;
        size_t& shown = m.spam ? shown_fn : shown_fp;
        if (shown++ >= fo.misses) continue;
        std::printf("\n[%s] %s %s score %.2f:", fig.name.c_str(), m.spam ? "FN" : "FP", m.name.c_str(),
                    r.verdict.score);
        for (const auto& c : r.verdict.contributions)
          std::printf(" %s(%.2f)", c.id.c_str(), c.score);
        std::printf("\n");
        if (!r.strongest.empty()) print_strongest(m, r.strongest, r.totals, fo.params);
      }
    }
  }
  if (fo.fit) {
    filter::FitOptions opt;
    opt.l2 = fo.fit_l2;
    auto fit = filter::fit_weights(corpus, cv, opt);
    std::sort(fit.weights.begin() + 1, fit.weights.end(),
              [](const auto& a, const auto& b) { return a.weight > b.weight; });
    // Scores in rule-file units: the junk threshold is reached where the fitted log-odds
    // are fit_logit, so score = scale * weight with scale = junk / (fit_logit - bias).
    double scale = policy->policy.domain.junk_threshold / (fo.fit_logit - fit.bias);
    if (ctx.json) {
      nlohmann::json w = nlohmann::json::array();
      for (const auto& x : fit.weights)
        w.push_back({{"id", x.id}, {"weight", x.weight}, {"score", x.weight * scale}, {"rare", x.rare},
                     {"spam_hits", x.spam_hits}, {"ham_hits", x.ham_hits}});
      std::cout << nlohmann::json{{"folds", jf},
                                  {"bias", fit.bias},
                                  {"scale", scale},
                                  {"bayes_spam_points", fo.params.spam_points * scale * fit.weights[0].weight},
                                  {"bayes_ham_points", fo.params.ham_points * scale * fit.weights[0].weight},
                                  {"weights", w}}
                       .dump()
                << "\n";
      return kOk;
    }
    std::printf("\nlogistic regression on out-of-fold hits (l2 %.2f): bias %.3f\n", fo.fit_l2, fit.bias);
    std::printf("junk threshold %.1f at log-odds %.2f: score = %.4f * weight; BAYES spam_points %.2f, "
                "ham_points %.2f (from %.2f / %.2f)\n",
                policy->policy.domain.junk_threshold, fo.fit_logit, scale,
                fo.params.spam_points * scale * fit.weights[0].weight,
                fo.params.ham_points * scale * fit.weights[0].weight, fo.params.spam_points, fo.params.ham_points);
    std::printf("%-28s %8s %8s %9s %9s\n", "id", "weight", "score", "spam hits", "ham hits");
    for (const auto& x : fit.weights) {
      if (x.rare) {
        std::printf("%-28s %8s %8s %9zu %9zu\n", x.id.c_str(), "rare", "keep", x.spam_hits, x.ham_hits);
      } else {
        std::printf("%-28s %8.3f %8.2f %9zu %9zu\n", x.id.c_str(), x.weight, x.weight * scale, x.spam_hits,
                    x.ham_hits);
      }
    }
  }
  if (ctx.json && !fo.fit) std::cout << nlohmann::json{{"folds", jf}}.dump() << "\n";
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
    std::string domain, spam_dir, ham_dir, mail_from, spf;
    bool spam = false, ham = false, unlearn = false;
    size_t explain = 0;  // scan --explain N
  };
  auto o = std::make_shared<Opts>();

  auto* scan = cmd->add_subcommand("scan", "Scan message files; print the verdict and every contribution");
  scan->add_option("FILE", o->files, "Message files or directories")->required();
  scan->add_option("--domain", o->domain, "Judge with this domain's thresholds and attachment policy");
  scan->add_flag("--json", ctx.json, "JSON output (one verdict, or an array for several files)");
  scan->add_option("--explain", o->explain,
                   "Also show the N tokens that weighed most in the classifier's score (f(w), spam/ham counts)");
  scan->add_option("--mail-from", o->mail_from,
                   "Judge as if the envelope sender (MAIL FROM) were this address, as smtpd does: the From "
                   "alignment checks and the correspondent memory read it");
  scan->add_option("--spf", o->spf,
                   "Judge as if smtpd's SPF check had given this result (pass, fail, softfail, neutral, none, "
                   "temperror, permerror) for the --mail-from domain (without --mail-from: for the HELO name)");
  set_action(scan, [&ctx, o] { return run_scan(ctx, o->files, o->domain, o->explain, o->mail_from, o->spf); });

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
  auto fo = std::make_shared<FoldOptions>();
  eval->add_flag("--folds", fo->enabled,
                 "Tuning harness: four-fold cross-validation in memory (even/odd, old/new halves by "
                 "file name); prints per-fold false positives and negatives; the store is not used");
  eval->add_option("--misses", fo->misses, "With --folds: list up to N misses of each kind per fold");
  eval->add_option("--fold-set", fo->fold_set,
                   "With --folds: standard (even/odd and old/new halves), drift (spam by time, ham "
                   "interleaved), campaign (no spam campaign on both sides, ham interleaved) or "
                   "sender (spam by time, no ham sender on both sides)")
      ->check(CLI::IsMember({"standard", "drift", "campaign", "sender"}));
  eval->add_option("--campaign-similarity", fo->campaign_similarity,
                   "With --fold-set campaign: Jaccard similarity of token sets that links two spam "
                   "into one campaign (default 0.3)")
      ->check(CLI::Range(0.01, 1.0));
  eval->add_option("--explain", fo->model.explain,
                   "With --misses: show each miss's N strongest classifier tokens (f(w), spam/ham counts)");
  eval->add_flag("--fit", fo->fit, "With --folds: fit rule weights by logistic regression");
  eval->add_flag("--sweep", fo->sweep, "With --folds: FP/FN per fold at junk thresholds 3 to 12");
  eval->add_flag("--classifier-alone", fo->classifier_alone,
                 "With --folds: let the classifier's points count without a rule (filter.classifier_needs_rule = no)");
  eval->add_option("--fit-l2", fo->fit_l2, "With --fit: ridge penalty (default 1)");
  eval->add_option("--fit-logit", fo->fit_logit,
                   "With --fit: log-odds of spam at which the suggested scores reach the junk threshold (default 3)");
  eval->add_option("--bayes-strength", fo->params.strength, "With --folds: Robinson's s");
  eval->add_option("--bayes-min-learned", fo->params.min_learned,
                   "With --folds: spam and ham messages each learned before the classifier speaks");
  eval->add_option("--bayes-balance", fo->params.balance, "With --folds: class-size balance of the evidence (0..1)");
  eval->add_option("--bayes-max-tokens", fo->params.max_tokens, "With --folds: tokens combined");
  eval->add_option("--bayes-min-deviation", fo->params.min_deviation, "With --folds: |f - 0.5| floor");
  eval->add_option("--bayes-spam-points", fo->params.spam_points, "With --folds: points at p = 1");
  eval->add_option("--bayes-ham-points", fo->params.ham_points, "With --folds: negative points at p = 0");
  eval->add_option("--bayes-points-power", fo->params.points_power, "With --folds: points curve power");
  eval->add_option("--sender-min-ham", fo->params.sender_min_ham,
                   "With --folds: ham learned from a sender before the sender memory takes points off");
  eval->add_option("--sender-points", fo->params.sender_points_per_doubling,
                   "With --folds: sender memory points off per doubling of the sender's ham (0: off)");
  eval->add_option("--sender-max-points", fo->params.sender_max_points, "With --folds: sender memory cap");
  eval->add_option_function<std::string>(
      "--bayes-combination",
      [fo](const std::string& v) {
        if (v == "chi-square") fo->params.combination = filter::Combination::kChiSquare;
        else if (v == "log-odds") fo->params.combination = filter::Combination::kLogOdds;
        else if (v == "chi-square-then-log-odds") fo->params.combination = filter::Combination::kChiSquareThenLogOdds;
        else throw CLI::ValidationError("--bayes-combination", "chi-square, log-odds or chi-square-then-log-odds");
      },
      "With --folds: chi-square, log-odds or chi-square-then-log-odds");
  eval->add_option("--bayes-log-odds-scale", fo->params.log_odds_scale, "With --folds: log-odds scale");
  eval->add_option_function<std::string>(
      "--regime",
      [fo](const std::string& v) {
        if (v == "all") fo->regime.regime = filter::Regime::kAll;
        else if (v == "tone") fo->regime.regime = filter::Regime::kTone;
        else throw CLI::ValidationError("--regime", "all or tone");
      },
      "With --folds: training regime, all (every message once) or tone (train until no errors)");
  eval->add_option("--tone-margin", fo->regime.margin,
                   "With --regime tone: learn spam with p < 1 - margin and ham with p > margin (default 0.1)")
      ->check(CLI::Range(0.0, 0.5));
  eval->add_option("--tone-passes", fo->regime.max_passes, "With --regime tone: at most this many passes (default 5)")
      ->check(CLI::Range(1, 100));
  eval->add_option_function<std::string>(
      "--model",
      [fo](const std::string& v) {
        if (v == "robinson") fo->model.model = filter::Model::kRobinson;
        else if (v == "logreg") fo->model.model = filter::Model::kLogReg;
        else if (v == "ensemble") fo->model.model = filter::Model::kEnsemble;
        else throw CLI::ValidationError("--model", "robinson, logreg or ensemble");
      },
      "With --folds: BAYES from the token counts (robinson, default), a hashed logistic regression "
      "(logreg) or the mean of both probabilities (ensemble); harness only");
  eval->add_option("--lr-bits", fo->model.logreg.hash_bits, "With --model logreg|ensemble: 2^N weights (default 20)")
      ->check(CLI::Range(filter::kMinLogRegHashBits, filter::kMaxLogRegHashBits));
  eval->add_option("--lr-l2", fo->model.logreg.l2, "With --model logreg|ensemble: L2 penalty per step (default 1e-4)")
      ->check(CLI::Range(0.0, 10.0));
  eval->add_option("--lr-epochs", fo->model.logreg.epochs, "With --model logreg|ensemble: passes (default 5)")
      ->check(CLI::Range(1, 100));
  eval->add_option("--lr-rate", fo->model.logreg.learning_rate, "With --model logreg|ensemble: AdaGrad rate (default 0.2)")
      ->check(CLI::Range(1e-6, 100.0));
  eval->add_option("--lr-length-norm", fo->model.logreg.length_norm,
                   "With --model logreg|ensemble: scale features by 1/sqrt(tokens) (default true)");
  eval->add_option("--lr-balance", fo->model.logreg.balance,
                   "With --model logreg|ensemble: class weights N/(2 N_class) (default true)");
  eval->add_option("--lr-seed", fo->model.logreg.seed, "With --model logreg|ensemble: shuffle seed (default 1)");
  eval->add_option("--lr-bags", fo->model.logreg.bags,
                   "With --model logreg|ensemble: mean of N models with seeds seed..seed+N-1 (default 1)")
      ->check(CLI::Range(1, 32));
  eval->add_option("--match-fp", fo->match_fp,
                   "With --folds: also judge at the lowest junk threshold whose total FP is at most N")
      ->check(CLI::Range(0L, 1000000L));
  set_action(eval, [&ctx, o, fo] {
    if (fo->enabled) return run_folds(ctx, o->spam_dir, o->ham_dir, o->domain, *fo);
    return run_eval(ctx, o->spam_dir, o->ham_dir, o->domain);
  });

  auto* compile = cmd->add_subcommand("compile", "Check that the rule set in general.rules_dir compiles");
  compile->add_flag("--json", ctx.json, "JSON output");
  set_action(compile, [&ctx] { return run_compile(ctx); });
}

}  // namespace tsubame::cli
