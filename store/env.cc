#include "store/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <mutex>

#include "common/bytes.h"

namespace tsubame::store {
namespace {

MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

constexpr const char* kDbNames[] = {
    "meta",     "domains", "domain_names", "users",   "user_index", "mailboxes", "mailbox_index",
    "messages", "modseq",  "expunged",     "blobs",   "summaries",  "audit",     "logins",
    "lockout",  "trace",   "trace_ids",    "queue",   "reports",    "tokens",    "grants",
    "aliases",  "settings", "purges",  "subscriptions", "sent",
    "correspondents",
};
static_assert(sizeof(kDbNames) / sizeof(kDbNames[0]) == size_t(Db::kCount));

struct Cursor {
  MDB_cursor* c = nullptr;
  ~Cursor() {
    if (c) mdb_cursor_close(c);
  }
};

}  // namespace

const char* db_name(Db db) { return kDbNames[int(db)]; }

Status lmdb_status(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return Status::ok();
  std::string m = std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND: return Status::not_found(m);
    case MDB_KEYEXIST: return Status::exists(m);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_TXN:
      return Status::corruption(m);
    case MDB_MAP_FULL: return Status::full(m);
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_MAP_RESIZED:
      return Status::unavailable(m);
    case EACCES:
    case EPERM:
      return Status::denied(m);
    default: return Status::io_error(m);
  }
}

Status Txn::get(Db db, std::string_view key, std::string_view* value) const {
  if (dbi(db) == kAbsentDbi) return Status::not_found(std::string("get ") + db_name(db));
  MDB_val k = val(key), v;
  int rc = mdb_get(txn_, dbi(db), &k, &v);
  if (rc == MDB_SUCCESS) *value = view(v);
  return lmdb_status(rc, std::string("get ") + db_name(db));
}

Result<std::optional<std::string>> Txn::get_copy(Db db, std::string_view key) const {
  std::string_view v;
  Status s = get(db, key, &v);
  if (s.code() == Code::kNotFound) return std::optional<std::string>{};
  if (!s.is_ok()) return s;
  return std::optional<std::string>{std::string(v)};
}

Status Txn::put(Db db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value);
  return lmdb_status(mdb_put(txn_, dbi(db), &k, &v, 0), std::string("put ") + db_name(db));
}

Status Txn::insert(Db db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value);
  return lmdb_status(mdb_put(txn_, dbi(db), &k, &v, MDB_NOOVERWRITE),
                     std::string("insert ") + db_name(db));
}

Status Txn::del(Db db, std::string_view key) {
  MDB_val k = val(key);
  return lmdb_status(mdb_del(txn_, dbi(db), &k, nullptr), std::string("del ") + db_name(db));
}

Status Txn::scan(Db db, std::string_view prefix, std::string_view from,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (dbi(db) == kAbsentDbi) return Status::ok();
  Cursor cur;
  int rc = mdb_cursor_open(txn_, dbi(db), &cur.c);
  if (rc) return lmdb_status(rc, "cursor");
  std::string_view start = from.size() >= prefix.size() ? from : prefix;
  MDB_val k = val(start), v;
  rc = start.empty() ? mdb_cursor_get(cur.c, &k, &v, MDB_FIRST)
                     : mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    std::string_view key = view(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, view(v))) break;
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return lmdb_status(rc, "scan");
  return Status::ok();
}

Status Txn::scan_back(Db db, std::string_view prefix, std::string_view from,
                      const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (dbi(db) == kAbsentDbi) return Status::ok();
  Cursor cur;
  int rc = mdb_cursor_open(txn_, dbi(db), &cur.c);
  if (rc) return lmdb_status(rc, "cursor");
  MDB_val k = val(from), v;
  rc = mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_LAST);
  } else if (rc == MDB_SUCCESS && view(k) > from) {
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_PREV);
  }
  while (rc == MDB_SUCCESS) {
    std::string_view key = view(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, view(v))) break;
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_PREV);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return lmdb_status(rc, "scan back");
  return Status::ok();
}

Status Txn::last(Db db, std::string_view prefix, std::string* key, std::string* value) const {
  if (dbi(db) == kAbsentDbi) return Status::not_found("no key with prefix");
  // The first key after every key with this prefix, then one step back.
  std::string upper(prefix);
  while (!upper.empty() && uint8_t(upper.back()) == 0xff) upper.pop_back();
  bool found = false;
  auto take = [&](std::string_view k, std::string_view v) {
    if (key) key->assign(k);
    if (value) value->assign(v);
    found = true;
    return false;
  };
  if (upper.empty()) {
    Cursor cur;
    int rc = mdb_cursor_open(txn_, dbi(db), &cur.c);
    if (rc) return lmdb_status(rc, "cursor");
    MDB_val k, v;
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_LAST);
    if (rc == MDB_SUCCESS && view(k).substr(0, prefix.size()) == prefix) take(view(k), view(v));
    else if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return lmdb_status(rc, "last");
  } else {
    upper.back() = char(uint8_t(upper.back()) + 1);
    // scan_back starts at the greatest key <= upper; skip upper itself if present.
    TSUBAME_TRY(scan_back(db, prefix, upper, [&](std::string_view k, std::string_view v) {
      if (k == upper) return true;
      return take(k, v);
    }));
  }
  return found ? Status::ok() : Status::not_found("no key with prefix");
}

Result<uint64_t> Txn::del_prefix(Db db, std::string_view prefix) {
  Cursor cur;
  int rc = mdb_cursor_open(txn_, dbi(db), &cur.c);
  if (rc) return lmdb_status(rc, "cursor");
  MDB_val k = val(prefix), v;
  uint64_t n = 0;
  rc = prefix.empty() ? mdb_cursor_get(cur.c, &k, &v, MDB_FIRST)
                      : mdb_cursor_get(cur.c, &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS && view(k).substr(0, prefix.size()) == prefix) {
    rc = mdb_cursor_del(cur.c, 0);
    if (rc) return lmdb_status(rc, "delete");
    n++;
    rc = mdb_cursor_get(cur.c, &k, &v, MDB_GET_CURRENT);
    if (rc == MDB_NOTFOUND || rc == EINVAL) rc = mdb_cursor_get(cur.c, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return lmdb_status(rc, "delete prefix");
  return n;
}

Result<uint64_t> Txn::count(Db db) const {
  if (dbi(db) == kAbsentDbi) return uint64_t(0);
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi(db), &st);
  if (rc) return lmdb_status(rc, "stat");
  return uint64_t(st.ms_entries);
}

Result<uint64_t> Txn::next_id(std::string_view counter) {
  std::string key = "counter:" + std::string(counter);
  std::string_view v;
  uint64_t n = 0;
  Status s = get(Db::kMeta, key, &v);
  if (s.is_ok()) {
    if (v.size() != 8) return Status::corruption("counter " + std::string(counter));
    n = get_be64(v.data());
  } else if (s.code() != Code::kNotFound) {
    return s;
  }
  n++;
  std::string enc;
  put_be64(enc, n);
  TSUBAME_TRY(put(Db::kMeta, key, enc));
  return n;
}

Result<std::unique_ptr<Env>> Env::open(const EnvOptions& opts) {
  std::unique_ptr<Env> env(new Env(opts));
  if (opts.create && !opts.read_only) {
    if (mkdir(opts.path.c_str(), 0700) != 0 && errno != EEXIST)
      return Status::io_error("create " + opts.path + ": " + strerror(errno));
  }
  struct stat st;
  if (stat(opts.path.c_str(), &st) != 0)
    return Status::not_found("data directory " + opts.path + ": " + strerror(errno));
  if (!S_ISDIR(st.st_mode)) return Status::invalid(opts.path + " is not a directory");

  int rc = mdb_env_create(&env->env_);
  if (rc) return lmdb_status(rc, "mdb_env_create");
  mdb_env_set_maxdbs(env->env_, int(Db::kCount) + 2);
  mdb_env_set_maxreaders(env->env_, 512);
  // Use the larger of the configured size and the size of an existing file.
  uint64_t size = opts.map_size;
  struct stat fst;
  std::string data_file = opts.path + "/data.mdb";
  // An existing non-empty file must already be a Tsubame store: never add our databases to a
  // foreign LMDB file (LMDB itself initialises a missing or empty file).
  bool existed = stat(data_file.c_str(), &fst) == 0 && fst.st_size > 0;
  if (existed && uint64_t(fst.st_size) > size) size = uint64_t(fst.st_size);
  rc = mdb_env_set_mapsize(env->env_, size);
  if (rc) return lmdb_status(rc, "set map size");
  unsigned flags = MDB_NOTLS | (opts.read_only ? MDB_RDONLY : 0);
  rc = mdb_env_open(env->env_, opts.path.c_str(), flags, 0600);
  if (rc) {
    Status s = lmdb_status(rc, "open " + data_file);
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
      s = Status::corruption(data_file + " is not a Tsubame LMDB store (" + mdb_strerror(rc) + ")");
    return s;
  }
  // A truncated file passes LMDB's meta page checks but its pages lie beyond the end of the
  // file: touching them through the map would raise SIGBUS. Refuse it before any read.
  if (existed) {
    MDB_envinfo info;
    MDB_stat est;
    if (mdb_env_info(env->env_, &info) == 0 && mdb_env_stat(env->env_, &est) == 0 &&
        stat(data_file.c_str(), &fst) == 0 &&
        (uint64_t(info.me_last_pgno) + 1) * est.ms_psize > uint64_t(fst.st_size))
      return Status::corruption(data_file + " is truncated: " + std::to_string(fst.st_size) +
                                " bytes, its pages need " +
                                std::to_string((uint64_t(info.me_last_pgno) + 1) * est.ms_psize));
  }
  env->reader_check();

  MDB_txn* txn;
  rc = mdb_txn_begin(env->env_, nullptr, opts.read_only ? MDB_RDONLY : 0, &txn);
  if (rc) return lmdb_status(rc, "begin");
  for (int i = 0; i < int(Db::kCount); i++) {
    // The meta database is created only in a new file; other databases are created when
    // missing (a newer schema adding one).
    bool may_create = !opts.read_only && (i != int(Db::kMeta) || !existed);
    rc = mdb_dbi_open(txn, kDbNames[i], may_create ? MDB_CREATE : 0, &env->dbis_[i]);
    if (rc == MDB_NOTFOUND && opts.read_only && i >= int(Db::kSubscriptions)) {
      // A database added after the file was written (a backup of an older version, opened
      // read-only to verify or restore it): it reads as empty.
      env->dbis_[i] = kAbsentDbi;
      continue;
    }
    if (rc) {
      mdb_txn_abort(txn);
      if (rc == MDB_NOTFOUND && i == int(Db::kMeta))
        return Status::corruption(data_file + " is an LMDB file but not a Tsubame store");
      if (opts.read_only && rc == MDB_NOTFOUND)
        return Status::corruption(data_file + " lacks database " + kDbNames[i]);
      return lmdb_status(rc, std::string("open database ") + kDbNames[i]);
    }
  }
  rc = mdb_txn_commit(txn);
  if (rc) return lmdb_status(rc, "commit");
  return env;
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

Status Env::begin(bool read_only, MDB_txn** txn) const {
  for (int attempt = 0; attempt < 3; attempt++) {
    int rc = mdb_txn_begin(env_, nullptr, read_only ? MDB_RDONLY : 0, txn);
    if (rc != MDB_MAP_RESIZED) return lmdb_status(rc, "begin transaction");
    // Another process grew the map: adopt the new size (no txn of ours is active here
    // because callers hold the shared lock only around their own transaction).
    auto* self = const_cast<Env*>(this);
    self->resize_mu_.unlock_shared();
    {
      std::unique_lock lk(self->resize_mu_);
      mdb_env_set_mapsize(env_, 0);
    }
    self->resize_mu_.lock_shared();
  }
  return Status::unavailable("map resized repeatedly");
}

Status Env::write(const std::function<Status(Txn&)>& fn) { return write(fn, Sync::kFull); }

Status Env::write(const std::function<Status(Txn&)>& fn, Sync sync) {
  if (opts_.read_only) return Status::denied("store opened read-only");
  for (int attempt = 0; attempt < 8; attempt++) {
    Status s;
    {
      std::shared_lock lk(resize_mu_);
      MDB_txn* txn = nullptr;
      TSUBAME_TRY(begin(false, &txn));
      Txn t(txn, dbis_);
      s = fn(t);
      if (s.is_ok()) {
        int rc;
        {
          // Durable unless kDataOnly (see env.h); MDB_NOSYNC is never set. LMDB 0.9 ignores
          // MDB_NOMETASYNC as a txn flag, so the environment flag is set for this commit
          // only, under commit_mu_ (every commit of this process takes it). Readers on other
          // threads only test flag bits this does not change (MDB_RDONLY, MDB_NOTLS ...).
          // MDB_NOMETASYNC is one of LMDB's changeable flags: these calls cannot fail.
          std::lock_guard<std::mutex> cl(commit_mu_);
          if (sync == Sync::kDataOnly) mdb_env_set_flags(env_, MDB_NOMETASYNC, 1);
          rc = mdb_txn_commit(txn);
          if (sync == Sync::kDataOnly) mdb_env_set_flags(env_, MDB_NOMETASYNC, 0);
        }
        if (rc == MDB_SUCCESS) return Status::ok();
        s = lmdb_status(rc, "commit");
      } else {
        mdb_txn_abort(txn);
      }
    }
    if (s.code() != Code::kFull || s.message().find("MDB_MAP_FULL") == std::string::npos) return s;
    TSUBAME_TRY(grow());
  }
  return Status::full("store map is full and could not grow");
}

Status Env::nested(Txn& parent, const std::function<Status(Txn&)>& fn, bool* parent_broken) {
  *parent_broken = false;
  MDB_txn* child = nullptr;
  int rc = mdb_txn_begin(env_, parent.raw(), 0, &child);
  if (rc) {
    *parent_broken = true;
    return lmdb_status(rc, "begin nested transaction");
  }
  Txn t(child, dbis_);
  Status s = fn(t);
  if (!s.is_ok()) {
    mdb_txn_abort(child);
    return s;
  }
  rc = mdb_txn_commit(child);  // into the parent: no I/O
  if (rc) *parent_broken = true;
  return lmdb_status(rc, "commit nested transaction");
}

Status Env::sync() {
  if (opts_.read_only) return Status::ok();
  std::shared_lock lk(resize_mu_);
  return lmdb_status(mdb_env_sync(env_, 1), "sync");
}

Status Env::read(const std::function<Status(const Txn&)>& fn) const {
  std::shared_lock lk(resize_mu_);
  MDB_txn* txn = nullptr;
  TSUBAME_TRY(begin(true, &txn));
  Txn t(txn, dbis_);
  Status s = fn(t);
  mdb_txn_abort(txn);
  return s;
}

Status Env::grow() {
  std::unique_lock lk(resize_mu_);
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  uint64_t current = info.me_mapsize;
  if (current >= opts_.max_map_size)
    return Status::full("store reached its maximum size of " + std::to_string(opts_.max_map_size) +
                        " bytes (raise store.max_map_size)");
  uint64_t next = std::min<uint64_t>(current * 2, opts_.max_map_size);
  int rc = mdb_env_set_mapsize(env_, next);
  return lmdb_status(rc, "grow map");
}

uint64_t Env::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

Status Env::copy_to(const std::string& dest_file) const {
  // mdb_env_copy2 wants a directory; we write one file, so use the fd variant.
  int fd = ::open(dest_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::io_error("create " + dest_file + ": " + strerror(errno));
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  if (rc == MDB_SUCCESS && fsync(fd) != 0) rc = errno;
  ::close(fd);
  if (rc != MDB_SUCCESS) ::unlink(dest_file.c_str());
  return lmdb_status(rc, "copy to " + dest_file);
}

int Env::reader_check() const {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  return dead;
}

}  // namespace tsubame::store
