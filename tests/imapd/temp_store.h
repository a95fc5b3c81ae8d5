// tests/imapd/temp_store.h: the real store the imapd unit tests run on: a temporary
// directory with data/ and master.key, the domain example.com and alice@example.com (the
// fixture of the session, writer, notify and flag-journal tests). Removed on destruction.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/crypto.h"
#include "store/settings.h"
#include "store/store.h"

namespace tsubame::imap::testing {

struct TempStore {
  std::string dir;
  std::unique_ptr<store::Store> store;
  uint32_t domain_id = 0;
  uint64_t alice = 0, inbox = 0;

  // plaintext_login: alice's password is "secret" (cheap Argon2 parameters: the tests are
  // about the protocol, not the KDF) and the domain allows LOGIN without TLS (tls_required
  // is on by default; imapd_domain_security tests the refusal). Otherwise the user has a
  // placeholder hash and cannot log in.
  ::testing::AssertionResult open(const std::string& name, bool plaintext_login = false) {
    std::string tmpl = "/tmp/tsubame-imapd-" + name + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) return ::testing::AssertionFailure() << "mkdtemp failed";
    dir = tmpl;
    store::Options o;
    o.data_dir = dir + "/data";
    o.key_file = dir + "/master.key";
    o.create = true;
    auto s = store::Store::open(o);
    if (!s) return ::testing::AssertionFailure() << s.status().to_string();
    store = std::move(s.value());
    auto domain = store->add_domain("example.com");
    if (!domain) return ::testing::AssertionFailure() << domain.status().to_string();
    domain_id = domain->id;
    std::string hash = "$argon2id$unused";
    if (plaintext_login) {
      Status t = store::set_domain_setting(*store, domain->id, "tls_required", "no", "test");
      if (!t.is_ok()) return ::testing::AssertionFailure() << t.to_string();
      auto h = crypto::hash_password("secret", crypto::PasswordParams{1, 1024, 1});
      if (!h) return ::testing::AssertionFailure() << h.status().to_string();
      hash = *h;
    }
    auto u = store->add_user("alice@example.com", hash);
    if (!u) return ::testing::AssertionFailure() << u.status().to_string();
    alice = u->id;
    auto box = store->find_mailbox(alice, "INBOX");
    if (!box) return ::testing::AssertionFailure() << box.status().to_string();
    inbox = box->id;
    return ::testing::AssertionSuccess();
  }
  ~TempStore() {
    store.reset();
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

}  // namespace tsubame::imap::testing
