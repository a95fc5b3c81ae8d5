// tests/smtpd/transcript_test.cc: golden transcripts (Postfix smtpd/*.in + *.ref style).
//
// Each tests/smtpd/transcripts/*.txt is one whole session against the Harness directory
// (harness.h). Line kinds:
//   # comment                 ignored
//   @ option value            before the first C/R line: policy mx|mx-notls|submission|
//                             submissions, max_recipients N, max_message_size N,
//                             normalize_bare_newlines, allow_plaintext_auth, max_errors N
//   C: text                   client sends text + CRLF
//   R: text                   client sends text raw (no CRLF added)
//   S: text                   the server's next line must be exactly text
//   X:                        the server must have closed the connection by now
// In C/R text, \r \n \t \\ and \xHH are escapes. Consecutive C/R lines are sent in one
// write (a pipelined group); S lines are checked after it, in order.
#include <gtest/gtest.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/smtpd/harness.h"

namespace tsubame::smtp {
namespace {

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    char e = s[++i];
    switch (e) {
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case 'x':
        if (i + 2 < s.size()) {
          out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
          i += 2;
        }
        break;
      default: out += '\\'; out += e;
    }
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find("\r\n", start);
    if (p == std::string::npos) {
      if (start < s.size()) out.push_back(s.substr(start) + "<no CRLF>");
      return out;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 2;
  }
}

void run_transcript(const std::filesystem::path& file) {
  std::ifstream in(file);
  ASSERT_TRUE(in) << file;
  ListenerPolicy policy = ListenerPolicy::mx(true);
  Options opts = testing::test_options();
  std::unique_ptr<testing::Harness> h;
  std::vector<std::string> got;   // server lines not yet matched
  std::string group;               // client bytes not yet sent
  std::string line;
  int lineno = 0;
  auto ensure = [&] {
    if (!h) {
      h = std::make_unique<testing::Harness>(policy, opts);
      for (auto& l : split_lines(h->start())) got.push_back(l);
    }
  };
  auto flush = [&] {
    ensure();
    if (group.empty()) return;
    for (auto& l : split_lines(h->talk(group))) got.push_back(l);
    group.clear();
  };
  size_t next = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const std::string where = file.filename().string() + ":" + std::to_string(lineno);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '@') {
      std::istringstream ss(line.substr(1));
      std::string key, value;
      ss >> key >> value;
      if (key == "policy") {
        if (value == "mx") policy = ListenerPolicy::mx(true);
        else if (value == "mx-notls") policy = ListenerPolicy::mx(false);
        else if (value == "submission") policy = ListenerPolicy::submission();
        else if (value == "submissions") policy = ListenerPolicy::submissions();
        else FAIL() << where << ": unknown policy " << value;
      } else if (key == "max_recipients") {
        opts.max_recipients = std::stoul(value);
      } else if (key == "max_message_size") {
        opts.max_message_size = std::stoul(value);
      } else if (key == "max_errors") {
        opts.max_errors = static_cast<unsigned>(std::stoul(value));
      } else if (key == "normalize_bare_newlines") {
        opts.normalize_bare_newlines = true;
      } else if (key == "allow_plaintext_auth") {
        opts.allow_plaintext_auth = true;
      } else {
        FAIL() << where << ": unknown option " << key;
      }
      continue;
    }
    std::string kind = line.substr(0, 2);
    std::string text = line.size() > 3 ? line.substr(3) : std::string();
    if (kind == "C:") {
      group += unescape(text) + "\r\n";
    } else if (kind == "R:") {
      group += unescape(text);
    } else if (kind == "S:") {
      flush();
      ASSERT_LT(next, got.size()) << where << ": expected \"" << text << "\", server said nothing more";
      EXPECT_EQ(got[next], text) << where;
      ++next;
    } else if (kind == "X:") {
      flush();
      EXPECT_TRUE(h->closed) << where << ": expected the connection to be closed";
    } else {
      FAIL() << where << ": bad line kind";
    }
  }
  flush();
  for (; next < got.size(); ++next) ADD_FAILURE() << file.filename() << ": unexpected server line \"" << got[next] << "\"";
}

TEST(Transcripts, AllGoldenTranscriptsPass) {
  std::filesystem::path dir = std::filesystem::path(TSUBAME_SOURCE_DIR) / "tests/smtpd/transcripts";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".txt") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.filename().string());
    run_transcript(f);
  }
}

}  // namespace
}  // namespace tsubame::smtp
