// store/backup.cc: hot backup and verified restore (see store/backup.h for the flow).
//
// Manifest (text, one "key value" per line, in this order):
//   tsubame-backup 1 | schema N | created_ms N | size N | sha256 HEX | mac HEX
// mac = HMAC-SHA256(HKDF(system key, "tsubame/v1/backup-manifest"), every byte before "mac").
// Failure: every error is a Status naming the file and what is wrong with it; restore()
// removes its temporary directory and leaves the data directory untouched on any error
// before the final rename.
#include "store/backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/bytes.h"
#include "common/crypto.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/keyring.h"
#include "store/mail_records.h"
#include "store/store.h"

namespace tsubame::store {
namespace {

namespace fs = std::filesystem;

constexpr size_t kIoChunk = 1 << 20;

std::string errno_text() { return std::strerror(errno); }

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string manifest_key(const Keyring& keys) {
  return crypto::hkdf_sha256(keys.system_key(), "tsubame/v1/backup-manifest");
}

// SHA-256 and size of a file, streamed.
Status hash_file(const std::string& path, std::string* sha_hex, uint64_t* size) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) return Status::io_error("open " + path + ": " + errno_text());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Status::internal("sha256 init failed");
  std::string buf(kIoChunk, '\0');
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error("read " + path + ": " + errno_text());
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), size_t(n));
    total += uint64_t(n);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  *sha_hex = to_hex(std::string_view(reinterpret_cast<const char*>(md), len));
  *size = total;
  return Status::ok();
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error("write " + path + ": " + errno_text());
    }
    data.remove_prefix(size_t(n));
  }
  return Status::ok();
}

Status fsync_dir(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return Status::io_error("fsync " + dir + ": " + errno_text());
  return Status::ok();
}

std::string parent_dir(const std::string& path) {
  fs::path p = fs::absolute(path).parent_path();
  return p.empty() ? "." : p.string();
}

// Copies src to dest (created, 0600) and fsyncs it.
Status copy_file(const std::string& src, const std::string& dest) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) return Status::io_error("open " + src + ": " + errno_text());
  Fd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.fd < 0) return Status::io_error("create " + dest + ": " + errno_text());
  std::string buf(kIoChunk, '\0');
  for (;;) {
    ssize_t n = ::read(in.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error("read " + src + ": " + errno_text());
    }
    if (n == 0) break;
    TSUBAME_TRY(write_all(out.fd, std::string_view(buf.data(), size_t(n)), dest));
  }
  if (::fsync(out.fd) != 0) return Status::io_error("fsync " + dest + ": " + errno_text());
  return Status::ok();
}

std::string manifest_body(const BackupManifest& m) {
  return "tsubame-backup " + std::to_string(m.format) + "\nschema " +
         std::to_string(m.schema_version) + "\ncreated_ms " + std::to_string(m.created_ms) +
         "\nsize " + std::to_string(m.size) + "\nsha256 " + m.sha256_hex + "\n";
}

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

Result<BackupManifest> read_manifest(const std::string& backup_file, const Keyring& keys) {
  std::string path = backup_manifest_path(backup_file);
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0)
    return Status::not_found("backup manifest " + path + ": " + errno_text() +
                             " (not a Tsubame backup, or its manifest was lost)");
  std::string text(kMaxManifestSize + 1, '\0');
  ssize_t n = ::read(f.fd, text.data(), text.size());
  if (n < 0) return Status::io_error("read " + path + ": " + errno_text());
  if (size_t(n) > kMaxManifestSize) return Status::corruption(path + " is too large for a manifest");
  text.resize(size_t(n));

  auto bad = [&](const std::string& why) { return Status::corruption("backup manifest " + path + ": " + why); };
  size_t mac_at = text.rfind("mac ");
  if (mac_at == std::string::npos || (mac_at != 0 && text[mac_at - 1] != '\n'))
    return bad("no mac line");
  std::string_view body(text.data(), mac_at);
  std::string_view mac_line = trim(std::string_view(text).substr(mac_at + 4));
  auto mac = from_hex(mac_line);
  if (!mac) return bad("malformed mac");
  std::string expect = crypto::hmac_sha256(manifest_key(keys), body);
  if (!constant_time_equal(*mac, expect))
    return Status::denied("backup " + backup_file +
                          " was not made by this installation (different master key) or its "
                          "manifest was altered");

  BackupManifest m;
  auto lines = split(body, '\n');
  const char* names[] = {"tsubame-backup", "schema", "created_ms", "size", "sha256"};
  if (lines.size() != 6 || !lines[5].empty()) return bad("unexpected layout");
  for (size_t i = 0; i < 5; i++) {
    std::string_view line = lines[i];
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.substr(0, sp) != names[i])
      return bad(std::string("expected ") + names[i]);
    std::string_view value = line.substr(sp + 1);
    uint64_t v = 0;
    if (i == 4) {
      if (value.size() != 64 || !from_hex(value)) return bad("malformed sha256");
      m.sha256_hex.assign(value);
    } else if (!parse_u64(value, &v)) {
      return bad(std::string("malformed ") + names[i]);
    } else if (i == 0) {
      if (v != kBackupFormat) return bad("unsupported backup format " + std::string(value));
      m.format = uint32_t(v);
    } else if (i == 1) {
      m.schema_version = uint32_t(v);
    } else if (i == 2) {
      m.created_ms = int64_t(v);
    } else {
      m.size = v;
    }
  }
  return m;
}

// True if another process holds LMDB's lock on the environment in `dir`. LMDB keeps a
// shared fcntl lock on byte 0 of lock.mdb for as long as an environment is open.
// (POSIX: closing our descriptor drops locks this process holds on the file; restore()
// requires that this process has no Store open on the directory anyway.)
Result<bool> store_in_use(const std::string& dir) {
  std::string lock = dir + "/lock.mdb";
  Fd f(::open(lock.c_str(), O_RDWR | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno == ENOENT) return false;
    return Status::io_error("open " + lock + ": " + errno_text());
  }
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 1;
  if (::fcntl(f.fd, F_GETLK, &fl) != 0) return Status::io_error("lock test " + lock + ": " + errno_text());
  return fl.l_type != F_UNLCK;
}

// Removes a directory tree when it goes out of scope, unless released.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (!path.empty()) {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  }
};

}  // namespace

std::string backup_manifest_path(const std::string& backup_file) { return backup_file + ".manifest"; }

Result<BackupManifest> backup(Store& store, const std::string& dest_file) {
  std::string manifest_path = backup_manifest_path(dest_file);
  struct stat st;
  if (::stat(dest_file.c_str(), &st) == 0) return Status::exists("backup file " + dest_file + " exists");
  if (::stat(manifest_path.c_str(), &st) == 0)
    return Status::exists("backup manifest " + manifest_path + " exists");

  BackupManifest m;
  m.created_ms = unix_now_ms();
  TSUBAME_TRY(store.env().read([&](const Txn& txn) -> Status {
    std::string_view v;
    Status s = txn.get(Db::kMeta, rec::kMetaSchema, &v);
    if (s.is_ok() && v.size() == 4) m.schema_version = get_be32(v.data());
    return s.code() == Code::kNotFound ? Status::ok() : s;
  }));
  // One read snapshot, compacted (mdb_env_copyfd2 with MDB_CP_COMPACT), fsync'd.
  TSUBAME_TRY(store.env().copy_to(dest_file));
  auto fail = [&](Status s) {
    ::unlink(dest_file.c_str());
    ::unlink((manifest_path + ".tmp").c_str());
    return s;
  };
  Status h = hash_file(dest_file, &m.sha256_hex, &m.size);
  if (!h.is_ok()) return fail(h);

  std::string body = manifest_body(m);
  std::string text = body + "mac " + to_hex(crypto::hmac_sha256(manifest_key(store.keys()), body)) + "\n";
  std::string tmp = manifest_path + ".tmp";
  {
    Fd f(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (f.fd < 0) return fail(Status::io_error("create " + tmp + ": " + errno_text()));
    Status w = write_all(f.fd, text, tmp);
    if (!w.is_ok()) return fail(w);
    if (::fsync(f.fd) != 0) return fail(Status::io_error("fsync " + tmp + ": " + errno_text()));
  }
  if (::rename(tmp.c_str(), manifest_path.c_str()) != 0)
    return fail(Status::io_error("rename " + tmp + ": " + errno_text()));
  Status d = fsync_dir(parent_dir(dest_file));
  if (!d.is_ok()) return fail(d);
  return m;
}

Result<BackupManifest> verify_backup(const std::string& backup_file, const std::string& key_file) {
  auto keys = Keyring::load(key_file, false);
  if (!keys.is_ok()) return keys.status();
  auto m = read_manifest(backup_file, *keys);
  if (!m.is_ok()) return m.status();
  std::string sha;
  uint64_t size = 0;
  TSUBAME_TRY(hash_file(backup_file, &sha, &size));
  if (size != m->size)
    return Status::corruption("backup " + backup_file + " has " + std::to_string(size) +
                              " bytes, its manifest says " + std::to_string(m->size) +
                              " (truncated or altered)");
  if (sha != m->sha256_hex)
    return Status::corruption("backup " + backup_file + " does not match its checksum (altered)");
  if (m->schema_version != rec::kSchemaVersion)
    return Status::invalid("backup " + backup_file + " has schema version " +
                           std::to_string(m->schema_version) + ", this build reads " +
                           std::to_string(rec::kSchemaVersion));
  return m;
}

Result<RestoreResult> restore(const std::string& backup_file, const Options& options) {
  RestoreResult out;
  // 1, 2: manifest, size, checksum.
  auto m = verify_backup(backup_file, options.key_file);
  if (!m.is_ok()) return m.status();
  out.manifest = *m;

  std::string data_dir = options.data_dir;
  while (data_dir.size() > 1 && data_dir.back() == '/') data_dir.pop_back();
  if (::mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::io_error("create " + data_dir + ": " + errno_text());

  // 3: a private copy beside the data directory (same file system, so the rename is atomic).
  TempDir tmp;
  std::string tmpl = data_dir + ".restore-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return Status::io_error("create temporary directory: " + errno_text());
  tmp.path = tmpl;
  std::string staged = tmp.path + "/data.mdb";
  TSUBAME_TRY(copy_file(backup_file, staged));
  std::string staged_sha;
  uint64_t staged_size = 0;
  TSUBAME_TRY(hash_file(staged, &staged_sha, &staged_size));
  if (staged_sha != m->sha256_hex || staged_size != m->size)
    return Status::io_error("the staged copy of " + backup_file + " differs from the backup");
  {
    Options ro;
    ro.data_dir = tmp.path;
    ro.key_file = options.key_file;
    ro.read_only = true;
    ro.create = false;
    auto copy = Store::open(ro);
    if (!copy.is_ok())
      return Status::corruption("backup " + backup_file + " does not open as a store: " +
                                copy.status().to_string());
    auto check = (*copy)->check();
    if (!check.is_ok())
      return Status::corruption("backup " + backup_file + " fails the store check: " +
                                check.status().to_string());
    if (!check->problems.empty())
      return Status::corruption("backup " + backup_file + " is inconsistent: " +
                                check->problems.front() + " (and " +
                                std::to_string(check->problems.size() - 1) + " more)");
    out.users = check->users;
    out.mailboxes = check->mailboxes;
    out.messages = check->messages;
    auto audit = AuditLog(**copy).verify();
    if (!audit.is_ok()) return audit.status();
    if (!audit->ok)
      return Status::corruption("backup " + backup_file + " has a broken audit chain: " + audit->reason);
    out.audit_records = audit->records;
  }
  TSUBAME_TRY(fsync_dir(tmp.path));

  // 4: nobody may have the store open while its file is replaced.
  auto busy = store_in_use(data_dir);
  if (!busy.is_ok()) return busy.status();
  if (*busy)
    return Status::unavailable("the store in " + data_dir +
                               " is open in another process; stop the daemons before restoring");

  // 5: keep the old file, then replace atomically.
  std::string data_file = data_dir + "/data.mdb";
  std::string previous = data_file + ".pre-restore";
  struct stat st;
  if (::stat(data_file.c_str(), &st) == 0) {
    if (::unlink(previous.c_str()) != 0 && errno != ENOENT)
      return Status::io_error("remove " + previous + ": " + errno_text());
    if (::link(data_file.c_str(), previous.c_str()) != 0)
      return Status::io_error("keep " + data_file + " as " + previous + ": " + errno_text());
    out.previous_file = previous;
  }
  if (::rename(staged.c_str(), data_file.c_str()) != 0)
    return Status::io_error("replace " + data_file + ": " + errno_text());
  TSUBAME_TRY(fsync_dir(data_dir));
  return out;
}

}  // namespace tsubame::store
