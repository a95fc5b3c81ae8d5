// tests/store/open_test.cc: opening a store: first open, wrong/missing master key, foreign,
// random, truncated and uninitialised data files (clear errors, no crash, nothing modified),
// and the LMDB map: it grows on demand, and at max_map_size a write fails with Full and
// nothing is corrupted.
#include <gtest/gtest.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/bytes.h"
#include "store/env.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

using testing::err;
using testing::incoming;
using testing::TempStore;
using testing::slurp;
using testing::to;

void write_file(const std::string& path, const std::string& data, mode_t mode = 0600) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  chmod(path.c_str(), mode);
}

// A store with one user and one message, closed.
struct Closed {
  TempStore ts;
  Options opts;
  std::string data_file;
  Closed() {
    EXPECT_TRUE(ts->add_domain("example.com").is_ok());
    auto u = ts->add_user("alice@example.com", "h");
    EXPECT_TRUE(u.is_ok());
    for (int i = 0; i < 50; i++)
      EXPECT_TRUE(ts->deliver({incoming("m" + std::to_string(i), std::string(3000, 'b'), {to(u->id)})}).is_ok());
    ts.close();
    opts = ts.options();
    data_file = opts.data_dir + "/data.mdb";
  }
};

TEST(Open, FirstOpenCreatesKeyAndReopens) {
  TempStore ts;
  struct stat st;
  ASSERT_EQ(stat(ts.options().key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  ts.close();
  Options o = ts.options();
  o.create = false;
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << err(s);
  EXPECT_TRUE((*s)->find_domain("example.com").is_ok());
  EXPECT_EQ(&(*s)->options() != nullptr, true);
  EXPECT_EQ((*s)->options().data_dir, o.data_dir);
}

TEST(Open, WrongMasterKeyIsPermissionDeniedAndChangesNothing) {
  Closed c;
  std::string before = slurp(c.data_file);
  write_file(c.opts.key_file, random_bytes(32));
  auto s = Store::open(c.opts);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kPermissionDenied);
  EXPECT_NE(s.status().message().find("wrong master key"), std::string::npos) << s.status().to_string();
  EXPECT_EQ(slurp(c.data_file), before);
}

TEST(Open, MissingMasterKeyIsNotFoundAndNotRegenerated) {
  Closed c;
  std::string before = slurp(c.data_file);
  std::filesystem::remove(c.opts.key_file);
  auto s = Store::open(c.opts);  // even with create = true
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kNotFound);
  EXPECT_NE(s.status().message().find("master key"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(c.opts.key_file));
  EXPECT_EQ(slurp(c.data_file), before);
}

TEST(Open, BadKeyFiles) {
  Closed c;
  write_file(c.opts.key_file, random_bytes(31));
  EXPECT_EQ(Store::open(c.opts).status().code(), Code::kCorruption);
  write_file(c.opts.key_file, random_bytes(32), 0644);
  EXPECT_EQ(Store::open(c.opts).status().code(), Code::kPermissionDenied);
  Options inside = c.opts;
  inside.key_file = c.opts.data_dir + "/master.key";
  EXPECT_EQ(Store::open(inside).status().code(), Code::kInvalidArgument);
}

TEST(Open, NoStoreWithoutCreate) {
  TempStore ts;
  Options o = ts.options();
  o.data_dir = ts.dir() + "/nowhere";
  o.create = false;
  EXPECT_EQ(Store::open(o).status().code(), Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(o.data_dir));
}

TEST(Open, RandomBytesFileIsCorruption) {
  TempStore ts;
  ts.close();
  Options o = ts.options();
  o.data_dir = ts.dir() + "/random";
  std::filesystem::create_directory(o.data_dir);
  std::string junk = random_bytes(1 << 20);
  write_file(o.data_dir + "/data.mdb", junk);
  auto s = Store::open(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kCorruption) << s.status().to_string();
  EXPECT_EQ(slurp(o.data_dir + "/data.mdb"), junk);
}

TEST(Open, TruncatedFileIsAnErrorNotACrash) {
  Closed c;
  std::string full = slurp(c.data_file);
  ASSERT_GT(full.size(), 64u * 1024);
  for (size_t len : {full.size() / 2, full.size() - 4096, size_t(9000), size_t(100)}) {
    write_file(c.data_file, full.substr(0, len));
    auto s = Store::open(c.opts);
    ASSERT_FALSE(s.is_ok()) << "truncated to " << len;
    EXPECT_EQ(s.status().code(), Code::kCorruption) << len << ": " << s.status().to_string();
  }
  write_file(c.data_file, full);
  auto s = Store::open(c.opts);
  ASSERT_TRUE(s.is_ok()) << err(s);
  auto check = (*s)->check();
  ASSERT_TRUE(check.is_ok());
  EXPECT_TRUE(check->problems.empty());
  EXPECT_EQ(check->messages, 50u);
}

TEST(Open, ForeignLmdbFileIsCorruptionAndUntouched) {
  TempStore ts;
  ts.close();
  Options o = ts.options();
  o.data_dir = ts.dir() + "/foreign";
  std::filesystem::create_directory(o.data_dir);
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_open(env, o.data_dir.c_str(), 0, 0600), 0);
    MDB_txn* txn;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    MDB_val k{5, const_cast<char*>("hello")}, v{5, const_cast<char*>("world")};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  std::string before = slurp(o.data_dir + "/data.mdb");
  auto s = Store::open(o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kCorruption);
  EXPECT_NE(s.status().message().find("not a Tsubame store"), std::string::npos) << s.status().to_string();
  EXPECT_EQ(slurp(o.data_dir + "/data.mdb"), before);
}

TEST(Open, ReadOnly) {
  Closed c;
  Options o = c.opts;
  o.read_only = true;
  o.create = false;
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << err(s);
  EXPECT_EQ((*s)->find_user("alice@example.com")->used_bytes > 0, true);
  EXPECT_EQ((*s)->add_domain("x.example").status().code(), Code::kPermissionDenied);
}

// A file written before Db::kSubscriptions existed (an older backup): read-only it opens with
// that database empty; read-write it is added.
TEST(Open, DatabaseAddedByANewerVersion) {
  Closed c;
  {
    MDB_env* env;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_set_maxdbs(env, 64), 0);
    ASSERT_EQ(mdb_env_set_mapsize(env, 1ull << 30), 0);
    ASSERT_EQ(mdb_env_open(env, c.opts.data_dir.c_str(), 0, 0600), 0);
    MDB_txn* txn;
    MDB_dbi dbi;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "subscriptions", 0, &dbi), 0);
    ASSERT_EQ(mdb_drop(txn, dbi, 1), 0);  // delete the database itself
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  Options ro = c.opts;
  ro.read_only = true;
  ro.create = false;
  {
    auto s = Store::open(ro);
    ASSERT_TRUE(s.is_ok()) << err(s);
    auto u = (*s)->find_user("alice@example.com");
    ASSERT_TRUE(u.is_ok());
    auto orphans = (*s)->orphan_subscriptions(u->id);
    ASSERT_TRUE(orphans.is_ok()) << orphans.status().to_string();
    EXPECT_TRUE(orphans->empty());
    EXPECT_TRUE((*s)->check()->problems.empty());
  }
  Options rw = c.opts;
  rw.create = false;
  auto s = Store::open(rw);
  ASSERT_TRUE(s.is_ok()) << err(s);
  auto u = (*s)->find_user("alice@example.com");
  ASSERT_TRUE((*s)->set_subscribed(u->id, "Someday", true).is_ok());
  EXPECT_EQ(*(*s)->orphan_subscriptions(u->id), std::vector<std::string>{"Someday"});
}

TEST(Open, MapGrowsOnDemand) {
  TempStore ts;
  ts.close();
  Options o = ts.options();
  o.data_dir = ts.dir() + "/tiny";
  o.map_size = 128 << 10;
  o.max_map_size = 1ull << 30;
  std::vector<DeliveredCopy> acked;
  uint64_t user;
  {
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << err(s);
    Store& st = **s;
    uint64_t start = st.env().map_size();
    ASSERT_TRUE(st.add_domain("example.com").is_ok());
    user = st.add_user("a@example.com", "h")->id;
    for (int i = 0; i < 20; i++) {
      std::vector<IncomingMessage> batch;
      for (int j = 0; j < 8; j++)
        batch.push_back(incoming("g" + std::to_string(i * 8 + j), std::string(4096, 'x'), {to(user)}));
      auto r = st.deliver(batch);
      ASSERT_TRUE(r.is_ok()) << err(r);
      for (const auto& d : *r) acked.push_back(d.copies[0]);
    }
    EXPECT_GT(st.env().map_size(), start);
  }
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << err(s);
  for (size_t i = 0; i < acked.size(); i++) {
    auto raw = (*s)->read_message(user, acked[i].mailbox_id, acked[i].uid);
    ASSERT_TRUE(raw.is_ok()) << err(raw);
    EXPECT_NE(raw->find("g" + std::to_string(i)), std::string::npos);
  }
  auto c = (*s)->check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(c->problems.empty());
  EXPECT_EQ(c->messages, 160u);
}

TEST(Open, MaxMapSizeGivesFullAndKeepsData) {
  TempStore ts;
  ts.close();
  Options o = ts.options();
  o.data_dir = ts.dir() + "/capped";
  o.map_size = 128 << 10;
  o.max_map_size = 512 << 10;
  std::vector<DeliveredCopy> acked;
  uint64_t user;
  Status last;
  {
    auto s = Store::open(o);
    ASSERT_TRUE(s.is_ok()) << err(s);
    Store& st = **s;
    ASSERT_TRUE(st.add_domain("example.com").is_ok());
    user = st.add_user("a@example.com", "h")->id;
    for (int i = 0; i < 1000; i++) {
      auto r = st.deliver({incoming("c" + std::to_string(i), std::string(4096, 'x'), {to(user)})});
      if (!r.is_ok()) {
        last = r.status();
        break;
      }
      acked.push_back(r->at(0).copies[0]);
    }
    ASSERT_EQ(last.code(), Code::kFull) << last.to_string();
    EXPECT_NE(last.message().find("maximum size"), std::string::npos) << last.to_string();
    EXPECT_GT(acked.size(), 10u);
    // Still readable and consistent in the same process...
    auto c = st.check();
    ASSERT_TRUE(c.is_ok());
    EXPECT_TRUE(c->problems.empty());
    EXPECT_EQ(c->messages, acked.size());
    // ... and deleting makes room again.
    Mailbox in = *st.find_mailbox(user, "INBOX");
    ASSERT_TRUE(st.store_flags(in.id, {acked[0].uid, acked[1].uid}, FlagMode::kAdd, kDeleted, {}).is_ok());
    ASSERT_TRUE(st.expunge(in.id).is_ok());
  }
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << err(s);
  for (size_t i = 2; i < acked.size(); i++)
    ASSERT_TRUE((*s)->read_message(user, acked[i].mailbox_id, acked[i].uid).is_ok()) << i;
  auto c = (*s)->check();
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(c->problems.empty());
  EXPECT_TRUE((*s)->deliver({incoming("again", "small", {to(user)})}).is_ok());
}

TEST(Open, MapGrownByAnotherProcessIsAdopted) {
  TempStore ts;
  ASSERT_TRUE(ts->add_domain("example.com").is_ok());
  uint64_t user = ts->add_user("a@example.com", "h")->id;
  ts.close();
  Options o = ts.options();
  o.map_size = 256 << 10;
  // Both processes open the store after the fork (never share an Env across fork).
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    auto s = Store::open(o);
    if (!s.is_ok()) _exit(3);
    for (int i = 0; i < 40; i++) {
      std::vector<IncomingMessage> batch;
      for (int j = 0; j < 8; j++) batch.push_back(incoming("p" + std::to_string(i * 8 + j), std::string(4096, 'p'), {to(user)}));
      if (!(*s)->deliver(batch).is_ok()) _exit(4);
    }
    c = (*s)->env().map_size() > (256u << 10) ? 'g' : 'n';
    if (write(done[1], &c, 1) != 1) _exit(5);
    _exit(0);
  }
  auto s = Store::open(o);
  ASSERT_TRUE(s.is_ok()) << err(s);
  uint64_t inbox = (*s)->find_mailbox(user, "INBOX")->id;  // a read before the child grows the map
  char c = 'x';
  ASSERT_EQ(write(go[1], &c, 1), 1);
  ASSERT_EQ(read(done[0], &c, 1), 1);
  EXPECT_EQ(c, 'g') << "the child's map did not grow";
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // This process still maps the old size: it must adopt the new one, then read everything.
  auto msgs = (*s)->list_messages(inbox);
  ASSERT_TRUE(msgs.is_ok()) << err(msgs);
  ASSERT_EQ(msgs->size(), 320u);
  for (const auto& m : *msgs) ASSERT_TRUE((*s)->read_message(user, inbox, m.uid).is_ok());
  EXPECT_TRUE((*s)->deliver({incoming("parent", "after growth", {to(user)})}).is_ok());
  auto check = (*s)->check();
  ASSERT_TRUE(check.is_ok()) << err(check);
  EXPECT_TRUE(check->problems.empty());
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

}  // namespace
}  // namespace tsubame::store
