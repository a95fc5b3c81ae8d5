// tests/imapd/sort_test.cc: RFC 5256 base subjects, SORT orders and THREAD trees.
#include "imapd/sort.h"

#include <gtest/gtest.h>

#include <deque>

namespace tsubame::imap {
namespace {

TEST(BaseSubject, Rfc5256Rules) {
  EXPECT_EQ(base_subject("Hello"), "HELLO");
  EXPECT_EQ(base_subject("Re: Hello"), "HELLO");
  EXPECT_EQ(base_subject("RE: re: Fwd: hello"), "HELLO");
  EXPECT_EQ(base_subject("Fw: hello"), "HELLO");
  EXPECT_EQ(base_subject("Re[2]: hello"), "HELLO");          // subj-refwd with a blob
  EXPECT_EQ(base_subject("[list] Re: hello"), "HELLO");      // leading blob, then refwd
  EXPECT_EQ(base_subject("hello (fwd)"), "HELLO");           // subj-trailer
  EXPECT_EQ(base_subject("hello (fwd) (FWD)  "), "HELLO");
  EXPECT_EQ(base_subject("[Fwd: Re: hello]"), "HELLO");      // subj-fwd-hdr / -trl
  EXPECT_EQ(base_subject("  many   spaces\there "), "MANY SPACES HERE");
  EXPECT_EQ(base_subject("[only-a-blob]"), "[ONLY-A-BLOB]");  // the blob is kept if alone
  EXPECT_EQ(base_subject("Re:"), "");
  EXPECT_EQ(base_subject(""), "");
  EXPECT_EQ(base_subject("Reply to all"), "REPLY TO ALL");    // "Re" without ":" stays
}

struct Fixture {
  std::deque<MessageSummary> sums;
  std::vector<SortEntry> entries;
  void add(uint32_t seq, const std::string& subject, int64_t date, uint64_t size,
           const std::string& from, const std::string& msgid = "",
           std::vector<std::string> refs = {}) {
    MessageSummary s;
    s.envelope.subject = subject;
    s.sent_date = date;
    s.envelope.from = {MailAddress{std::nullopt, std::nullopt, from, "example.org"}};
    if (!msgid.empty()) s.envelope.message_id = msgid;
    s.references = std::move(refs);
    sums.push_back(std::move(s));
    SortEntry e;
    e.id = seq;
    e.seq = seq;
    e.internal_date = 1000 - seq;  // arrival order opposite to sequence order
    e.size = size;
    e.summary = &sums.back();
    entries.push_back(e);
  }
};

TEST(Sort, ByEachCriterionAndReverse) {
  Fixture f;
  f.add(1, "Re: banana", 300, 10, "carol");
  f.add(2, "apple", 100, 30, "alice");
  f.add(3, "cherry", 200, 20, "bob");
  using K = SortCriterion::Key;
  EXPECT_EQ(sort_messages(f.entries, {{K::kSubject, false}}), (std::vector<uint32_t>{2, 1, 3}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kDate, false}}), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kDate, true}}), (std::vector<uint32_t>{1, 3, 2}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kSize, false}}), (std::vector<uint32_t>{1, 3, 2}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kFrom, false}}), (std::vector<uint32_t>{2, 3, 1}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kArrival, false}}), (std::vector<uint32_t>{3, 2, 1}));
  // Ties fall back to the next criterion, then to the sequence number.
  f.add(4, "apple", 50, 30, "zed");
  EXPECT_EQ(sort_messages(f.entries, {{K::kSize, true}, {K::kDate, false}}),
            (std::vector<uint32_t>{4, 2, 3, 1}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kSubject, false}}),
            (std::vector<uint32_t>{2, 4, 1, 3}));
}

TEST(Sort, DisplayFromUsesTheName) {
  Fixture f;
  f.add(1, "x", 1, 1, "zz");
  f.add(2, "x", 1, 1, "bb");
  f.sums[0].envelope.from[0].name = "Aaron";  // "AARON" < "BB@EXAMPLE.ORG" < "ZZ"
  using K = SortCriterion::Key;
  EXPECT_EQ(sort_messages(f.entries, {{K::kDisplayFrom, false}}), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(sort_messages(f.entries, {{K::kFrom, false}}), (std::vector<uint32_t>{2, 1}));
}

TEST(Thread, OrderedSubject) {
  Fixture f;
  f.add(1, "Lunch", 100, 1, "a");
  f.add(2, "Report", 50, 1, "a");
  f.add(3, "Re: Lunch", 200, 1, "b");
  f.add(4, "Re: Lunch", 150, 1, "c");
  EXPECT_EQ(thread_orderedsubject(f.entries), "(2)(1 (4)(3))");
  EXPECT_EQ(thread_orderedsubject({}), "");
}

TEST(Thread, References) {
  Fixture f;
  f.add(1, "Plan", 100, 1, "a", "<a@x>");
  f.add(2, "Re: Plan", 200, 1, "b", "<b@x>", {"<a@x>"});
  f.add(3, "Re: Plan", 300, 1, "c", "<c@x>", {"<a@x>", "<b@x>"});
  f.add(4, "Re: Plan", 250, 1, "d", "<d@x>", {"<a@x>"});
  f.add(5, "Other", 50, 1, "e", "<e@x>");
  // 1 has children 2 (with child 3) and 4; 5 is alone and earliest.
  EXPECT_EQ(thread_references(f.entries), "(5)(1 (2 3)(4))");
}

TEST(Thread, ReferencesToMissingParentsAndSubjectMerge) {
  Fixture f;
  // Two replies to a message we do not have: a dummy root holds them together.
  f.add(1, "Re: Gone", 100, 1, "a", "<1@x>", {"<missing@x>"});
  f.add(2, "Re: Gone", 200, 1, "b", "<2@x>", {"<missing@x>"});
  // Same base subject, no references: merged with its subject's thread.
  f.add(3, "Trip", 300, 1, "c", "<3@x>");
  f.add(4, "Re: Trip", 400, 1, "d", "<4@x>");
  EXPECT_EQ(thread_references(f.entries), "((1)(2))(3 4)");
}

TEST(Thread, ReferenceLoopsAndDuplicateIdsDoNotHang) {
  Fixture f;
  f.add(1, "A", 100, 1, "a", "<1@x>", {"<2@x>"});
  f.add(2, "B", 200, 1, "b", "<2@x>", {"<1@x>"});
  f.add(3, "C", 300, 1, "c", "<2@x>");  // duplicate Message-ID
  std::string t = thread_references(f.entries);
  for (const char* id : {"1", "2", "3"}) EXPECT_NE(t.find(id), std::string::npos) << t;
}

}  // namespace
}  // namespace tsubame::imap
