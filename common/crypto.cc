#include "common/crypto.h"

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/bytes.h"
#include "common/config.h"

namespace tsubame::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

const unsigned char* u(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::string seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != kKeySize) abort();  // programming error, never input-dependent
  std::string out = random_bytes(kNonceSize);
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  auto* ct = reinterpret_cast<unsigned char*>(out.data() + kNonceSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(key), u(out)) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, u(aad), int(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, u(plaintext), int(plaintext.size())) != 1)
    abort();
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), ct + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, int(kTagSize), ct + plaintext.size()) != 1)
    abort();
  return out;
}

Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (key.size() != kKeySize) return Status::invalid("crypto: bad key size");
  if (sealed.size() < kSealOverhead) return Status::corruption("crypto: sealed value too short");
  std::string_view nonce = sealed.substr(0, kNonceSize);
  std::string_view ct = sealed.substr(kNonceSize, sealed.size() - kSealOverhead);
  std::string tag(sealed.substr(sealed.size() - kTagSize));
  std::string out(ct.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, u(key), u(nonce)) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, u(aad), int(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, u(ct),
                        int(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, int(kTagSize), tag.data()) != 1)
    return Status::internal("crypto: cipher setup failed");
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + len, &len) != 1)
    return Status::denied("crypto: authentication failed (wrong key or altered data)");
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(u(data), data.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 32;
  if (!HMAC(EVP_sha256(), key.data(), int(key.size()), u(data), data.size(),
            reinterpret_cast<unsigned char*>(out.data()), &len))
    abort();
  return out;
}

std::string hkdf_sha256(std::string_view ikm, std::string_view info, size_t length) {
  std::string out(length, '\0');
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  size_t outlen = length;
  if (!pctx || EVP_PKEY_derive_init(pctx) <= 0 || EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(pctx, u("tsubame"), 7) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(pctx, u(ikm), int(ikm.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(pctx, u(info), int(info.size())) <= 0 ||
      EVP_PKEY_derive(pctx, reinterpret_cast<unsigned char*>(out.data()), &outlen) <= 0)
    abort();
  EVP_PKEY_CTX_free(pctx);
  return out;
}

Result<std::string> hash_password(std::string_view password, const PasswordParams& p) {
  std::string salt = random_bytes(16);
  constexpr size_t kHashLen = 32;
  size_t enclen = argon2_encodedlen(p.t_cost, p.m_cost_kib, p.parallelism, uint32_t(salt.size()),
                                    kHashLen, Argon2_id);
  std::string encoded(enclen, '\0');
  int rc = argon2id_hash_encoded(p.t_cost, p.m_cost_kib, p.parallelism, password.data(),
                                 password.size(), salt.data(), salt.size(), kHashLen,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Status::internal(std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(strlen(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view password, std::string_view encoded) {
  std::string enc(encoded);  // libargon2 wants a C string
  if (enc.rfind("$argon2id$", 0) != 0) return false;
  return argon2id_verify(enc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

PasswordParams password_params(const Config& config) {
  PasswordParams p;
  p.m_cost_kib = static_cast<uint32_t>(config.integer("security.kdf_memory") / 1024);
  p.t_cost = static_cast<uint32_t>(config.integer("security.kdf_passes"));
  return p;
}

Result<std::string> decoy_password_hash(const PasswordParams& p) {
  return hash_password(to_hex(random_bytes(16)), p);
}

}  // namespace tsubame::crypto
