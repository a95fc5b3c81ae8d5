// filter/crossval.cc: in-memory cross-validation and the weight fit (see crossval.h).
// No failure modes: a message the filter faults on is delivered, as in production.
#include "filter/crossval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "common/bytes.h"

namespace tsubame::filter {

CorpusMessage prepare_message(const Filter& rules_only, std::string name, std::string_view raw,
                              bool spam, const ClassifierParams& params, const MimeLimits& limits) {
  CorpusMessage m;
  m.name = std::move(name);
  m.spam = spam;
  m.bytes = raw.size();
  auto parsed = parse_message(raw, limits);
  if (!parsed) {
    m.analysis = rules_only.analyse(raw, SmtpEnvelope{});  // the fault path, as scan() takes it
    return m;
  }
  m.analysis = rules_only.analyse_parsed(*parsed, SmtpEnvelope{});
  ClassifierInput in = classifier_input(*parsed, m.analysis.verdict);
  m.tokens = tokenize_message(in);
  m.sender_key = in.sender;
  m.sender_domain_key = in.sender_domain;
  m.sender_tokens = sender_tokens(in, params);
  const HeaderField* list = parsed->header("List-Id");
  if (std::string id = list == nullptr ? std::string() : list_id(list->value); !id.empty())
    m.sender = "list:" + id;
  else if (parsed->from && !parsed->from->domain.empty())
    m.sender = "from:" + base_domain(to_lower(parsed->from->domain));
  return m;
}

namespace {

// The corpus positions of the spam and of the ham, each in corpus (file-name) order.
std::pair<std::vector<size_t>, std::vector<size_t>> class_positions(const std::vector<CorpusMessage>& corpus) {
  std::vector<size_t> spam, ham;
  for (size_t i = 0; i < corpus.size(); ++i) (corpus[i].spam ? spam : ham).push_back(i);
  return {std::move(spam), std::move(ham)};
}

// Even positions train `a` and test `b`, odd positions the other way round.
void interleave(const std::vector<size_t>& pos, Fold& a, Fold& b) {
  for (size_t k = 0; k < pos.size(); ++k) {
    (k % 2 == 0 ? a.train : a.test).push_back(pos[k]);
    (k % 2 == 1 ? b.train : b.test).push_back(pos[k]);
  }
}

// The older half trains `a` and tests `b`, the newer half the other way round.
void halves(const std::vector<size_t>& pos, Fold& a, Fold& b) {
  for (size_t k = 0; k < pos.size(); ++k) {
    (k < pos.size() / 2 ? a.train : a.test).push_back(pos[k]);
    (k >= pos.size() / 2 ? b.train : b.test).push_back(pos[k]);
  }
}

// Deals whole groups of corpus indices (each in corpus order), largest first, ties by first
// member so the deal is deterministic, each to the side with fewer messages so far: side 0
// trains `a` and tests `b`, side 1 the other way round. Returns the largest group's size.
size_t deal_groups(std::vector<std::vector<size_t>> groups, Fold& a, Fold& b) {
  std::stable_sort(groups.begin(), groups.end(), [](const auto& x, const auto& y) {
    return x.size() != y.size() ? x.size() > y.size() : x.front() < y.front();
  });
  size_t side_size[2] = {0, 0};
  for (const auto& members : groups) {
    int side = side_size[0] <= side_size[1] ? 0 : 1;
    side_size[side] += members.size();
    for (size_t i : members) {
      (side == 0 ? a.train : a.test).push_back(i);
      (side == 1 ? b.train : b.test).push_back(i);
    }
  }
  return groups.empty() ? 0 : groups.front().size();
}

// Puts each side of the folds back in corpus order, as the other fold sets have it.
void corpus_order(Fold& a, Fold& b) {
  for (Fold* f : {&a, &b}) {
    std::sort(f->train.begin(), f->train.end());
    std::sort(f->test.begin(), f->test.end());
  }
}

}  // namespace

std::vector<Fold> standard_folds(const std::vector<CorpusMessage>& corpus) {
  auto [spam, ham] = class_positions(corpus);
  Fold even{"even -> odd", {}, {}}, odd{"odd -> even", {}, {}};
  Fold old_new{"old -> new", {}, {}}, new_old{"new -> old", {}, {}};
  for (const auto* cls : {&spam, &ham}) {
    interleave(*cls, even, odd);
    halves(*cls, old_new, new_old);
  }
  return {even, odd, old_new, new_old};
}

std::vector<Fold> drift_folds(const std::vector<CorpusMessage>& corpus) {
  auto [spam, ham] = class_positions(corpus);
  Fold fwd{"drift fwd", {}, {}}, back{"drift back", {}, {}};  // spam old -> new / new -> old
  halves(spam, fwd, back);
  interleave(ham, fwd, back);
  return {fwd, back};
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  return double(common) / double(a.size() + b.size() - common);
}

CampaignFolds campaign_folds(const std::vector<CorpusMessage>& corpus, double similarity) {
  auto [spam, ham] = class_positions(corpus);
  // What the message says, without the rule tokens (rule:ID): which campaign a message
  // belongs to must not change with the rule set under test.
  std::vector<std::vector<uint64_t>> words(spam.size());
  for (size_t k = 0; k < spam.size(); ++k) {
    const CorpusMessage& m = corpus[spam[k]];
    ClassifierInput hit;
    add_rule_tokens(m.analysis.verdict, hit);  // exactly the rule tokens prepare_message() added
    std::vector<uint64_t> rules;
    for (const auto& x : hit.extras) rules.push_back(extra_token_hash(x));
    std::sort(rules.begin(), rules.end());
    std::set_difference(m.tokens.begin(), m.tokens.end(), rules.begin(), rules.end(), std::back_inserter(words[k]));
  }
  // Union-find over the spam, linking every pair at least `similarity` alike.
  std::vector<size_t> parent(spam.size());
  std::iota(parent.begin(), parent.end(), size_t{0});
  auto root = [&](size_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (size_t a = 0; a < spam.size(); ++a) {
    const auto& ta = words[a];
    for (size_t b = a + 1; b < spam.size(); ++b) {
      const auto& tb = words[b];
      // |a ∩ b| <= min size, so the sizes alone can rule a pair out.
      size_t lo = std::min(ta.size(), tb.size()), hi = std::max(ta.size(), tb.size());
      if (hi > 0 && double(lo) / double(hi) < similarity) continue;
      if (root(a) != root(b) && jaccard(ta, tb) >= similarity) parent[root(a)] = root(b);
    }
  }
  std::map<size_t, std::vector<size_t>> by_root;  // root -> members (corpus indices, in order)
  for (size_t k = 0; k < spam.size(); ++k) by_root[root(k)].push_back(spam[k]);
  std::vector<std::vector<size_t>> groups;
  CampaignFolds out;
  for (auto& [r, members] : by_root) {
    if (members.size() == 1) ++out.singletons;
    groups.push_back(std::move(members));
  }
  out.campaigns = groups.size();
  Fold one{"campaign 1", {}, {}}, two{"campaign 2", {}, {}};  // side 0 -> 1, side 1 -> 0
  out.largest = deal_groups(std::move(groups), one, two);
  interleave(ham, one, two);
  corpus_order(one, two);
  out.folds = {one, two};
  return out;
}

SenderFolds sender_folds(const std::vector<CorpusMessage>& corpus) {
  auto [spam, ham] = class_positions(corpus);
  Fold one{"sender 1", {}, {}}, two{"sender 2", {}, {}};  // spam old -> new / new -> old
  halves(spam, one, two);
  std::map<std::string, std::vector<size_t>> by_sender;  // sender -> ham (corpus order)
  std::vector<std::vector<size_t>> groups;
  for (size_t i : ham) {
    if (corpus[i].sender.empty()) groups.push_back({i});
    else by_sender[corpus[i].sender].push_back(i);
  }
  for (auto& [name, members] : by_sender) groups.push_back(std::move(members));
  SenderFolds out;
  out.senders = groups.size();
  out.largest = deal_groups(std::move(groups), one, two);
  corpus_order(one, two);
  out.folds = {one, two};
  return out;
}

void MemoryTokenCounts::learn(const std::vector<uint64_t>& tokens, bool spam) {
  for (uint64_t t : tokens) {
    TokenStat& s = counts_[t];
    (spam ? s.spam : s.ham) += 1;
  }
  (spam ? totals_.spam : totals_.ham) += 1;
}

void MemoryTokenCounts::learn_token(uint64_t token, bool spam) {
  TokenStat& s = counts_[token];
  (spam ? s.spam : s.ham) += 1;
}

TokenStat MemoryTokenCounts::count(uint64_t token) const {
  auto it = counts_.find(token);
  return it == counts_.end() ? TokenStat{} : it->second;
}

void MemoryTokenCounts::lookup(const std::vector<uint64_t>& tokens, std::vector<TokenStat>& out) const {
  out.clear();
  out.reserve(tokens.size());
  for (uint64_t t : tokens) {
    auto it = counts_.find(t);
    out.push_back(it == counts_.end() ? TokenStat{} : it->second);
  }
}

std::vector<size_t> train_order(const std::vector<CorpusMessage>& corpus, const std::vector<size_t>& train) {
  std::vector<size_t> spam, ham;
  for (size_t i : train) (corpus[i].spam ? spam : ham).push_back(i);
  std::vector<size_t> out;
  out.reserve(train.size());
  size_t a = 0, b = 0;
  // Merge by relative position (k + 0.5) / n, compared exactly in integers.
  while (a < spam.size() || b < ham.size()) {
    bool take_spam = b == ham.size() ||
                     (a < spam.size() && (2 * a + 1) * ham.size() <= (2 * b + 1) * spam.size());
    out.push_back(take_spam ? spam[a++] : ham[b++]);
  }
  return out;
}

TrainingStats train(const std::vector<CorpusMessage>& corpus, const std::vector<size_t>& order,
                    const TrainingRegime& regime, const ClassifierParams& params, MemoryTokenCounts& counts) {
  TrainingStats ts;
  auto count = [&](const CorpusMessage& m) {
    counts.learn(m.tokens, m.spam);
    for (uint64_t t : {m.sender_tokens.address, m.sender_tokens.domain})
      if (t != 0) counts.learn_token(t, m.spam);
    (m.spam ? ts.learned_spam : ts.learned_ham)++;
  };
  if (regime.regime == Regime::kAll) {
    for (size_t i : order) count(corpus[i]);
    ts.passes = 1;
    return ts;
  }
  std::vector<TokenStat> stats;
  for (int pass = 0; pass < regime.max_passes; ++pass) {
    size_t learned = 0;
    for (size_t i : order) {
      const CorpusMessage& m = corpus[i];
      if (m.tokens.empty()) continue;  // a message the parser gave up on teaches nothing
      counts.lookup(m.tokens, stats);
      double p = combine(stats, counts.totals(), params).probability;  // 0.5 when abstaining
      bool confident = m.spam ? p >= 1.0 - regime.margin : p <= regime.margin;
      if (confident) continue;
      count(m);
      learned++;
    }
    ts.passes = pass + 1;
    if (learned == 0) break;
  }
  return ts;
}

HashedLogReg::HashedLogReg(const LogRegParams& params) : params_(params) {
  params_.hash_bits = std::clamp(params_.hash_bits, kMinLogRegHashBits, kMaxLogRegHashBits);
}

void HashedLogReg::train(const std::vector<const std::vector<uint64_t>*>& tokens,
                         const std::vector<bool>& spam) {
  const size_t n = std::min(tokens.size(), spam.size());
  w_.assign(size_t{1} << params_.hash_bits, 0.0f);
  g2_.assign(w_.size(), 0.0f);
  bias_ = bias_g2_ = 0;
  trained_spam_ = trained_ham_ = 0;
  for (size_t k = 0; k < n; ++k) (spam[k] ? trained_spam_ : trained_ham_)++;
  if (n == 0) return;
  const double both = static_cast<double>(n);
  const double cw_spam = params_.balance && trained_spam_ ? both / (2.0 * double(trained_spam_)) : 1.0;
  const double cw_ham = params_.balance && trained_ham_ ? both / (2.0 * double(trained_ham_)) : 1.0;
  constexpr double kEps = 1e-8;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(params_.seed);
  for (int epoch = 0; epoch < params_.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t k : order) {
      const std::vector<uint64_t>& x = *tokens[k];
      const double xv = params_.length_norm && !x.empty() ? 1.0 / std::sqrt(double(x.size())) : 1.0;
      const double z = log_odds(x);
      const double p = 1.0 / (1.0 + std::exp(-z));
      const double y = spam[k] ? 1.0 : 0.0;
      const double g = (p - y) * (spam[k] ? cw_spam : cw_ham);  // d loss / d z
      bias_g2_ += g * g;
      bias_ -= params_.learning_rate * g / (std::sqrt(bias_g2_) + kEps);
      for (uint64_t t : x) {
        const size_t j = index(t);
        const double gj = g * xv + params_.l2 * double(w_[j]);
        if (gj == 0) continue;
        g2_[j] = static_cast<float>(double(g2_[j]) + gj * gj);
        w_[j] = static_cast<float>(double(w_[j]) - params_.learning_rate * gj / (std::sqrt(double(g2_[j])) + kEps));
      }
    }
  }
}

double HashedLogReg::log_odds(const std::vector<uint64_t>& tokens) const {
  if (w_.empty()) return 0.0;
  double z = 0;
  for (uint64_t t : tokens) z += double(w_[index(t)]);
  if (params_.length_norm && !tokens.empty()) z /= std::sqrt(double(tokens.size()));
  return std::clamp(z + bias_, -40.0, 40.0);
}

double HashedLogReg::probability(const std::vector<uint64_t>& tokens) const {
  return 1.0 / (1.0 + std::exp(-log_odds(tokens)));
}

CrossValidation cross_validate(const std::vector<CorpusMessage>& corpus, const std::vector<Fold>& folds,
                               const ClassifierParams& params, const Policy& policy,
                               const TrainingRegime& regime, const ModelOptions& model) {
  CrossValidation cv;
  cv.policy = policy.domain;
  std::vector<TokenStat> stats;
  for (const Fold& fold : folds) {
    MemoryTokenCounts counts;
    FoldFigures fig;
    fig.name = fold.name;
    const std::vector<size_t> order = train_order(corpus, fold.train);
    fig.training = train(corpus, order, regime, params, counts);
    std::vector<HashedLogReg> bag;
    if (model.model != Model::kRobinson) {
      std::vector<const std::vector<uint64_t>*> xs;
      std::vector<bool> ys;
      for (size_t i : order) {
        if (corpus[i].tokens.empty()) continue;  // the parser gave up: nothing to learn
        xs.push_back(&corpus[i].tokens);
        ys.push_back(corpus[i].spam);
      }
      for (int k = 0; k < std::max(1, model.logreg.bags); ++k) {
        LogRegParams lp = model.logreg;
        lp.seed = model.logreg.seed + static_cast<uint64_t>(k);
        bag.emplace_back(lp);
        bag.back().train(xs, ys);
      }
    }
    const bool lr_speaks = !bag.empty() && bag.front().trained_spam() >= params.min_learned &&
                           bag.front().trained_ham() >= params.min_learned;
    for (size_t i : fold.test) {
      const CorpusMessage& m = corpus[i];
      Analysis a = m.analysis;
      double prob = 0.5;
      if (!a.verdict.fault) {
        counts.lookup(m.tokens, stats);
        ClassifierScore s = combine(stats, counts.totals(), params);
        if (model.model != Model::kRobinson && lr_speaks) {
          double q = 0;
          for (const HashedLogReg& lr : bag) q += lr.probability(m.tokens);
          q /= static_cast<double>(bag.size());
          const bool mean = model.model == Model::kEnsemble && !s.abstained;
          const double pr = s.probability;
          s.probability = mean ? (pr + q) / 2.0 : q;
          s.abstained = false;
          s.points = classifier_points(s.probability, params);
          s.uncertain = std::fabs(s.probability - 0.5) < kUncertainBand;
          char buf[96];
          if (mean)
            std::snprintf(buf, sizeof buf, "ensemble p=%.4f (counts %.4f, logreg %.4f)", s.probability, pr, q);
          else
            std::snprintf(buf, sizeof buf, "logreg p=%.4f", q);
          s.detail = buf;
        } else if (model.model == Model::kLogReg) {
          s = ClassifierScore{};
          s.detail = "logreg abstains: too few training messages";
        }
        prob = s.probability;
        a.verdict.add({"BAYES", s.points, "Statistical token classifier", s.detail,
                       ContributionKind::kClassifier});
        // The sender memory, as Classifier::classify_tokens gives it: only once the counts speak.
        if (learned_enough(counts.totals(), params)) {
          auto count = [&](uint64_t t) { return t == 0 ? TokenStat{} : counts.count(t); };
          const SenderMemory sm = sender_memory(count(m.sender_tokens.address), count(m.sender_tokens.domain), params);
          if (sm.points != 0)
            a.verdict.add(sender_contribution(sm.by_domain ? m.sender_domain_key : m.sender_key, sm.counts, sm.points));
        }
      }
      std::vector<std::pair<uint64_t, TokenStat>> strongest;
      if (model.explain > 0 && !m.tokens.empty()) {
        counts.lookup(m.tokens, stats);
        for (size_t k : strongest_tokens(stats, counts.totals(), params, model.explain))
          strongest.emplace_back(m.tokens[k], stats[k]);
      }
      Verdict v = decide(a, policy);
      bool flagged = v.action == Action::kJunk || v.action == Action::kQuarantine ||
                     v.action == Action::kReject;
      if (m.spam) {
        fig.spam++;
        fig.false_negatives += !flagged;
      } else {
        fig.ham++;
        fig.false_positives += flagged;
      }
      cv.results.push_back({i, fold.name, std::move(v), prob, std::move(strongest), counts.totals()});
    }
    cv.folds.push_back(std::move(fig));
  }
  return cv;
}

namespace {

// A verdict whose action a policy step chose, not the score (kClassifierAloneId only notes
// how the score was judged).
bool by_policy(const Verdict& v) {
  for (const auto& c : v.contributions)
    if (c.kind == ContributionKind::kPolicy && c.id != kClassifierAloneId) return true;
  return false;
}

}  // namespace

std::vector<FoldFigures> judge_at(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                                  double junk_threshold) {
  std::vector<FoldFigures> out;
  std::map<std::string, size_t> at;
  for (const auto& f : cv.folds) {
    at[f.name] = out.size();
    FoldFigures g;
    g.name = f.name;
    g.training = f.training;
    out.push_back(g);
  }
  for (const auto& r : cv.results) {
    auto it = at.find(r.fold);
    if (it == at.end()) continue;
    FoldFigures& g = out[it->second];
    bool flagged = by_policy(r.verdict) ? r.verdict.action != Action::kDeliver
                                        : threshold_score(r.verdict, cv.policy) >= junk_threshold;
    if (corpus[r.message].spam) {
      g.spam++;
      g.false_negatives += !flagged;
    } else {
      g.ham++;
      g.false_positives += flagged;
    }
  }
  return out;
}

double threshold_for_false_positives(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                                     size_t max_false_positives, double from, double to, double step) {
  if (step <= 0) step = 0.05;
  for (int k = 0;; ++k) {
    double t = from + step * k;
    if (t >= to) return to;
    size_t fp = 0;
    for (const auto& f : judge_at(corpus, cv, t)) fp += f.false_positives;
    if (fp <= max_false_positives) return t;
  }
}

namespace {

// Solves A x = b for a symmetric positive definite A (Cholesky); A is n*n row-major.
bool solve_spd(std::vector<double> a, std::vector<double> b, size_t n, std::vector<double>& x) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (d <= 1e-12) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L y = b
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L^T x = y
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  x = std::move(b);
  return true;
}

}  // namespace

namespace {

// Newton's method for L2-regularised logistic regression; features: 0 = bias, 1 = BAYES
// points, column[id] = rule hit (0/1). Returns the weights.
std::vector<double> fit_logistic(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                                 const std::map<std::string, size_t>& column, size_t n,
                                 const FitOptions& options) {
  struct Row {
    std::vector<size_t> on;  // binary features set
    double bayes = 0;
    double y = 0;
  };
  std::vector<Row> rows;
  rows.reserve(cv.results.size());
  for (const auto& r : cv.results) {
    Row row;
    row.y = corpus[r.message].spam ? 1 : 0;
    for (const auto& c : r.verdict.contributions) {
      if (c.kind == ContributionKind::kClassifier) row.bayes = c.score;
      auto it = column.find(c.id);
      if (it != column.end() && (c.kind == ContributionKind::kRule || c.kind == ContributionKind::kMeta))
        row.on.push_back(it->second);
    }
    rows.push_back(std::move(row));
  }
  std::vector<double> w(n, 0.0), grad(n), hess(n * n), step;
  for (int it = 0; it < options.iterations; ++it) {
    std::fill(grad.begin(), grad.end(), 0.0);
    std::fill(hess.begin(), hess.end(), 0.0);
    for (const Row& row : rows) {
      double z = w[0] + w[1] * row.bayes;
      for (size_t j : row.on) z += w[j];
      double p = 1.0 / (1.0 + std::exp(-std::clamp(z, -40.0, 40.0)));
      double g = p - row.y, h = std::max(p * (1 - p), 1e-9);
      std::vector<std::pair<size_t, double>> x{{0, 1.0}, {1, row.bayes}};
      for (size_t j : row.on) x.emplace_back(j, 1.0);
      for (const auto& [i, xi] : x) {
        grad[i] += g * xi;
        for (const auto& [j, xj] : x) hess[i * n + j] += h * xi * xj;
      }
    }
    for (size_t j = 2; j < n; ++j) {
      grad[j] += options.l2 * w[j];
      hess[j * n + j] += options.l2;
    }
    for (size_t j = 0; j < 2; ++j) hess[j * n + j] += 1e-6;
    if (!solve_spd(hess, grad, n, step)) break;
    double max_step = 0;
    for (size_t j = 0; j < n; ++j) {
      w[j] -= step[j];
      max_step = std::max(max_step, std::fabs(step[j]));
    }
    if (max_step < 1e-6) break;
  }
  return w;
}

}  // namespace

Fit fit_weights(const std::vector<CorpusMessage>& corpus, const CrossValidation& cv,
                const FitOptions& options) {
  // Features: index 0 = bias, 1 = BAYES points, then one per rule id hit often enough.
  std::map<std::string, FittedWeight> hits;
  for (const auto& r : cv.results) {
    for (const auto& c : r.verdict.contributions) {
      if (c.kind != ContributionKind::kRule && c.kind != ContributionKind::kMeta) continue;
      FittedWeight& w = hits[c.id];
      w.id = c.id;
      (corpus[r.message].spam ? w.spam_hits : w.ham_hits)++;
    }
  }
  // Rule weights are kept non-negative (a rule is evidence of spam, never a way for a sender
  // to buy points off): a rule whose fitted weight is negative is dropped and the fit
  // repeated without it (an active-set loop), so it ends at weight 0.
  std::set<std::string> dropped;
  std::vector<std::string> ids;
  std::vector<double> w;
  for (int round = 0; round < 20; ++round) {
    ids.clear();
    std::map<std::string, size_t> column;
    for (const auto& [id, fw] : hits) {
      if (fw.spam_hits + fw.ham_hits < options.min_hits || dropped.count(id)) continue;
      column[id] = 2 + ids.size();
      ids.push_back(id);
    }
    w = fit_logistic(corpus, cv, column, 2 + ids.size(), options);
    bool changed = false;
    for (size_t k = 0; k < ids.size(); ++k) {
      if (w[2 + k] < 0) {
        dropped.insert(ids[k]);
        changed = true;
      }
    }
    if (!changed) break;
  }
  Fit fit;
  fit.bias = w[0];
  FittedWeight b;
  b.id = "BAYES";
  b.weight = w[1];
  fit.weights.push_back(b);
  for (size_t k = 0; k < ids.size(); ++k) {
    FittedWeight fw = hits[ids[k]];
    fw.weight = w[2 + k];
    fit.weights.push_back(fw);
  }
  for (const auto& [id, fw] : hits) {
    if (std::find(ids.begin(), ids.end(), id) != ids.end()) continue;
    FittedWeight z = fw;
    z.weight = 0;
    z.rare = fw.spam_hits + fw.ham_hits < options.min_hits;
    fit.weights.push_back(z);
  }
  return fit;
}

}  // namespace tsubame::filter
