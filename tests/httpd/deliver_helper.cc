// tests/httpd/deliver_helper.cc: httpd_test_deliver, a test helper that delivers one .eml to
// one local user through the real store (with the filter's MIME parse for the summary, as
// smtpd does) and publishes the "message.delivered" webhook through common/webhook.h, as
// smtpd does. Prints {"uid":N,"mailbox":"INBOX"} on success.
// Usage: httpd_test_deliver --config FILE --to ADDRESS [--mailbox NAME] MESSAGE.eml
// Failure: exit 1 with one line on stderr (unknown user, unreadable file, store error, a
// webhook not delivered within 30 s).
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/config.h"
#include "filter/mime.h"
#include "store/store.h"
#include "common/webhook.h"

using namespace tsubame;

int main(int argc, char** argv) {
  CLI::App app{"deliver one message to one user (tests)"};
  std::string config_path, to, mailbox = "INBOX", file;
  app.add_option("--config", config_path)->required();
  app.add_option("--to", to)->required();
  app.add_option("--mailbox", mailbox);
  app.add_option("FILE", file)->required();
  CLI11_PARSE(app, argc, argv);

  auto cfg = Config::load(config_path);
  if (!cfg.is_ok()) return std::cerr << cfg.status().to_string() << "\n", 1;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::cerr << "cannot read " << file << "\n", 1;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string raw = ss.str();
  // Stored messages use CRLF line ends.
  std::string crlf;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) crlf += '\r';
    crlf += raw[i];
  }
  store::Options so;
  so.data_dir = cfg->str("general.data_dir");
  so.key_file = cfg->str("general.key_file");
  auto st = store::Store::open(so);
  if (!st.is_ok()) return std::cerr << st.status().to_string() << "\n", 1;
  auto user = (*st)->find_user(to);
  if (!user.is_ok()) return std::cerr << user.status().to_string() << "\n", 1;
  auto parsed = filter::parse_message(crlf);
  if (!parsed.is_ok()) return std::cerr << parsed.status().to_string() << "\n", 1;
  store::IncomingMessage m;
  m.raw = crlf;
  m.summary = parsed->summary;
  store::DeliveryTarget t;
  t.user_id = user->id;
  t.mailbox = mailbox;
  m.targets.push_back(t);
  auto r = (*st)->deliver({m});
  if (!r.is_ok()) return std::cerr << r.status().to_string() << "\n", 1;
  const auto& copy = r->at(0).copies.at(0);

  auto wo = webhook::options_from_config(*cfg, "test-deliver");
  if (!wo.is_ok()) return std::cerr << wo.status().to_string() << "\n", 1;
  auto hooks = webhook::Sender::start(std::move(*wo));
  if (!hooks.is_ok()) return std::cerr << hooks.status().to_string() << "\n", 1;
  if ((*hooks)->enabled()) {
    (*hooks)->publish(webhook::EventType::kMessageDelivered, {{"user", user->address},
                                                               {"mailbox", mailbox},
                                                               {"uid", copy.uid},
                                                               {"size", crlf.size()}});
    if (!(*hooks)->flush(30000)) return std::cerr << "webhook not delivered in time\n", 1;
  }
  std::cout << "{\"uid\":" << copy.uid << ",\"mailbox\":\"" << mailbox << "\"}\n";
  return 0;
}
