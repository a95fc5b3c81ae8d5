// tests/store/mail_fixture.h: shared set-up of the mail store tests: a store with one domain
// and three users, and helpers that build messages with recognisable markers.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/crypto.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace tsubame::store::testing {

// Fails the test (fatally for the current function) unless the Result/Status is ok.
#define ASSERT_OK(expr)                                                        \
  do {                                                                         \
    auto&& assert_ok_v_ = (expr);                                              \
    ASSERT_TRUE(assert_ok_v_.is_ok()) << #expr;                               \
  } while (0)

template <typename T>
std::string err(const Result<T>& r) { return r.is_ok() ? "ok" : r.status().to_string(); }
inline std::string err(const Status& s) { return s.to_string(); }

inline std::string raw_message(const std::string& subject, const std::string& body,
                               const std::string& from = "sender@remote.example") {
  return "From: Sender <" + from + ">\r\nTo: user@example.com\r\nSubject: " + subject +
         "\r\nMessage-ID: <" + subject + "@remote.example>\r\n\r\n" + body + "\r\n";
}

inline MessageSummary summary_for(const std::string& subject, const std::string& from,
                                  uint64_t size) {
  MessageSummary s;
  s.envelope.subject = subject;
  MailAddress a;
  a.name = "Sender";
  a.mailbox = from.substr(0, from.find('@'));
  a.host = from.substr(from.find('@') + 1);
  s.envelope.from.push_back(a);
  s.size = size;
  s.body.size = size;
  return s;
}

inline IncomingMessage incoming(const std::string& subject, const std::string& body,
                                std::vector<DeliveryTarget> targets,
                                const std::string& from = "sender@remote.example") {
  IncomingMessage m;
  m.raw = raw_message(subject, body, from);
  m.summary = summary_for(subject, from, m.raw.size());
  m.internal_date = 1700000000;
  m.targets = std::move(targets);
  return m;
}

inline DeliveryTarget to(uint64_t user, const std::string& mailbox = "INBOX", uint32_t flags = 0) {
  DeliveryTarget t;
  t.user_id = user;
  t.mailbox = mailbox;
  t.flags = flags;
  return t;
}

// A cheap but real Argon2id hash (tests must not spend 64 MiB per user).
inline std::string test_hash(const std::string& password) {
  crypto::PasswordParams p;
  p.t_cost = 1;
  p.m_cost_kib = 64;
  auto h = crypto::hash_password(password, p);
  return h.is_ok() ? h.value() : std::string("$argon2id$invalid");
}

class MailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = ts->add_domain("example.com");
    ASSERT_TRUE(d.is_ok()) << err(d);
    domain = *d;
    for (const char* name : {"alice", "bob", "carol"}) {
      auto u = ts->add_user(std::string(name) + "@example.com", test_hash(name));
      ASSERT_TRUE(u.is_ok()) << err(u);
      users.push_back(*u);
    }
    alice = users[0].id;
    bob = users[1].id;
    carol = users[2].id;
  }

  Store& store() { return *ts; }
  Mailbox box(uint64_t user, const std::string& name) {
    auto m = ts->find_mailbox(user, name);
    EXPECT_TRUE(m.is_ok()) << name << ": " << err(m);
    return m.is_ok() ? *m : Mailbox{};
  }
  DeliveredCopy deliver_one(uint64_t user, const std::string& subject, const std::string& mailbox = "INBOX",
                            uint32_t flags = 0) {
    auto r = ts->deliver({incoming(subject, "body of " + subject, {to(user, mailbox, flags)})});
    EXPECT_TRUE(r.is_ok()) << err(r);
    return r.is_ok() ? r->at(0).copies.at(0) : DeliveredCopy{};
  }
  void expect_consistent() {
    auto c = ts->check();
    ASSERT_TRUE(c.is_ok()) << err(c);
    for (const auto& p : c->problems) ADD_FAILURE() << "check: " << p;
  }

  TempStore ts;
  Domain domain;
  std::vector<User> users;
  uint64_t alice = 0, bob = 0, carol = 0;
};

}  // namespace tsubame::store::testing
