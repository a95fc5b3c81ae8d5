// common/tls.h: TLS contexts on OpenSSL 3 for every listener and the outbound client.
//
// Server contexts accept TLS 1.2 and newer only (tls.min_version may raise it to 1.3), with
// forward-secret AEAD cipher suites, no compression, no renegotiation, server cipher
// preference. Client contexts (outbound SMTP) use the system trust store; opportunistic
// STARTTLS may disable verification, which is then logged by the caller.
// generate_self_signed() writes the certificate for the embedded default (`tsubame init`).
// A Context is immutable after creation and may be shared between threads.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace tsubame::tls {

class Context {
 public:
  // min_version: "1.2" or "1.3".
  static Result<std::shared_ptr<Context>> server(const std::string& cert_file,
                                                 const std::string& key_file,
                                                 const std::string& min_version = "1.2");
  static Result<std::shared_ptr<Context>> client(bool verify_peer, const std::string& ca_file = "");
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  SSL_CTX* get() const { return ctx_; }
  // A new SSL object for one connection (the caller owns it).
  SSL* new_ssl() const { return SSL_new(ctx_); }

 private:
  explicit Context(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// An ECDSA P-256 key and a self-signed certificate for `hostnames` (first = CN; all as
// subjectAltName DNS names, plus IP 127.0.0.1 and ::1), valid `days` days. Key file mode 0600.
Status generate_self_signed(const std::string& cert_file, const std::string& key_file,
                            const std::vector<std::string>& hostnames, int days = 825);

// The last OpenSSL error as text (and clears the queue).
std::string last_error();

}  // namespace tsubame::tls
