// tests/store/backup_test.cc: hot backup while another thread delivers, restore round trip,
// and restore refusing truncated, altered, foreign and unverifiable backups without touching
// the data directory.
#include "store/backup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/bytes.h"
#include "store/audit.h"
#include "store/env.h"
#include "store/tokens.h"
#include "tests/store/mail_fixture.h"

namespace tsubame::store {
namespace {

namespace fs = std::filesystem;
using testing::err;
using testing::MailTest;
using testing::TempStore;
using testing::slurp;


class BackupTest : public MailTest {
 protected:
  std::string file(const std::string& name) { return ts.dir() + "/" + name; }
  std::string data_file() { return ts.options().data_dir + "/data.mdb"; }
  void audit(const std::string& action) {
    AuditEntry e;
    e.actor = "test";
    e.action = action;
    ASSERT_TRUE(AuditLog(store()).append(e).is_ok());
  }
  uint32_t inbox_count(uint64_t user) { return box(user, "INBOX").messages; }
  // Restore must leave no temporary directory behind.
  void expect_no_temp_dirs() {
    for (auto& e : fs::directory_iterator(ts.dir()))
      EXPECT_EQ(e.path().filename().string().find(".restore-"), std::string::npos) << e.path();
  }
};

TEST_F(BackupTest, RoundTripRestoresTheBackedUpState) {
  deliver_one(alice, "before-backup");
  audit("test.before");
  std::vector<uint64_t> tokens = {11, 22};
  ASSERT_TRUE(token_learn(store(), 0, tokens, true, +1).is_ok());

  auto m = backup(store(), file("b1"));
  ASSERT_TRUE(m.is_ok()) << err(m);
  EXPECT_EQ(m->schema_version, 1u);
  EXPECT_GT(m->size, 0u);
  EXPECT_EQ(m->sha256_hex.size(), 64u);
  EXPECT_TRUE(fs::exists(backup_manifest_path(file("b1"))));
  struct stat st;
  ASSERT_EQ(::stat(file("b1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);  // the copy is as private as the store

  // Changes after the backup are undone by the restore.
  deliver_one(alice, "after-backup");
  audit("test.after");
  ASSERT_EQ(inbox_count(alice), 2u);
  ts.close();

  auto r = restore(file("b1"), ts.options());
  ASSERT_TRUE(r.is_ok()) << err(r);
  EXPECT_EQ(r->users, 3u);
  EXPECT_EQ(r->messages, 1u);
  EXPECT_EQ(r->audit_records, 1u);
  EXPECT_EQ(r->previous_file, data_file() + ".pre-restore");
  EXPECT_TRUE(fs::exists(r->previous_file));
  expect_no_temp_dirs();

  ts.open();
  EXPECT_EQ(inbox_count(alice), 1u);
  auto msgs = store().list_messages(box(alice, "INBOX").id);
  ASSERT_TRUE(msgs.is_ok());
  ASSERT_EQ(msgs->size(), 1u);
  auto raw = store().read_message(alice, box(alice, "INBOX").id, (*msgs)[0].uid);
  ASSERT_TRUE(raw.is_ok());
  EXPECT_NE(raw->find("before-backup"), std::string::npos);
  std::vector<TokenCounts> c;
  ASSERT_TRUE(token_counts(store(), 0, tokens, c).is_ok());
  EXPECT_EQ(c[0].spam, 1u);
  auto v = AuditLog(store()).verify();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->records, 1u);
  expect_consistent();
  // The restored store keeps working: UIDs continue above the restored ones.
  auto again = deliver_one(alice, "after-restore");
  EXPECT_GT(again.uid, (*msgs)[0].uid);

  // The pre-restore file is the state just before the restore (2 messages).
  ts.close();
  fs::remove(data_file());
  fs::copy_file(data_file() + ".pre-restore", data_file());
  ts.open();
  EXPECT_EQ(inbox_count(alice), 2u);
}

TEST_F(BackupTest, HotBackupWhileAnotherThreadDelivers) {
  std::atomic<bool> stop{false};
  std::atomic<int> delivered{0};
  std::thread writer([&] {
    while (!stop) {
      auto r = store().deliver({testing::incoming("hot-" + std::to_string(delivered.load()), "body",
                                                  {testing::to(bob)})});
      if (!r.is_ok()) {
        ADD_FAILURE() << err(r);
        return;
      }
      AuditEntry e;
      e.action = "test.delivered";
      if (!AuditLog(store()).append(e).is_ok()) return;
      delivered++;
    }
  });
  while (delivered < 5) std::this_thread::yield();
  auto m1 = backup(store(), file("hot1"));
  auto m2 = backup(store(), file("hot2"));
  stop = true;
  writer.join();
  ASSERT_TRUE(m1.is_ok()) << err(m1);
  ASSERT_TRUE(m2.is_ok()) << err(m2);
  ASSERT_GT(delivered.load(), 5);

  // Each copy is a consistent snapshot: it restores, checks clean and its audit chain verifies.
  for (const char* name : {"hot1", "hot2"}) {
    Options other = ts.options();
    other.data_dir = ts.dir() + "/restored-" + name;
    auto r = restore(file(name), other);
    ASSERT_TRUE(r.is_ok()) << name << ": " << err(r);
    EXPECT_GE(r->messages, 5u);
    EXPECT_LE(r->messages, uint64_t(delivered.load()));
    EXPECT_EQ(r->previous_file, "");  // there was no store there
    Options ro = other;
    ro.create = false;
    auto s = Store::open(ro);
    ASSERT_TRUE(s.is_ok()) << err(s);
    auto c = (*s)->check();
    ASSERT_TRUE(c.is_ok());
    EXPECT_TRUE(c->problems.empty());
    auto inbox = (*s)->find_mailbox(bob, "INBOX");
    ASSERT_TRUE(inbox.is_ok());
    EXPECT_EQ(inbox->messages, r->messages);
  }
  expect_consistent();
}

class RefusedRestore : public BackupTest {
 protected:
  void SetUp() override {
    BackupTest::SetUp();
    deliver_one(alice, "kept");
    auto m = backup(store(), file("good"));
    ASSERT_TRUE(m.is_ok()) << err(m);
    deliver_one(alice, "newer");  // present in the data, absent from the backup
    ts.close();
    before_ = slurp(data_file());
  }
  // The refused restore changed nothing: same bytes, no pre-restore file, store still opens.
  void expect_untouched() {
    EXPECT_EQ(slurp(data_file()), before_);
    EXPECT_FALSE(fs::exists(data_file() + ".pre-restore"));
    expect_no_temp_dirs();
    ts.open();
    EXPECT_EQ(inbox_count(alice), 2u);
  }
  std::string before_;
};

TEST_F(RefusedRestore, TruncatedFile) {
  fs::copy_file(file("good"), file("cut"));
  fs::copy_file(backup_manifest_path(file("good")), backup_manifest_path(file("cut")));
  fs::resize_file(file("cut"), fs::file_size(file("cut")) / 2);
  auto r = restore(file("cut"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, AlteredFile) {
  fs::copy_file(file("good"), file("bent"));
  fs::copy_file(backup_manifest_path(file("good")), backup_manifest_path(file("bent")));
  {
    std::fstream f(file("bent"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 100);
    f.put('\x5a');
  }
  auto r = restore(file("bent"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("checksum"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, AlteredManifest) {
  fs::copy_file(file("good"), file("m"));
  std::string text = slurp(backup_manifest_path(file("good")));
  size_t at = text.find("size ");
  text.insert(at + 5, "1");  // claims a different size
  std::ofstream(backup_manifest_path(file("m")), std::ios::binary) << text;
  auto r = restore(file("m"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  expect_untouched();
}

TEST_F(RefusedRestore, MissingManifest) {
  fs::copy_file(file("good"), file("bare"));
  auto r = restore(file("bare"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("not a Tsubame backup"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, OversizeManifest) {
  fs::copy_file(file("good"), file("big"));
  std::string text = slurp(backup_manifest_path(file("good")));
  text = std::string(kMaxManifestSize, '#') + text;
  std::ofstream(backup_manifest_path(file("big")), std::ios::binary) << text;
  auto r = restore(file("big"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("too large"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, ForeignBackup) {
  // A backup of another installation (its own master key).
  TempStore other;
  ASSERT_TRUE(other->add_domain("foreign.test").is_ok());
  ASSERT_TRUE(backup(*other, file("foreign")).is_ok());
  auto r = restore(file("foreign"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("not made by this installation"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, ArbitraryFileWithForgedLookingManifest) {
  std::ofstream(file("junk"), std::ios::binary) << std::string(8192, 'j');
  std::ofstream(backup_manifest_path(file("junk")), std::ios::binary)
      << "tsubame-backup 1\nschema 1\ncreated_ms 1\nsize 8192\nsha256 "
      << std::string(64, '0') << "\nmac " << std::string(64, '0') << "\n";
  auto r = restore(file("junk"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  expect_untouched();
}

TEST_F(RefusedRestore, BrokenAuditChainInTheBackup) {
  // A backup whose store has a tampered audit log is authentic but must not be restored.
  ts.open();
  audit("test.one");
  audit("test.two");
  ASSERT_TRUE(store().env().write([](Txn& t) { return t.del(Db::kAudit, be64(1)); }).is_ok());
  ASSERT_TRUE(backup(store(), file("badaudit")).is_ok());
  ts.close();
  before_ = slurp(data_file());
  auto r = restore(file("badaudit"), ts.options());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("audit chain"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(RefusedRestore, StoreOpenInAnotherProcess) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    auto s = Store::open(ts.options());
    char c = s.is_ok() ? '1' : '0';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  ASSERT_EQ(c, '1');
  auto r = restore(file("good"), ts.options());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("stop the daemons"), std::string::npos) << err(r);
  expect_untouched();
}

TEST_F(BackupTest, RefusesExistingDestination) {
  ASSERT_TRUE(backup(store(), file("b")).is_ok());
  auto again = backup(store(), file("b"));
  EXPECT_EQ(again.status().code(), Code::kExists);
  std::ofstream(file("c.manifest")) << "x";
  EXPECT_EQ(backup(store(), file("c")).status().code(), Code::kExists);
  EXPECT_FALSE(fs::exists(file("c")));
}

TEST_F(BackupTest, VerifyBackupChecksWithoutRestoring) {
  ASSERT_TRUE(backup(store(), file("v")).is_ok());
  auto m = verify_backup(file("v"), ts.options().key_file);
  ASSERT_TRUE(m.is_ok()) << err(m);
  EXPECT_EQ(m->size, fs::file_size(file("v")));
}

}  // namespace
}  // namespace tsubame::store
