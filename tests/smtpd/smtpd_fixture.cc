// tests/smtpd/smtpd_fixture.cc: sets up and reads back a real store for the smtpd
// integration test (smtpd_integration_test.py), through the store's public API only.
//   smtpd_fixture init DIR       data dir DIR/data, key DIR/master.key, domain example.com,
//                                user alice@example.com (password "correct horse"),
//                                self-signed certificate DIR/tls/{cert,key}.pem for mx.test
//   smtpd_fixture dump DIR ADDR [MAILBOX]
//                                every message of ADDR's MAILBOX (default INBOX) as
//                                "<length>\n<bytes>"
//   smtpd_fixture trace DIR QUEUE_ID
//                                the message trace of one message, a line per record:
//                                "<status> <action> <score> <rules,...> <sender> <size>"
//   smtpd_fixture summaries DIR ADDR MAILBOX
//                                checks every stored summary (ENVELOPE, BODYSTRUCTURE,
//                                offsets) against a fresh parse of the stored bytes: a
//                                line "ok <uid>" or "mismatch <uid>" per message
//   smtpd_fixture queue DIR      the outbound queue, a line per entry:
//                                "<id> <held|ready> <sender> <rcpt,...> <rules,...>"
// Exit status 1 with a reason on stderr when anything fails.
#include <filesystem>
#include <iostream>
#include <string>

#include "common/crypto.h"
#include "common/tls.h"
#include "filter/mime.h"
#include "store/store.h"
#include "store/queue.h"
#include "store/trace.h"

using namespace tsubame;

static int fail(const Status& s) {
  std::cerr << "smtpd_fixture: " << s.to_string() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: smtpd_fixture init DIR | dump DIR ADDRESS\n";
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
    if (auto u = (*st)->add_user("alice@example.com", *hash); !u.is_ok()) return fail(u.status());
    std::filesystem::create_directories(dir / "tls");
    Status s = tls::generate_self_signed((dir / "tls/cert.pem").string(), (dir / "tls/key.pem").string(),
                                         {"mx.test", "localhost"});
    if (!s.is_ok()) return fail(s);
    return 0;
  }
  if (cmd == "dump" && (argc == 4 || argc == 5)) {
    auto user = (*st)->find_user(argv[3]);
    if (!user.is_ok()) return fail(user.status());
    auto inbox = (*st)->find_mailbox(user->id, argc == 5 ? argv[4] : "INBOX");
    if (!inbox.is_ok()) return fail(inbox.status());
    auto msgs = (*st)->list_messages(inbox->id);
    if (!msgs.is_ok()) return fail(msgs.status());
    for (const auto& m : *msgs) {
      auto raw = (*st)->read_message(user->id, inbox->id, m.uid);
      if (!raw.is_ok()) return fail(raw.status());
      std::cout << raw->size() << "\n" << *raw;
    }
    return 0;
  }
  if (cmd == "summaries" && argc == 5) {
    auto user = (*st)->find_user(argv[3]);
    if (!user.is_ok()) return fail(user.status());
    auto box = (*st)->find_mailbox(user->id, argv[4]);
    if (!box.is_ok()) return fail(box.status());
    auto msgs = (*st)->list_messages(box->id);
    if (!msgs.is_ok()) return fail(msgs.status());
    for (const auto& m : *msgs) {
      auto raw = (*st)->read_message(user->id, box->id, m.uid);
      if (!raw.is_ok()) return fail(raw.status());
      auto stored = (*st)->read_summary(user->id, box->id, m.uid);
      if (!stored.is_ok()) return fail(stored.status());
      auto fresh = filter::parse_message(*raw);
      if (!fresh.is_ok()) return fail(fresh.status());
      std::cout << (*stored == fresh->summary ? "ok " : "mismatch ") << m.uid << "\n";
    }
    return 0;
  }
  if (cmd == "queue" && argc == 3) {
    store::OutboundQueue q(**st);
    auto entries = q.list();
    if (!entries.is_ok()) return fail(entries.status());
    for (const auto& e : *entries) {
      std::string rcpts, rules;
      for (const auto& r : e.recipients) rcpts += (rcpts.empty() ? "" : ",") + r.address;
      for (const auto& r : e.hold_rules) rules += (rules.empty() ? "" : ",") + r;
      std::cout << e.id << " " << (e.held ? "held" : "ready") << " <" << e.sender << "> " << rcpts << " "
                << (rules.empty() ? "-" : rules) << "\n";
    }
    return 0;
  }
  if (cmd == "trace" && argc == 4) {
    store::Trace trace(**st);
    auto recs = trace.by_queue_id(argv[3]);
    if (!recs.is_ok()) return fail(recs.status());
    for (const auto& r : *recs) {
      std::string rules;
      for (const auto& id : r.rule_ids) rules += (rules.empty() ? "" : ",") + id;
      std::cout << store::trace_status_name(r.status) << " " << (r.action.empty() ? "-" : r.action) << " "
                << r.score << " " << (rules.empty() ? "-" : rules) << " <" << r.sender << "> " << r.size
                << "\n";
    }
    return 0;
  }
  std::cerr << "smtpd_fixture: unknown command\n";
  return 2;
}
