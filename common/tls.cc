#include "common/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>

#include "common/bytes.h"

namespace tsubame::tls {

std::string last_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Context::~Context() { SSL_CTX_free(ctx_); }

// TLS 1.2 suites: ECDHE with AEAD only. TLS 1.3 suites are OpenSSL's defaults (all AEAD).
static const char kCiphers12[] =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

Result<std::shared_ptr<Context>> Context::server(const std::string& cert_file, const std::string& key_file,
                                                 const std::string& min_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::internal("SSL_CTX_new: " + last_error());
  std::shared_ptr<Context> c(new Context(ctx));
  SSL_CTX_set_min_proto_version(ctx, min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  if (SSL_CTX_set_cipher_list(ctx, kCiphers12) != 1) return Status::internal("cipher list: " + last_error());
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  static const unsigned char sid[] = "tsubame";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
    return Status::invalid("TLS certificate " + cert_file + ": " + last_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return Status::invalid("TLS key " + key_file + ": " + last_error());
  if (SSL_CTX_check_private_key(ctx) != 1)
    return Status::invalid("TLS key " + key_file + " does not match " + cert_file);
  return c;
}

Result<std::shared_ptr<Context>> Context::client(bool verify_peer, const std::string& ca_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status::internal("SSL_CTX_new: " + last_error());
  std::shared_ptr<Context> c(new Context(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (verify_peer) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                             : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) return Status::invalid("TLS trust store: " + last_error());
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return c;
}

Status generate_self_signed(const std::string& cert_file, const std::string& key_file,
                            const std::vector<std::string>& hostnames, int days) {
  if (hostnames.empty()) return Status::invalid("need at least one host name");
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (!pkey) return Status::internal("key generation: " + last_error());
  X509* x = X509_new();
  Status result = Status::ok();
  do {
    X509_set_version(x, 2);
    ASN1_INTEGER_set_int64(X509_get_serialNumber(x), int64_t(random_u64() >> 2));
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), long(days) * 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Tsubame"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(hostnames[0].c_str()), -1, -1, 0);
    X509_set_issuer_name(x, name);
    std::string san;
    for (auto& h : hostnames) san += (san.empty() ? "DNS:" : ",DNS:") + h;
    san += ",IP:127.0.0.1,IP:::1";
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    const std::pair<int, std::string> exts[] = {
        {NID_subject_alt_name, san},
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth"},
    };
    for (auto& [nid, value] : exts) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
      if (!ext) { result = Status::internal("certificate extension: " + last_error()); break; }
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    }
    if (!result.is_ok()) break;
    if (!X509_sign(x, pkey, EVP_sha256())) { result = Status::internal("sign: " + last_error()); break; }
    mode_t old = umask(077);
    FILE* kf = fopen(key_file.c_str(), "w");
    umask(old);
    if (!kf) { result = Status::io_error("cannot write " + key_file); break; }
    bool ok = PEM_write_PrivateKey(kf, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    ok = (fclose(kf) == 0) && ok;
    FILE* cf = fopen(cert_file.c_str(), "w");
    if (!cf) { result = Status::io_error("cannot write " + cert_file); break; }
    ok = PEM_write_X509(cf, x) == 1 && ok;
    ok = (fclose(cf) == 0) && ok;
    if (!ok) result = Status::io_error("writing certificate or key failed");
  } while (false);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return result;
}

}  // namespace tsubame::tls
