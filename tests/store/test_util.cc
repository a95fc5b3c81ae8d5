#include "tests/store/test_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace tsubame::store::testing {

TempStore::TempStore() {
  char tmpl[] = "/tmp/tsubame-store-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  open();
}

TempStore::~TempStore() {
  store_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

Options TempStore::options() const {
  Options o;
  o.data_dir = dir_ + "/data";
  o.key_file = dir_ + "/master.key";
  o.create = true;
  return o;
}

Store& TempStore::open() {
  store_.reset();
  auto s = Store::open(options());
  if (!s.is_ok()) {
    ADD_FAILURE() << "open store: " << s.status().to_string();
    abort();
  }
  store_ = std::move(s.value());
  return *store_;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace tsubame::store::testing
