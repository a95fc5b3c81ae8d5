#include "store/keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/bytes.h"
#include "common/crypto.h"

namespace tsubame::store {

std::string location_aad(std::string_view db, std::string_view key) {
  std::string aad(db);
  aad.push_back('\0');
  aad.append(key);
  return aad;
}

Result<Keyring> Keyring::load(const std::string& key_file, bool create) {
  std::string master;
  int fd = ::open(key_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    master = random_bytes(crypto::kKeySize);
    fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::io_error("create master key " + key_file + ": " + strerror(errno));
    bool ok = ::write(fd, master.data(), master.size()) == ssize_t(master.size()) && fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
      ::unlink(key_file.c_str());
      return Status::io_error("write master key " + key_file + ": " + strerror(errno));
    }
  } else {
    if (fd < 0)
      return Status::not_found("master key " + key_file + ": " + strerror(errno) +
                               " (run `tsubame init` or restore the key file)");
    struct stat st;
    fstat(fd, &st);
    if (st.st_mode & 077) {
      ::close(fd);
      return Status::denied("master key " + key_file + " is readable by group or others; chmod 600 it");
    }
    master.resize(crypto::kKeySize + 1);
    ssize_t n = ::read(fd, master.data(), master.size());
    ::close(fd);
    if (n != ssize_t(crypto::kKeySize))
      return Status::corruption("master key " + key_file + " must be exactly 32 bytes");
    master.resize(crypto::kKeySize);
  }
  Keyring k;
  k.wrap_key_ = crypto::hkdf_sha256(master, "tsubame/v1/wrap");
  k.system_key_ = crypto::hkdf_sha256(master, "tsubame/v1/system");
  k.index_key_ = crypto::hkdf_sha256(master, "tsubame/v1/index");
  k.audit_key_ = crypto::hkdf_sha256(master, "tsubame/v1/audit");
  return k;
}

std::string Keyring::new_wrapped_domain_key(uint32_t domain_id) const {
  return crypto::seal(wrap_key_, random_bytes(crypto::kKeySize), "dk" + be32(domain_id));
}

Result<std::string> Keyring::domain_key(uint32_t domain_id, std::string_view wrapped) const {
  std::lock_guard lk(mu_);
  if (auto it = domain_keys_.find(domain_id); it != domain_keys_.end()) return it->second;
  auto key = crypto::open(wrap_key_, wrapped, "dk" + be32(domain_id));
  if (!key.is_ok()) return Status::denied("domain key does not open: wrong master key?");
  domain_keys_[domain_id] = *key;
  return *key;
}

std::string Keyring::index(std::string_view label, std::string_view value) const {
  std::string msg(label);
  msg.push_back('\0');
  msg.append(value);
  return crypto::hmac_sha256(index_key_, msg).substr(0, 16);
}

std::string Keyring::make_check() const { return crypto::seal(system_key_, "tsubame-key-check", "check"); }

Status Keyring::verify_check(std::string_view sealed) const {
  auto v = crypto::open(system_key_, sealed, "check");
  if (!v.is_ok() || *v != "tsubame-key-check")
    return Status::denied("wrong master key for this data directory");
  return Status::ok();
}

}  // namespace tsubame::store
