// tests/imapd/imapd_fixture.cc: sets up a real store for the imapd integration test
// (imapd_integration_test.py), through the store's public API only.
//   imapd_fixture init DIR               data dir DIR/data, key DIR/master.key, domain
//                                        example.com, user alice@example.com (password
//                                        "correct horse"), three messages in INBOX, a
//                                        self-signed certificate DIR/tls/{cert,key}.pem
//   imapd_fixture deliver DIR ADDR SUBJ  delivers one message to ADDR's INBOX, as smtpd does
//                                        (another process writing the same LMDB store)
// Summaries come from the filter's MIME parse when it is built, as at delivery.
// Exit status 1 with a reason on stderr when anything fails.
#include <filesystem>
#include <iostream>
#include <string>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/tls.h"
#include "store/store.h"
#ifdef TSUBAME_FIXTURE_WITH_FILTER
#include "filter/mime.h"
#endif

using namespace tsubame;

static int fail(const Status& s) {
  std::cerr << "imapd_fixture: " << s.to_string() << "\n";
  return 1;
}

static Result<MessageSummary> summarize(const std::string& raw) {
#ifdef TSUBAME_FIXTURE_WITH_FILTER
  auto p = filter::parse_message(raw);
  if (!p.is_ok()) return p.status();
  return p->summary;
#else
  MessageSummary s;
  size_t end = raw.find("\r\n\r\n");
  end = end == std::string::npos ? raw.size() : end + 4;
  s.size = raw.size();
  s.body.body_offset = end;
  s.body.body_end = raw.size();
  s.body.size = raw.size() - end;
  return s;
#endif
}

static std::string message(const std::string& subject, const std::string& body) {
  return "From: Bob Example <bob@example.org>\r\nTo: Alice <alice@example.com>\r\n"
         "Subject: " + subject + "\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
         "Message-ID: <" + to_hex(random_bytes(8)) + "@example.org>\r\n"
         "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + body;
}

static Status deliver(store::Store& st, uint64_t user, const std::string& raw) {
  auto sum = summarize(raw);
  if (!sum.is_ok()) return sum.status();
  store::IncomingMessage in;
  in.raw = raw;
  in.summary = *sum;
  store::DeliveryTarget t;
  t.user_id = user;
  in.targets.push_back(t);
  auto r = st.deliver({in});
  return r.is_ok() ? Status::ok() : r.status();
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: imapd_fixture init DIR | deliver DIR ADDRESS SUBJECT | check DIR\n";
    return 2;
  }
  std::string cmd = argv[1];
  std::filesystem::path dir = argv[2];
  store::Options o;
  o.data_dir = (dir / "data").string();
  o.key_file = (dir / "master.key").string();
  o.create = cmd == "init";
  auto st = store::Store::open(o);
  if (!st.is_ok()) return fail(st.status());
  if (cmd == "init") {
    if (auto d = (*st)->add_domain("example.com"); !d.is_ok()) return fail(d.status());
    crypto::PasswordParams cheap;
    cheap.m_cost_kib = 8192;
    cheap.t_cost = 1;
    auto hash = crypto::hash_password("correct horse", cheap);
    if (!hash.is_ok()) return fail(hash.status());
    auto u = (*st)->add_user("alice@example.com", *hash);
    if (!u.is_ok()) return fail(u.status());
    for (const auto& [subj, body] : {std::pair<std::string, std::string>{"Lunch", "Noodles at noon?\r\n"},
                                     {"Report", "The quarterly report is attached.\r\n"},
                                     {"Party", "Friday, bring snacks.\r\n"}}) {
      if (Status s = deliver(**st, u->id, message(subj, body)); !s.is_ok()) return fail(s);
    }
    std::filesystem::create_directories(dir / "tls");
    Status s = tls::generate_self_signed((dir / "tls/cert.pem").string(),
                                         (dir / "tls/key.pem").string(), {"imap.test", "localhost"});
    if (!s.is_ok()) return fail(s);
    return 0;
  }
  if (cmd == "deliver" && argc == 5) {
    auto user = (*st)->find_user(argv[3]);
    if (!user.is_ok()) return fail(user.status());
    if (Status s = deliver(**st, user->id, message(argv[4], "Delivered while idling.\r\n"));
        !s.is_ok())
      return fail(s);
    return 0;
  }
  if (cmd == "check") {  // the store's consistency walk (Store::check)
    auto rep = (*st)->check();
    if (!rep.is_ok()) return fail(rep.status());
    for (const auto& p : rep->problems) std::cerr << "imapd_fixture: " << p << "\n";
    return rep->problems.empty() ? 0 : 1;
  }
  std::cerr << "imapd_fixture: unknown command\n";
  return 2;
}
