// common/crypto.h: the few cryptographic primitives Tsubame uses, on OpenSSL 3.
//
// - AES-256-GCM sealing with a random 96-bit nonce and associated data. The sealed form is
//   nonce(12) | ciphertext | tag(16). open() fails (PermissionDenied) on any change to the
//   ciphertext, the tag, the nonce or the associated data, and on a wrong key.
// - SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869) for deriving sub-keys from the master key.
// - Password hashing with Argon2id (libargon2, RFC 9106): encoded PHC strings, constant-time
//   verification inside libargon2.
// All functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tsubame {
class Config;  // common/config.h
}  // namespace tsubame

namespace tsubame::crypto {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kSealOverhead = kNonceSize + kTagSize;

// key must be kKeySize bytes.
std::string seal(std::string_view key, std::string_view plaintext, std::string_view aad);
Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad);

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hkdf_sha256(std::string_view ikm, std::string_view info, size_t length = kKeySize);

struct PasswordParams {
  uint32_t t_cost = 3;           // passes
  uint32_t m_cost_kib = 65536;   // 64 MiB
  uint32_t parallelism = 1;
};
// An Argon2id PHC string: $argon2id$v=19$m=65536,t=3,p=1$salt$hash
Result<std::string> hash_password(std::string_view password, const PasswordParams& p = {});
// True only if the password matches the encoded hash. Malformed hashes are false.
bool verify_password(std::string_view password, std::string_view encoded);

// The site's Argon2id cost: security.kdf_memory and security.kdf_passes of the config.
PasswordParams password_params(const Config& config);
// The hash of a random password made with `p`: an unknown login's password is checked
// against it, so that refusing it costs the same KDF work as checking a real user's.
Result<std::string> decoy_password_hash(const PasswordParams& p);

}  // namespace tsubame::crypto
