// tests/smtpd/outbound/outbound_fixture.cc: drives the real queue runner and the real store
// for outbound_integration_test.py (no mocks of our own code).
//   outbound_fixture init DIR
//       store in DIR/data (key DIR/master.key), domain local.test, user alice@local.test,
//       self-signed certificate DIR/tls/{cert,key}.pem for the fake remote MX
//   outbound_fixture enqueue DIR SENDER RCPT[,RCPT...] [NOTIFY [RET [ENVID]]]   (content on stdin)
//       prints the queue id
//   outbound_fixture run DIR [--relay H:P] [--transport FILE] [--lifetime S]
//                            [--clock-offset S] [--tls] [--timeout S] [--max-deliveries N]
//       one scan with the runner on a libevent loop until it is idle; prints RunnerStats as
//       "attempts delivered deferred bounced dsn_sent"; the mail log goes to DIR/mail.log
//   outbound_fixture flush DIR            prints how many entries were made due
//   outbound_fixture show DIR ID          one line per recipient: "<address> <status> <last error>"
//                                         then "attempts=N next_in=S", or "gone"
//   outbound_fixture inbox DIR ADDRESS    every INBOX message as "<length>\n<bytes>"
//   outbound_fixture trace DIR ID         one line per trace record: "<direction> <status> <remote>"
// Exit status 1 with a reason on stderr when anything fails.
#include <event2/event.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/tls.h"
#include "smtpd/outbound/runner.h"
#include "store/queue.h"
#include "store/store.h"
#include "store/trace.h"

using namespace tsubame;
namespace ob = tsubame::smtp::outbound;

static int fail(const Status& s) {
  std::cerr << "outbound_fixture: " << s.to_string() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: outbound_fixture init|enqueue|run|flush|show|inbox|trace DIR ...\n";
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
  store::Store& s = **st;

  if (cmd == "init") {
    if (auto d = s.add_domain("local.test"); !d.is_ok()) return fail(d.status());
    crypto::PasswordParams cheap;
    cheap.m_cost_kib = 8192;
    cheap.t_cost = 1;
    auto hash = crypto::hash_password("secret", cheap);
    if (!hash.is_ok()) return fail(hash.status());
    if (auto u = s.add_user("alice@local.test", *hash); !u.is_ok()) return fail(u.status());
    std::filesystem::create_directories(dir / "tls");
    Status t = tls::generate_self_signed((dir / "tls/cert.pem").string(), (dir / "tls/key.pem").string(),
                                         {"mx.remote.test", "localhost"});
    if (!t.is_ok()) return fail(t);
    return 0;
  }
  if (cmd == "enqueue" && argc >= 5) {
    store::QueueEntry e;
    e.sender = argv[3];
    for (auto part : split(argv[4], ',')) {
      store::QueueRecipient r;
      r.address.assign(part);
      if (argc >= 6) r.notify = argv[5];
      e.recipients.push_back(std::move(r));
    }
    if (argc >= 7) e.ret = argv[6];
    if (argc >= 8) e.envid = argv[7];
    e.content.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    store::OutboundQueue q(s);
    if (Status x = q.enqueue(e); !x.is_ok()) return fail(x);
    std::cout << e.id << "\n";
    return 0;
  }
  if (cmd == "run") {
    std::signal(SIGPIPE, SIG_IGN);  // as in the daemons: a peer that vanishes is an error value
    log::Settings ls;
    ls.program = "outbound_fixture";
    ls.level = "debug";
    ls.mail_log_file = (dir / "mail.log").string();
    if (Status x = log::init(ls); !x.is_ok()) return fail(x);
    ob::RunnerOptions ro;
    ro.hostname = "mx.local.test";
    int64_t offset_s = 0;
    bool use_tls = false;
    for (int i = 3; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
      if (a == "--relay") ro.relay_host = next();
      else if (a == "--transport") ro.transport_map_file = next();
      else if (a == "--lifetime") ro.queue_lifetime_s = std::stoll(next());
      else if (a == "--clock-offset") offset_s = std::stoll(next());
      else if (a == "--tls") use_tls = true;
      else if (a == "--max-deliveries") ro.max_deliveries = size_t(std::stoll(next()));
      else if (a == "--timeout") {
        int64_t t = std::stoll(next());
        ro.timeouts = {t, t, t, t, t, t, t, t};
        ro.connect_timeout_s = t;
      } else {
        std::cerr << "outbound_fixture: unknown option " << a << "\n";
        return 2;
      }
    }
    if (use_tls) {
      auto ctx = tls::Context::client(false);
      if (!ctx.is_ok()) return fail(ctx.status());
      ro.tls = *ctx;
    }
    ro.clock = [offset_s] { return unix_now_ms() + offset_s * 1000; };
    event_base* base = event_base_new();
    auto runner = ob::Runner::start(base, s, ro);
    if (!runner.is_ok()) return fail(runner.status());
    (*runner)->set_idle_callback([base] { event_base_loopbreak(base); });
    event_base_dispatch(base);
    auto stats = (*runner)->stats();
    std::cout << stats.attempts << " " << stats.delivered << " " << stats.deferred << " " << stats.bounced << " "
              << stats.dsn_sent << "\n";
    runner->reset();
    event_base_free(base);
    log::flush();
    return 0;
  }
  if (cmd == "flush") {
    auto n = ob::flush_queue(s);
    if (!n.is_ok()) return fail(n.status());
    std::cout << *n << "\n";
    return 0;
  }
  if (cmd == "show" && argc == 4) {
    store::OutboundQueue q(s);
    auto e = q.get(argv[3], false);
    if (!e.is_ok()) {
      if (e.status().code() == Code::kNotFound) {
        std::cout << "gone\n";
        return 0;
      }
      return fail(e.status());
    }
    for (auto& r : e->recipients)
      std::cout << r.address << " " << store::recipient_status_name(r.status) << " " << r.last_error << "\n";
    std::cout << "attempts=" << e->attempts << " next_in=" << (e->next_attempt_ms - unix_now_ms()) / 1000
              << " sender=<" << e->sender << ">\n";
    return 0;
  }
  if (cmd == "inbox" && argc == 4) {
    auto user = s.find_user(argv[3]);
    if (!user.is_ok()) return fail(user.status());
    auto mb = s.find_mailbox(user->id, "INBOX");
    if (!mb.is_ok()) return fail(mb.status());
    auto msgs = s.list_messages(mb->id);
    if (!msgs.is_ok()) return fail(msgs.status());
    for (auto& m : *msgs) {
      auto raw = s.read_message(user->id, mb->id, m.uid);
      if (!raw.is_ok()) return fail(raw.status());
      std::cout << raw->size() << "\n" << *raw;
    }
    return 0;
  }
  if (cmd == "trace" && argc == 4) {
    store::Trace t(s);
    auto recs = t.by_queue_id(argv[3]);
    if (!recs.is_ok()) return fail(recs.status());
    for (auto& r : *recs)
      std::cout << store::trace_direction_name(r.direction) << " " << store::trace_status_name(r.status) << " "
                << (r.remote_host.empty() ? "-" : r.remote_host) << "\n";
    return 0;
  }
  std::cerr << "outbound_fixture: bad command\n";
  return 2;
}
