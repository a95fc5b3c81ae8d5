// tests/imapd/server_notify_test.cc: smtpd's delivery datagram wakes an IDLE session of the
// delivered user at once (imapd/server.h ServerConfig::notify_socket). The real Server on a
// loopback port and a libevent loop in a thread; the IDLE poll is set to one hour, so the
// untagged EXISTS can only come from the notification. No timing assertions: a missing
// wake-up is a read timeout (10 s), which fails the test.
#include "imapd/server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "common/crypto.h"
#include "imapd/limits.h"
#include "store/settings.h"
#include "store/store.h"
#include "tests/imapd/temp_store.h"

namespace tsubame::imap {
namespace {

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  ~Client() { ::close(fd_); }
  bool ok() const { return ok_; }
  void send(const std::string& s) { (void)!::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // One line without CRLF; "" on timeout or EOF.
  std::string line() {
    while (buf_.find("\r\n") == std::string::npos) {
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<size_t>(n));
    }
    size_t p = buf_.find("\r\n");
    std::string l = buf_.substr(0, p);
    buf_.erase(0, p + 2);
    return l;
  }
  // Lines up to and including the tagged one.
  std::string until(const std::string& tag) {
    std::string all;
    while (true) {
      std::string l = line();
      all += l + "\n";
      if (l.empty() || l.rfind(tag + " ", 0) == 0) return all;
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

void send_datagram(const std::string& path, const std::string& msg) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  (void)!::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::close(fd);
}

class ServerNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ts_.open("notify", /*plaintext_login=*/true));
    dir_ = ts_.dir;
    store_ = ts_.store.get();
    auto hash = crypto::hash_password("secret", crypto::PasswordParams{1, 1024, 1});
    ASSERT_TRUE(hash);
    auto bob = store_->add_user("bob@example.com", *hash);
    ASSERT_TRUE(bob);
    alice_ = ts_.alice;
    bob_ = bob->id;

    evthread_use_pthreads();
    base_ = event_base_new();
    ServerConfig sc;
    sc.listeners.push_back({"127.0.0.1", 0, false});
    sc.allow_plaintext_auth = true;
    sc.idle_poll_ms = 3600 * 1000;  // the poll must not be what wakes the session
    sc.notify_socket = dir_ + "/imapd.notify";
    server_ = std::make_unique<Server>(base_, *store_, std::move(sc));
    Status st = server_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    // Stopping: an event made active from the test thread (a loopbreak issued before the
    // loop runs would be lost).
    stop_ = event_new(base_, -1, 0, [](evutil_socket_t, short, void* b) {
      event_base_loopbreak(static_cast<event_base*>(b));
    }, base_);
    loop_ = std::thread([this] { event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY); });
  }
  void stop_loop() {
    if (!loop_.joinable()) return;
    event_active(stop_, EV_READ, 0);
    loop_.join();
  }
  void TearDown() override {
    stop_loop();
    if (stop_) event_free(stop_);
    server_.reset();
    if (base_) event_base_free(base_);
  }
  uint64_t deliver(uint64_t user) {
    store::IncomingMessage in;
    in.raw = "From: bob@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
    in.summary.size = in.raw.size();
    in.summary.body.body_offset = 38;
    in.summary.body.body_end = in.raw.size();
    store::DeliveryTarget t;
    t.user_id = user;
    in.targets.push_back(t);
    auto r = store_->deliver({in});
    EXPECT_TRUE(r) << r.status().to_string();
    return r ? (*r)[0].copies[0].mailbox_id : 0;
  }

  testing::TempStore ts_;  // declared first: destroyed after the server
  std::string dir_;
  store::Store* store_ = nullptr;
  uint64_t alice_ = 0, bob_ = 0;
  event_base* base_ = nullptr;
  std::unique_ptr<Server> server_;
  event* stop_ = nullptr;
  std::thread loop_;
};

TEST_F(ServerNotifyTest, DatagramWakesIdleSessionOfThatUserOnly) {
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/imapd.notify").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  Client c(server_->bound_ports().at(0));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.line().rfind("* OK", 0), 0u);
  c.send("a LOGIN alice@example.com secret\r\n");
  EXPECT_NE(c.until("a").find("a OK"), std::string::npos);
  c.send("b SELECT INBOX\r\n");
  std::string sel = c.until("b");
  ASSERT_NE(sel.find("* 0 EXISTS"), std::string::npos) << sel;
  c.send("i IDLE\r\n");
  ASSERT_EQ(c.line(), "+ idling");

  // Junk, an overlong datagram and another user's delivery do not disturb the session;
  // alice's wakes it, and only her EXISTS arrives.
  send_datagram(dir_ + "/imapd.notify", "garbage");
  send_datagram(dir_ + "/imapd.notify", "deliver x y");
  // Longer than kMaxNotifyDatagram: dropped; the server goes on.
  send_datagram(dir_ + "/imapd.notify",
                "deliver " + std::to_string(bob_) + " 1" + std::string(kMaxNotifyDatagram, ' ') + "x");
  uint64_t bob_box = deliver(bob_);
  send_datagram(dir_ + "/imapd.notify", "deliver " + std::to_string(bob_) + " " +
                                            std::to_string(bob_box));
  uint64_t box = deliver(alice_);
  send_datagram(dir_ + "/imapd.notify", "deliver " + std::to_string(alice_) + " " +
                                            std::to_string(box));
  EXPECT_EQ(c.line(), "* 1 EXISTS");
  c.send("DONE\r\n");
  EXPECT_EQ(c.line(), "i OK IDLE terminated");
}

// Writes go through the group-commit writer (imapd/writer.h): APPEND and STORE of one
// session are acknowledged after their commit, and an IDLE session of the same user learns
// of them at once (the IDLE poll is one hour here).
TEST_F(ServerNotifyTest, WritesWakeIdleSessionsOfTheSameUser) {
  Client idle(server_->bound_ports().at(0)), writer(server_->bound_ports().at(0));
  ASSERT_TRUE(idle.ok() && writer.ok());
  for (Client* c : {&idle, &writer}) {
    EXPECT_EQ(c->line().rfind("* OK", 0), 0u);
    c->send("a LOGIN alice@example.com secret\r\n");
    EXPECT_NE(c->until("a").find("a OK"), std::string::npos);
    c->send("b SELECT INBOX\r\n");
    EXPECT_NE(c->until("b").find("b OK"), std::string::npos);
  }
  idle.send("i IDLE\r\n");
  ASSERT_EQ(idle.line(), "+ idling");
  std::string msg = "From: a@example.org\r\nSubject: appended\r\n\r\nbody\r\n";
  // Pipelined behind the APPEND: the NOOP is answered after it, in order.
  writer.send("c APPEND INBOX {" + std::to_string(msg.size()) + "+}\r\n" + msg +
              "\r\nd NOOP\r\n");
  std::string out = writer.until("c");
  EXPECT_NE(out.find("* 1 EXISTS"), std::string::npos) << out;
  EXPECT_NE(out.find("c OK [APPENDUID"), std::string::npos) << out;
  EXPECT_EQ(writer.line(), "d OK NOOP completed");
  EXPECT_EQ(idle.line(), "* 1 EXISTS");
  writer.send("e STORE 1 +FLAGS (\\Flagged)\r\n");
  EXPECT_EQ(writer.until("e"), "* 1 FETCH (FLAGS (\\Flagged))\ne OK STORE completed\n");
  EXPECT_EQ(idle.line(), "* 1 FETCH (UID 1 FLAGS (\\Flagged))");
  idle.send("DONE\r\n");
  EXPECT_EQ(idle.line(), "i OK IDLE terminated");
  auto m = store_->get_message(store_->find_mailbox(alice_, "INBOX")->id, 1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->flags, uint32_t(store::kFlagged));
}

TEST_F(ServerNotifyTest, StaleSocketIsReplacedAndRemovedAtShutdown) {
  std::string path = dir_ + "/imapd.notify";
  // Destroying the server removes its socket; a new server binds over a stale one.
  stop_loop();
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(path));
  int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ::close(fd);  // a socket file left behind, as after a crash
  ServerConfig sc;
  sc.listeners.push_back({"127.0.0.1", 0, false});
  sc.notify_socket = path;
  server_ = std::make_unique<Server>(base_, *store_, std::move(sc));
  ASSERT_TRUE(server_->start().is_ok());
  // The path is a live socket again: a datagram to it is accepted (to a dead one: refused).
  int cfd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  EXPECT_EQ(::sendto(cfd, "deliver 1 1", 11, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 11)
      << std::strerror(errno);
  ::close(cfd);
}

}  // namespace
}  // namespace tsubame::imap
