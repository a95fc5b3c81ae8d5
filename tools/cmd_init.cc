// tools/cmd_init.cc: `tsubame init DIR`, the embedded default installation.
//
// Makes DIR/tsubame.conf (every key at its default; paths relative to DIR), DIR/data (LMDB),
// DIR/master.key (outside the data directory, mode 0600), a self-signed certificate in
// DIR/tls, a copy of the default rule set in DIR/rules, and a demo domain and user whose
// password it prints. Refuses (exit 4) a DIR that already holds a tsubame.conf, so it never
// overwrites an installation.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/bytes.h"
#include "common/tls.h"
#include "tools/cli.h"

namespace fs = std::filesystem;

namespace tsubame::cli {
namespace {

// A readable random password: 20 characters from a 55-letter alphabet (about 115 bits).
// Drawn again until it has a lower-case letter, a capital and a digit, so that it passes any
// password policy of character classes (at most a few draws: each misses with p < 0.01).
std::string demo_password() {
  static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
  for (;;) {
    std::string out;
    while (out.size() < 20)  // rejection sampling: bytes >= 220 (4 * 55) would bias the draw
      for (unsigned char c : random_bytes(32))
        if (c < 220 && out.size() < 20) out.push_back(alphabet[c % 55]);
    bool lower = false, upper = false, digit = false;
    for (char c : out) {
      lower |= c >= 'a' && c <= 'z';
      upper |= c >= 'A' && c <= 'Z';
      digit |= c >= '0' && c <= '9';
    }
    if (lower && upper && digit) return out;
  }
}

int run_init(Context& ctx, const std::string& dir_arg, const std::string& domain_arg,
             const std::string& user_arg, std::string hostname) {
  std::error_code ec;
  fs::path dir = fs::absolute(dir_arg).lexically_normal();
  if (fs::exists(dir / "tsubame.conf"))
    return fail("init", Status::exists(dir.string() + " is already initialised"));
  auto domain = normalize_domain(domain_arg);
  if (!domain.is_ok()) return fail("init", domain.status());
  auto address = normalize_address(user_arg + "@" + *domain);
  if (!address.is_ok()) return fail("init", address.status());
  if (hostname.empty()) {
    char buf[256] = {};
    gethostname(buf, sizeof buf - 1);
    hostname = buf[0] ? buf : "localhost";
  }
  for (auto sub : {"", "tls", "log", "run", "cache", "rules"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return fail("init", Status::io_error("create " + (dir / sub).string() + ": " + ec.message()));
  }
  fs::permissions(dir, fs::perms::owner_all, ec);

  std::string conf_text = Config::render_default_file({{"general.hostname", hostname}});
  {
    std::ofstream out(dir / "tsubame.conf");
    out << conf_text;
    if (!out) return fail("init", Status::io_error("write tsubame.conf"));
  }
  auto config = Config::load((dir / "tsubame.conf").string());
  if (!config.is_ok()) return fail("init", config.status());

  if (Status s = tls::generate_self_signed(config->str("tls.cert_file"), config->str("tls.key_file"),
                                           {hostname, "localhost"});
      !s.is_ok())
    return fail("init: certificate", s);

  // The default rule set ships in conf/rules of the source tree (or the installed share dir).
  for (fs::path src : {fs::path(TSUBAME_DEFAULT_RULES_DIR), fs::path("/usr/share/tsubame/rules")}) {
    if (!fs::is_directory(src)) continue;
    for (auto& e : fs::directory_iterator(src))
      if (e.path().extension() == ".rules")
        fs::copy_file(e.path(), dir / "rules" / e.path().filename(), fs::copy_options::overwrite_existing, ec);
    break;
  }

  store::Options o;
  o.data_dir = config->str("general.data_dir");
  o.key_file = config->str("general.key_file");
  o.create = true;
  auto st = store::Store::open(o);
  if (!st.is_ok()) return fail("init: store", st.status());
  auto d = (*st)->add_domain(*domain);
  if (!d.is_ok()) return fail("init: domain", d.status());
  std::string password = demo_password();
  auto hash = hash_password(*config, password);
  if (!hash.is_ok()) return fail("init: password", hash.status());
  auto u = (*st)->add_user(*address, *hash);
  if (!u.is_ok()) return fail("init: user", u.status());

  (void)audit(**st, "install.init", dir.string(), "domain=" + *domain + " user=" + *address);
  if (ctx.json) {
    std::cout << "{\"dir\":\"" << dir.string() << "\",\"config\":\"" << (dir / "tsubame.conf").string()
              << "\",\"domain\":\"" << *domain << "\",\"user\":\"" << *address << "\",\"password\":\""
              << password << "\"}\n";
    return kOk;
  }
  std::cout << "Tsubame is initialised in " << dir.string() << "\n"
            << "  config       " << (dir / "tsubame.conf").string() << "\n"
            << "  data         " << o.data_dir << "\n"
            << "  master key   " << o.key_file << "  (back it up: without it the data cannot be read)\n"
            << "  certificate  " << config->str("tls.cert_file") << " (self-signed for " << hostname
            << ", localhost)\n"
            << "  demo domain  " << *domain << "\n"
            << "  demo user    " << *address << "\n"
            << "  password     " << password << "\n";
  return kOk;
}

}  // namespace

void register_init(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "Create a working installation (config, data, key, certificate, demo user) in DIR");
  auto dir = std::make_shared<std::string>();
  auto domain = std::make_shared<std::string>("tsubame.test");
  auto user = std::make_shared<std::string>("demo");
  auto host = std::make_shared<std::string>();
  cmd->add_option("DIR", *dir, "Directory to create the installation in")->required();
  cmd->add_option("--domain", *domain, "Demo domain")->capture_default_str();
  cmd->add_option("--user", *user, "Local part of the demo user")->capture_default_str();
  cmd->add_option("--hostname", *host, "Server host name (default: this machine's)");
  cmd->add_flag("--json", ctx.json, "Print the result as JSON");
  set_action(cmd, [&ctx, dir, domain, user, host] { return run_init(ctx, *dir, *domain, *user, *host); });
}

}  // namespace tsubame::cli
