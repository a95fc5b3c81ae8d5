// tests/tools/store_fixture.cc: seeds a real store with what the daemons would write, for the
// CLI integration tests (tests/tools/test_cli.py). It calls the same store APIs smtpd and imapd
// call (deliver with the filter's MIME summary, a user's spam report with set_reported, trace
// records, queue entries, login events), so the CLI is tested against real data, not mocks.
//
//   store_fixture CONFIG deliver USER FILE [MAILBOX]        prints "mailbox_id uid"
//   store_fixture CONFIG report USER MAILBOX UID spam|ham   prints the report id
//   store_fixture CONFIG trace QUEUE_ID in|out STATUS ACTION SENDER RCPT [TIME_MS]
//   store_fixture CONFIG enqueue SENDER RCPT [held]         prints the queue id
//   store_fixture CONFIG login USER success|bad-password IP
//   store_fixture CONFIG sent MESSAGE_ID RCPT TIME_MS RETENTION_MS   what smtpd records of an
//                                                            accepted submission (replies.h)
//   store_fixture CONFIG tokens                              prints global "spam ham" totals
//   store_fixture CONFIG blobs                               prints "blobs messages problems"
//   store_fixture CONFIG raw-setting DOMAIN KEY VALUE         stores VALUE as is, around the
//                                                            validation of `security set` (a
//                                                            hand edit, an old version's value)
// Exits 1 with a message on any error.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/bytes.h"
#include "common/config.h"
#include "filter/mime.h"
#include "store/accounts.h"
#include "store/env.h"
#include "store/queue.h"
#include "store/replies.h"
#include "store/reports.h"
#include "store/store.h"
#include "store/tokens.h"
#include "store/trace.h"

using namespace tsubame;

namespace {
[[noreturn]] void die(const std::string& what, const Status& s) {
  std::cerr << "store_fixture: " << what << ": " << s.to_string() << "\n";
  std::exit(1);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: store_fixture CONFIG COMMAND ARGS...\n";
    return 2;
  }
  auto cfg = Config::load(argv[1]);
  if (!cfg.is_ok()) die("config", cfg.status());
  store::Options o;
  o.data_dir = cfg->str("general.data_dir");
  o.key_file = cfg->str("general.key_file");
  auto st = store::Store::open(o);
  if (!st.is_ok()) die("open", st.status());
  store::Store& s = **st;
  std::string cmd = argv[2];
  auto arg = [&](int i) -> std::string {
    if (i >= argc) {
      std::cerr << "store_fixture: missing argument " << i << "\n";
      std::exit(2);
    }
    return argv[i];
  };

  if (cmd == "deliver") {
    auto u = s.find_user(arg(3));
    if (!u.is_ok()) die("user", u.status());
    std::ifstream in(arg(4), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = filter::parse_message(ss.str());
    if (!parsed.is_ok()) die("parse", parsed.status());
    store::IncomingMessage m;
    m.raw = ss.str();
    m.summary = parsed->summary;
    store::DeliveryTarget t;
    t.user_id = u->id;
    if (argc > 5) t.mailbox = argv[5];
    m.targets.push_back(t);
    auto r = s.deliver({m});
    if (!r.is_ok()) die("deliver", r.status());
    std::cout << (*r)[0].copies[0].mailbox_id << " " << (*r)[0].copies[0].uid << "\n";
  } else if (cmd == "report") {
    auto u = s.find_user(arg(3));
    if (!u.is_ok()) die("user", u.status());
    auto box = s.find_mailbox(u->id, arg(4));
    if (!box.is_ok()) die("mailbox", box.status());
    uint32_t uid = uint32_t(std::stoul(arg(5)));
    bool spam = arg(6) == "spam";
    auto raw = s.read_message(u->id, box->id, uid);
    if (!raw.is_ok()) die("read", raw.status());
    store::Report r;
    r.reporter = u->id;
    r.mailbox_id = box->id;
    r.uid = uid;
    r.kind = spam ? store::ReportKind::kSpam : store::ReportKind::kNotSpam;
    r.reason = "test report";
    r.size = raw->size();
    r.content = *raw;
    auto id = store::Reports(s).add_report(r);
    if (!id.is_ok()) die("report", id.status());
    Status rs = s.set_reported(box->id, uid, spam ? store::Reported::kSpam : store::Reported::kHam);
    if (!rs.is_ok()) die("set_reported", rs);
    std::cout << *id << "\n";
  } else if (cmd == "trace") {
    store::TraceRecord t;
    t.queue_id = arg(3);
    t.direction = arg(4) == "out" ? store::TraceDirection::kOut : store::TraceDirection::kIn;
    auto status = store::parse_trace_status(arg(5));
    if (!status) die("status", Status::invalid(arg(5)));
    t.status = *status;
    t.action = arg(6);
    t.sender = arg(7);
    t.recipients = {arg(8)};
    t.size = 1234;
    t.score = t.action == "deliver" ? 0.5 : 9.0;
    t.remote_host = "mx.remote.example";
    if (argc > 9) t.time_ms = std::stoll(argv[9]);
    Status ts = store::Trace(s).add(t);
    if (!ts.is_ok()) die("trace", ts);
  } else if (cmd == "enqueue") {
    store::QueueEntry e;
    e.sender = arg(3);
    store::QueueRecipient r;
    r.address = arg(4);
    e.recipients.push_back(r);
    e.content = "From: " + e.sender + "\r\nTo: " + r.address + "\r\nSubject: queued\r\n\r\nbody\r\n";
    e.next_attempt_ms = 4102444800000;  // 2100: not due until flushed
    if (argc > 5 && std::string(argv[5]) == "held") {
      e.held = true;
      e.hold_reason = "data-loss rule";
      e.hold_rules = {"DLP_CARD"};
    }
    Status qs = store::OutboundQueue(s).enqueue(e);
    if (!qs.is_ok()) die("enqueue", qs);
    std::cout << e.id << "\n";
  } else if (cmd == "sent") {
    const std::vector<std::string> rcpts = {arg(4)};
    Status rs = store::remember_submission(s, arg(3), rcpts, std::stoll(arg(5)), std::stoll(arg(6)));
    if (!rs.is_ok()) die("sent", rs);
  } else if (cmd == "login") {
    auto u = s.find_user(arg(3));
    store::LoginEvent ev;
    ev.login = arg(3);
    ev.user_id = u.is_ok() ? u->id : 0;
    ev.result = arg(4) == "success" ? store::LoginResult::kSuccess : store::LoginResult::kBadPassword;
    ev.source_ip = arg(5);
    ev.client_id = "fixture-client/1.0";
    ev.protocol = store::LoginProtocol::kImap;
    auto r = store::Accounts(s).record_login(ev);
    if (!r.is_ok()) die("login", r.status());
    std::cout << (r->locked ? "locked" : "ok") << "\n";
  } else if (cmd == "tokens") {
    auto t = store::token_totals(s, 0);
    if (!t.is_ok()) die("tokens", t.status());
    std::cout << t->spam << " " << t->ham << "\n";
  } else if (cmd == "blobs") {
    auto c = s.check();
    if (!c.is_ok()) die("check", c.status());
    std::cout << c->blobs << " " << c->messages << " " << c->problems.size() << "\n";
    for (const auto& p : c->problems) std::cerr << p << "\n";
  } else if (cmd == "raw-setting") {
    auto d = s.find_domain(arg(3));
    if (!d.is_ok()) die("domain", d.status());
    const std::string key = be32(d->id) + arg(4), value = arg(5);
    Status w = s.env().write([&](store::Txn& t) { return t.put(store::Db::kSettings, key, value); });
    if (!w.is_ok()) die("raw-setting", w);
  } else {
    std::cerr << "store_fixture: unknown command " << cmd << "\n";
    return 2;
  }
  return 0;
}
