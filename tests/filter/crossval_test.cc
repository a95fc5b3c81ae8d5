// tests/filter/crossval_test.cc: the tuning harness (filter/crossval.h): fold construction,
// in-memory counts, out-of-fold verdicts through the real default rule set and policy, and
// the non-negative weight fit. Messages are small ones written here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "filter/crossval.h"

#include "tests/filter/default_rules_fixture.h"

namespace tsubame::filter {
namespace {


std::string spam_message(int i) {
  return "From: Winner <promo" + std::to_string(i) + "@bulk.example>\r\n"
         "To: undisclosed-recipients:;\r\n"
         "Subject: CASH PRIZE WAITING FOR YOU NOW\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0000\r\n"
         "Message-ID: <p" + std::to_string(i) + "@bulk.example>\r\n\r\n"
         "Dear friend, claim your cash prize today! Earn extra income from home, "
         "100% guaranteed, no risk. To be removed from our list reply with remove in the subject.\r\n";
}

std::string ham_message(int i) {
  return "From: Alice <alice@partner.example>\r\n"
         "To: bob@ours.example\r\n"
         "Subject: notes from meeting " + std::to_string(i) + "\r\n"
         "Date: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
         "Message-ID: <m" + std::to_string(i) + "@partner.example>\r\n\r\n"
         "Hi Bob, attached are the notes from the project meeting; please review the schedule "
         "before Thursday. Thanks, Alice\r\n";
}

// Cross-validates corpus on the standard folds (min_learned 2) and returns, for each ham
// result, its fold and its SENDER_KNOWN (none where it got none), after checking that no spam
// got one: every test spam here comes from an address and domain no ham shares.
struct HamMemory {
  std::string fold;
  std::optional<Contribution> known;
};
std::vector<HamMemory> ham_sender_memory(const std::vector<CorpusMessage>& corpus, ClassifierParams p) {
  p.min_learned = 2;
  auto cv = cross_validate(corpus, standard_folds(corpus), p, Policy{});
  std::vector<HamMemory> out;
  for (const auto& r : cv.results) {
    const Contribution* c = r.verdict.find(kSenderKnownId);
    if (corpus[r.message].spam) {
      EXPECT_EQ(c, nullptr) << r.fold << ": a spam sender learned as ham";
      continue;
    }
    out.push_back({r.fold, c ? std::optional<Contribution>(*c) : std::nullopt});
  }
  return out;
}

class CrossValTest : public testing::DefaultRulesTest {
 protected:
  void SetUp() override {
    ASSERT_NE(filter_, nullptr);
    for (int i = 0; i < 8; ++i)
      corpus_.push_back(prepare_message(*filter_, "spam" + std::to_string(i), spam_message(i), true));
    for (int i = 0; i < 12; ++i)
      corpus_.push_back(prepare_message(*filter_, "ham" + std::to_string(i), ham_message(i), false));
  }
  std::vector<CorpusMessage> corpus_;
};

TEST_F(CrossValTest, PreparedMessagesCarryRulesAndTokensButNoBayes) {
  const CorpusMessage& s = corpus_.front();
  EXPECT_TRUE(s.spam);
  EXPECT_FALSE(s.tokens.empty());
  EXPECT_TRUE(std::is_sorted(s.tokens.begin(), s.tokens.end()));
  EXPECT_TRUE(s.analysis.verdict.has("TO_UNDISCLOSED"));
  EXPECT_FALSE(s.analysis.verdict.has("BAYES"));  // added per fold
  EXPECT_GT(s.bytes, 0u);
}

TEST_F(CrossValTest, FoldsSplitEachClassByPositionAndByHalf) {
  auto folds = standard_folds(corpus_);
  ASSERT_EQ(folds.size(), 4u);
  for (const Fold& f : folds) {
    std::set<size_t> train(f.train.begin(), f.train.end()), test(f.test.begin(), f.test.end());
    EXPECT_EQ(train.size() + test.size(), corpus_.size()) << f.name;  // a partition...
    for (size_t i : test) EXPECT_FALSE(train.count(i)) << f.name;    // ...never overlapping
    size_t test_spam = std::count_if(f.test.begin(), f.test.end(), [&](size_t i) { return corpus_[i].spam; });
    EXPECT_EQ(test_spam, 4u) << f.name;  // half of each class
  }
  // even -> odd trains on positions 0, 2, 4 ... of each class; old -> new on the first half.
  EXPECT_EQ(folds[0].name, "even -> odd");
  EXPECT_EQ(folds[0].train.front(), 0u);
  EXPECT_EQ(folds[0].test.front(), 1u);
  EXPECT_EQ(folds[2].name, "old -> new");
  EXPECT_EQ(folds[2].train.front(), 0u);
  EXPECT_EQ(folds[2].test.front(), 4u);
  EXPECT_EQ(folds[3].test.front(), 0u);
}

TEST_F(CrossValTest, EveryPreparedTokenHasAName) {
  // What --explain names is exactly what prepare_message() tokenised: the words and the
  // rules the message hit (rule:ID).
  for (int i = 0; i < 2; ++i) {
    const CorpusMessage& m = corpus_[i];
    auto parsed = parse_message(spam_message(i));
    ASSERT_TRUE(parsed);
    std::set<uint64_t> named;
    for (const auto& t : named_tokens(classifier_input(*parsed, m.analysis.verdict))) named.insert(t.hash);
    for (uint64_t h : m.tokens) EXPECT_TRUE(named.count(h)) << m.name;
    EXPECT_TRUE(named.count(token_hash("x", "rule:TO_UNDISCLOSED")));
  }
}

TEST_F(CrossValTest, DriftFoldsSplitSpamByTimeAndInterleaveHam) {
  auto folds = drift_folds(corpus_);
  ASSERT_EQ(folds.size(), 2u);
  for (const Fold& f : folds) {
    std::set<size_t> train(f.train.begin(), f.train.end()), test(f.test.begin(), f.test.end());
    EXPECT_EQ(train.size() + test.size(), corpus_.size()) << f.name;
    for (size_t i : test) EXPECT_FALSE(train.count(i)) << f.name;
  }
  // corpus_: spam at 0..7 (file order), ham at 8..19.
  std::vector<size_t> fwd_spam_test, fwd_ham_test;
  for (size_t i : folds[0].test) (corpus_[i].spam ? fwd_spam_test : fwd_ham_test).push_back(i);
  EXPECT_EQ(fwd_spam_test, (std::vector<size_t>{4, 5, 6, 7}));        // the newer half of the spam
  EXPECT_EQ(fwd_ham_test, (std::vector<size_t>{9, 11, 13, 15, 17, 19}));  // every other ham
  std::vector<size_t> back_spam_test;
  for (size_t i : folds[1].test)
    if (corpus_[i].spam) back_spam_test.push_back(i);
  EXPECT_EQ(back_spam_test, (std::vector<size_t>{0, 1, 2, 3}));
}

TEST_F(CrossValTest, SenderIsTheListOrTheFromOrganisation) {
  EXPECT_EQ(corpus_.front().sender, "from:bulk.example");
  EXPECT_EQ(corpus_.back().sender, "from:partner.example");
  std::string listed = "From: Carol <carol@mail.uni.example.ac.uk>\r\n"
                       "To: ilug@linux.ie\r\n"
                       "List-Id: Irish Linux Users' Group <ilug.linux.ie>\r\n"
                       "Subject: [ILUG] kernel question\r\n\r\nWhich kernel do you run?\r\n";
  EXPECT_EQ(prepare_message(*filter_, "l", listed, false).sender, "list:ilug.linux.ie");
  std::string sub = "From: News <news@mail.shop.example.com>\r\nSubject: hi\r\n\r\nhello\r\n";
  EXPECT_EQ(prepare_message(*filter_, "s", sub, false).sender, "from:example.com");
  std::string none = "Subject: no sender\r\n\r\nhello\r\n";
  EXPECT_EQ(prepare_message(*filter_, "n", none, false).sender, "");
}

TEST(SenderFolds, NoHamSenderOnBothSidesAndSpamByTime) {
  // Spam 0..5 (file order); ham 6..15 from: a list (4), one company (3), a second
  // company (1) and two ham with no known sender.
  std::vector<CorpusMessage> c;
  auto add = [&](bool spam, std::string sender) {
    CorpusMessage m;
    m.spam = spam;
    m.sender = std::move(sender);
    c.push_back(std::move(m));
  };
  for (int k = 0; k < 6; ++k) add(true, "from:bulk.example");
  for (const char* s : {"list:l.example", "from:b.example", "list:l.example", "", "from:b.example",
                        "list:l.example", "from:c.example", "from:b.example", "list:l.example", ""})
    add(false, s);
  SenderFolds sf = sender_folds(c);
  EXPECT_EQ(sf.senders, 5u);  // the list, two companies, two unknown
  EXPECT_EQ(sf.largest, 4u);
  ASSERT_EQ(sf.folds.size(), 2u);
  const Fold& one = sf.folds[0];
  const Fold& two = sf.folds[1];
  EXPECT_EQ(two.train, one.test);
  EXPECT_EQ(two.test, one.train);
  std::set<std::string> train_senders, test_senders;
  std::vector<size_t> spam_test;
  size_t ham_train = 0, ham_test = 0;
  for (size_t i : one.train) {
    if (!c[i].spam) {
      train_senders.insert(c[i].sender);
      ++ham_train;
    }
  }
  for (size_t i : one.test) {
    if (c[i].spam) {
      spam_test.push_back(i);
    } else {
      test_senders.insert(c[i].sender);
      ++ham_test;
    }
  }
  EXPECT_EQ(one.train.size() + one.test.size(), c.size());
  for (const std::string& s : test_senders) {
    if (!s.empty()) {
      EXPECT_FALSE(train_senders.count(s)) << s;
    }
  }
  EXPECT_EQ(spam_test, (std::vector<size_t>{3, 4, 5}));  // the newer half
  // Dealt largest first to the smaller side: list (4) | company b (3), then c, then the two
  // unknown ones: 4 + 1 against 3 + 1 + 1.
  EXPECT_EQ(ham_train, 5u);
  EXPECT_EQ(ham_test, 5u);
  EXPECT_TRUE(train_senders.count("list:l.example"));
  EXPECT_TRUE(test_senders.count("from:b.example"));
}

TEST(CampaignFolds, JaccardOfSortedTokenLists) {
  EXPECT_DOUBLE_EQ(jaccard({1, 2, 3, 4}, {3, 4, 5, 6}), 2.0 / 6.0);
  EXPECT_DOUBLE_EQ(jaccard({1, 2}, {1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(jaccard({1, 2}, {3}), 0.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {}), 1.0);
  EXPECT_DOUBLE_EQ(jaccard({}, {7}), 0.0);
}

TEST(CampaignFolds, NoCampaignOnBothSidesAndHamInterleaved) {
  // Tokens only matter here. Campaign X: five spam sharing 1..10 with one token of their
  // own each (Jaccard 10/12); campaign Y: three spam on 100..109, chained through a variant
  // (the first and last alike only through the middle one); four unlike spam; six ham.
  std::vector<CorpusMessage> c;
  auto add = [&](bool spam, std::vector<uint64_t> t) {
    std::sort(t.begin(), t.end());
    CorpusMessage m;
    m.spam = spam;
    m.tokens = std::move(t);
    c.push_back(std::move(m));
  };
  for (uint64_t k = 0; k < 5; ++k) add(true, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 50 + k});         // 0..4
  add(true, {100, 101, 102, 103, 104, 105, 106, 107, 108, 109});                               // 5
  add(true, {104, 105, 106, 107, 108, 109, 110, 111, 112, 113});                               // 6
  add(true, {108, 109, 110, 111, 112, 113, 114, 115, 116, 117});                               // 7
  for (uint64_t k = 0; k < 4; ++k) add(true, {1000 + 10 * k, 1001 + 10 * k, 1002 + 10 * k});  // 8..11
  for (uint64_t k = 0; k < 6; ++k) add(false, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});              // 12..17
  auto cf = campaign_folds(c, 0.3);
  EXPECT_EQ(cf.campaigns, 6u);  // X, Y and four alone
  EXPECT_EQ(cf.largest, 5u);
  EXPECT_EQ(cf.singletons, 4u);
  ASSERT_EQ(cf.folds.size(), 2u);
  const Fold& one = cf.folds[0];
  const Fold& two = cf.folds[1];
  std::set<size_t> test1(one.test.begin(), one.test.end()), train1(one.train.begin(), one.train.end());
  EXPECT_EQ(test1.size() + train1.size(), c.size());
  for (size_t i : test1) EXPECT_FALSE(train1.count(i));
  // The second fold is the first one turned round.
  EXPECT_EQ(std::vector<size_t>(two.train.begin(), two.train.end()), one.test);
  EXPECT_EQ(std::vector<size_t>(two.test.begin(), two.test.end()), one.train);
  // Each campaign lies wholly on one side: X (largest) trains fold 1, Y is tested there.
  for (size_t i = 0; i < 5; ++i) EXPECT_TRUE(train1.count(i)) << i;
  for (size_t i = 5; i < 8; ++i) EXPECT_TRUE(test1.count(i)) << i;
  // Dealt to the smaller side: 5 + 1 against 3 + 3.
  size_t train_spam = std::count_if(one.train.begin(), one.train.end(), [&](size_t i) { return c[i].spam; });
  EXPECT_EQ(train_spam, 6u);
  // Ham interleaved by position: fold 1 tests every other ham.
  std::vector<size_t> ham_test;
  for (size_t i : one.test)
    if (!c[i].spam) ham_test.push_back(i);
  EXPECT_EQ(ham_test, (std::vector<size_t>{13, 15, 17}));
  // At a similarity above X's 10/12 every spam stands alone.
  EXPECT_EQ(campaign_folds(c, 0.9).campaigns, 12u);
}

TEST(CampaignFolds, RuleTokensDoNotGroupSpam) {
  // Two spam alike only in the rule they both hit: by their words they are two campaigns,
  // whatever the rule set under test makes of them.
  uint64_t rule = token_hash("x", "rule:SHARED_RULE");
  std::vector<CorpusMessage> c(4);
  c[0].tokens = {1, 2, rule};
  c[1].tokens = {3, 4, rule};
  for (int i = 0; i < 2; ++i) {
    std::sort(c[i].tokens.begin(), c[i].tokens.end());
    c[i].spam = true;
    c[i].analysis.verdict.contributions.push_back({"SHARED_RULE", 1.0, "", "", ContributionKind::kRule});
  }
  ASSERT_DOUBLE_EQ(jaccard(c[0].tokens, c[1].tokens), 0.2);  // with the rule token they would link at 0.2
  EXPECT_EQ(campaign_folds(c, 0.2).campaigns, 2u);
  c[1].tokens = {2, 3, rule};  // now one word in common: 1/3 without the rule token
  std::sort(c[1].tokens.begin(), c[1].tokens.end());
  EXPECT_EQ(campaign_folds(c, 0.3).campaigns, 1u);
}

TEST_F(CrossValTest, ExplainKeepsTheStrongestTokensOfEachResult) {
  ClassifierParams p;
  p.min_learned = 2;
  ModelOptions mo;
  mo.explain = 5;
  auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{}, {}, mo);
  for (const auto& r : cv.results) {
    ASSERT_EQ(r.strongest.size(), 5u);
    double prev = 1.0;
    for (const auto& [hash, stat] : r.strongest) {
      EXPECT_GT(stat.spam + stat.ham, 0u);  // only tokens the fold learned
      EXPECT_TRUE(std::binary_search(corpus_[r.message].tokens.begin(), corpus_[r.message].tokens.end(), hash));
      double dev = std::fabs(token_probability(stat, r.totals, p) - 0.5);
      EXPECT_LE(dev, prev + 1e-12);  // strongest first
      prev = dev;
    }
  }
  // Without the option nothing is kept.
  auto plain = cross_validate(corpus_, standard_folds(corpus_), p, Policy{});
  for (const auto& r : plain.results) EXPECT_TRUE(r.strongest.empty());
}

TEST_F(CrossValTest, MemoryCountsAreStoreSums) {
  MemoryTokenCounts c;
  c.learn({1, 2, 3}, true);
  c.learn({2, 3}, false);
  c.learn({3}, false);
  EXPECT_EQ(c.totals().spam, 1u);
  EXPECT_EQ(c.totals().ham, 2u);
  std::vector<TokenStat> out;
  c.lookup({3, 4, 1}, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].spam, 1u);
  EXPECT_EQ(out[0].ham, 2u);
  EXPECT_EQ(out[1].spam + out[1].ham, 0u);  // unknown
  EXPECT_EQ(out[2].spam, 1u);
}

TEST_F(CrossValTest, OutOfFoldVerdictsCountErrorsPerFold) {
  ClassifierParams p;
  p.min_learned = 2;
  auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{});
  ASSERT_EQ(cv.folds.size(), 4u);
  ASSERT_EQ(cv.results.size(), 4 * corpus_.size() / 2);
  for (const auto& f : cv.folds) {
    EXPECT_EQ(f.spam, 4u);
    EXPECT_EQ(f.ham, 6u);
    EXPECT_EQ(f.false_positives, 0u) << f.name;  // the ham is plain business mail
    EXPECT_EQ(f.false_negatives, 0u) << f.name;  // rules plus a trained classifier catch it
  }
  for (const auto& r : cv.results) {
    ASSERT_TRUE(r.verdict.has("BAYES"));
    if (corpus_[r.message].spam) {
      EXPECT_GT(r.probability, 0.5) << r.fold << " " << r.verdict.find("BAYES")->detail;
    } else {
      EXPECT_LT(r.probability, 0.5);
    }
  }
}

TEST_F(CrossValTest, SenderMemoryAsTheProductScoresIt) {
  // Alice's ham has no Received field: her key is her address with no network.
  EXPECT_EQ(corpus_.back().sender_key, "alice@partner.example|");
  EXPECT_EQ(corpus_.back().sender_tokens.address, sender_token_hash("alice@partner.example|"));
  EXPECT_EQ(corpus_.back().sender_domain_key, "") << "no network, no domain key";
  EXPECT_EQ(corpus_.back().sender_tokens.domain, 0u);
  ClassifierParams p;
  auto ham = ham_sender_memory(corpus_, p);
  ASSERT_EQ(ham.size(), 4 * 6u);
  for (const HamMemory& h : ham) {
    ASSERT_TRUE(h.known) << h.fold;
    EXPECT_DOUBLE_EQ(h.known->score, sender_points({0, 6}, p)) << "6 of Alice's ham in each training half";
    EXPECT_DOUBLE_EQ(h.known->score, -p.sender_max_points);
  }
  p.sender_points_per_doubling = 0;  // off
  for (const HamMemory& h : ham_sender_memory(corpus_, p)) EXPECT_FALSE(h.known) << h.fold;
}

TEST_F(CrossValTest, DomainMemoryAsTheProductScoresIt) {
  // A newsletter whose every copy has its own From address, sent from one network.
  auto issue = [](int i) {
    return "Received: from mta.news.example (mta.news.example [206.16.1." + std::to_string(i) +
           "]) by mx.ours.example; Mon, 6 Jan 2025 10:00:00 +0900\r\n"
           "From: News <issue-" + std::to_string(i) + ".x7@news.example>\r\nTo: bob@ours.example\r\n"
           "Subject: weekly news " + std::to_string(i) + "\r\nDate: Mon, 6 Jan 2025 10:00:00 +0900\r\n"
           "Message-ID: <w" + std::to_string(i) + "@news.example>\r\n\r\nThis week: compilers and chips.\r\n";
  };
  std::vector<CorpusMessage> corpus(corpus_.begin(), corpus_.begin() + 8);  // the spam
  for (int i = 0; i < 8; ++i) corpus.push_back(prepare_message(*filter_, "news" + std::to_string(i), issue(i), false));
  const CorpusMessage& last = corpus.back();
  EXPECT_EQ(last.sender_domain_key, "@news.example|206.16/16");
  EXPECT_EQ(last.sender_tokens.domain, sender_token_hash("@news.example|206.16/16"));
  ClassifierParams shared;  // the harness takes the product's list: a shared domain has no domain token
  shared.shared_mail_domains = {"news.example"};
  EXPECT_EQ(prepare_message(*filter_, "n", issue(1), false, shared).sender_tokens.domain, 0u);

  ClassifierParams p;
  auto ham = ham_sender_memory(corpus, p);
  ASSERT_EQ(ham.size(), 4 * 4u);
  for (const HamMemory& h : ham) {
    ASSERT_TRUE(h.known) << h.fold;
    EXPECT_DOUBLE_EQ(h.known->score, sender_memory({0, 0}, {0, 4}, p).points) << "4 copies in each training half";
    EXPECT_NE(h.known->detail.find("From domain news.example via 206.16/16: learned 4 ham"), std::string::npos)
        << h.known->detail;
  }
}

TEST_F(CrossValTest, LogRegAndEnsembleModelsGiveTheBayesContribution) {
  ClassifierParams p;
  p.min_learned = 2;
  for (Model model : {Model::kLogReg, Model::kEnsemble}) {
    ModelOptions mo;
    mo.model = model;
    auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{}, {}, mo);
    ASSERT_EQ(cv.results.size(), 4 * corpus_.size() / 2);
    for (const auto& f : cv.folds) {
      EXPECT_EQ(f.false_positives, 0u) << f.name;
      EXPECT_EQ(f.false_negatives, 0u) << f.name;
    }
    for (const auto& r : cv.results) {
      const Contribution* b = r.verdict.find("BAYES");
      ASSERT_NE(b, nullptr);
      EXPECT_NE(b->detail.find(model == Model::kLogReg ? "logreg p=" : "ensemble p="), std::string::npos)
          << b->detail;
      EXPECT_GE(r.probability, 0.0);
      EXPECT_LE(r.probability, 1.0);
      EXPECT_DOUBLE_EQ(b->score, classifier_points(r.probability, p));  // same points mapping
      if (corpus_[r.message].spam) EXPECT_GT(r.probability, 0.5) << b->detail;
      else EXPECT_LT(r.probability, 0.5) << b->detail;
    }
  }
  // A bag of models (mean probability over seeds) still separates the toy corpus.
  {
    ModelOptions mo;
    mo.model = Model::kLogReg;
    mo.logreg.bags = 3;
    auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{}, {}, mo);
    for (const auto& r : cv.results) {
      EXPECT_GE(r.probability, 0.0);
      EXPECT_LE(r.probability, 1.0);
      EXPECT_EQ(r.probability > 0.5, corpus_[r.message].spam);
    }
  }
  // Below min_learned the log-odds model abstains like the counts: no points.
  p.min_learned = 100;
  ModelOptions mo;
  mo.model = Model::kLogReg;
  auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{}, {}, mo);
  for (const auto& r : cv.results) {
    EXPECT_DOUBLE_EQ(r.probability, 0.5);
    EXPECT_DOUBLE_EQ(r.verdict.find("BAYES")->score, 0.0);
  }
}

TEST_F(CrossValTest, JudgeAtReproducesThePolicyThresholdAndFindsTheFpThreshold) {
  ClassifierParams p;
  p.min_learned = 2;
  Policy policy;
  auto cv = cross_validate(corpus_, standard_folds(corpus_), p, policy);
  auto same = judge_at(corpus_, cv, policy.domain.junk_threshold);
  ASSERT_EQ(same.size(), cv.folds.size());
  for (size_t k = 0; k < same.size(); ++k) {
    EXPECT_EQ(same[k].name, cv.folds[k].name);
    EXPECT_EQ(same[k].ham, cv.folds[k].ham);
    EXPECT_EQ(same[k].spam, cv.folds[k].spam);
    EXPECT_EQ(same[k].false_positives, cv.folds[k].false_positives);
    EXPECT_EQ(same[k].false_negatives, cv.folds[k].false_negatives);
  }
  // At a threshold below every ham's score all ham is junked; far above, all spam kept.
  size_t fp = 0, fn = 0;
  for (const auto& f : judge_at(corpus_, cv, -100.0)) fp += f.false_positives;
  for (const auto& f : judge_at(corpus_, cv, 1000.0)) fn += f.false_negatives;
  EXPECT_EQ(fp, 4 * 6u);
  EXPECT_EQ(fn, 4 * 4u);
  // The lowest threshold with no false positives lies above the highest ham score the
  // policy judges (threshold_score: uncorroborated classifier points set aside).
  double t = threshold_for_false_positives(corpus_, cv, 0, -100.0, 100.0, 0.05);
  double top_ham = -1e9;
  for (const auto& r : cv.results)
    if (!corpus_[r.message].spam) top_ham = std::max(top_ham, threshold_score(r.verdict, cv.policy));
  EXPECT_GT(t, top_ham);
  EXPECT_LE(t, top_ham + 0.05 + 1e-9);
  EXPECT_DOUBLE_EQ(threshold_for_false_positives(corpus_, cv, 0, -100.0, -99.0, 0.05), -99.0);  // none found
  // With the classifier allowed to decide alone, judge_at re-judges by the full score, and
  // again reproduces what decide() said at the policy's threshold.
  policy.domain.classifier_needs_rule = false;
  auto alone = cross_validate(corpus_, standard_folds(corpus_), p, policy);
  EXPECT_FALSE(alone.policy.classifier_needs_rule);
  auto again = judge_at(corpus_, alone, policy.domain.junk_threshold);
  for (size_t k = 0; k < again.size(); ++k) {
    EXPECT_EQ(again[k].false_positives, alone.folds[k].false_positives);
    EXPECT_EQ(again[k].false_negatives, alone.folds[k].false_negatives);
  }
}

TEST_F(CrossValTest, TrainOrderInterleavesClassesKeepingEachClassInOrder) {
  std::vector<size_t> all(corpus_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto order = train_order(corpus_, all);
  ASSERT_EQ(order.size(), corpus_.size());
  EXPECT_EQ(std::set<size_t>(order.begin(), order.end()).size(), corpus_.size());
  size_t last_spam = 0, last_ham = 8, spam_seen = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    size_t i = order[k];
    if (corpus_[i].spam) {
      EXPECT_GE(i, last_spam);  // file-name order kept within the class
      last_spam = i;
      spam_seen++;
    } else {
      EXPECT_GE(i, last_ham);
      last_ham = i;
    }
    // Proportional: after k + 1 messages about (k + 1) * 8 / 20 are spam, never 2 off.
    double expected = double(k + 1) * 8.0 / 20.0;
    EXPECT_LT(std::abs(double(spam_seen) - expected), 1.5) << k;
  }
}

TEST_F(CrossValTest, ToneLearnsOnlyWhatTheCountsGetWrongOrUnsure) {
  ClassifierParams p;
  p.min_learned = 2;
  std::vector<size_t> all(corpus_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto order = train_order(corpus_, all);

  MemoryTokenCounts everything;
  TrainingStats s_all = train(corpus_, order, {Regime::kAll, 0.1, 5}, p, everything);
  EXPECT_EQ(s_all.learned_spam, 8u);
  EXPECT_EQ(s_all.learned_ham, 12u);
  EXPECT_EQ(s_all.passes, 1);

  MemoryTokenCounts tone;
  TrainingStats s_tone = train(corpus_, order, {Regime::kTone, 0.1, 5}, p, tone);
  // The abstaining classifier learns the first two of each class; after that the messages of
  // one template are confidently right and skipped.
  EXPECT_GE(s_tone.learned_spam, p.min_learned);
  EXPECT_GE(s_tone.learned_ham, p.min_learned);
  EXPECT_LT(s_tone.learned_spam + s_tone.learned_ham, corpus_.size());
  EXPECT_EQ(tone.totals().spam, s_tone.learned_spam);
  EXPECT_EQ(tone.totals().ham, s_tone.learned_ham);
  EXPECT_GE(s_tone.passes, 2);  // the last pass learned nothing: that is how it stops
  EXPECT_LE(s_tone.passes, 5);

  // A message the trained counts already get right with confidence is skipped: nothing changes.
  TokenStat before = everything.totals();
  TrainingStats again = train(corpus_, {0, 8}, {Regime::kTone, 0.1, 5}, p, everything);
  EXPECT_EQ(again.learned_spam + again.learned_ham, 0u);
  EXPECT_EQ(again.passes, 1);
  EXPECT_EQ(everything.totals().spam, before.spam);
  EXPECT_EQ(everything.totals().ham, before.ham);
}

TEST_F(CrossValTest, FitKeepsRuleWeightsNonNegativeAndMarksRareRules) {
  ClassifierParams p;
  p.min_learned = 2;
  auto cv = cross_validate(corpus_, standard_folds(corpus_), p, Policy{});
  FitOptions o;
  o.min_hits = 3;
  Fit fit = fit_weights(corpus_, cv, o);
  ASSERT_FALSE(fit.weights.empty());
  EXPECT_EQ(fit.weights[0].id, "BAYES");
  bool saw_undisclosed = false;
  for (size_t i = 1; i < fit.weights.size(); ++i) {
    const auto& w = fit.weights[i];
    EXPECT_GE(w.weight, 0.0) << w.id;
    if (w.id == "TO_UNDISCLOSED") {
      saw_undisclosed = true;
      EXPECT_EQ(w.spam_hits, 16u);  // 8 spam, each tested in two folds
      EXPECT_EQ(w.ham_hits, 0u);
      EXPECT_FALSE(w.rare);
    }
    if (w.spam_hits + w.ham_hits < o.min_hits) {
      EXPECT_TRUE(w.rare) << w.id;
    }
  }
  EXPECT_TRUE(saw_undisclosed);
  EXPECT_LT(fit.bias, 0.0);  // most messages are ham
}

}  // namespace
}  // namespace tsubame::filter
