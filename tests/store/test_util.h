// tests/store/test_util.h: a fresh store in a temporary directory, removed afterwards.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace tsubame::store::testing {

// A temporary directory holding data/ and master.key; deleted by the destructor.
class TempStore {
 public:
  TempStore();
  ~TempStore();
  // (Re)opens the store; the previous Store object must have been closed (reset()).
  Store& open();
  void close() { store_.reset(); }
  Store& operator*() { return *store_; }
  Store* operator->() { return store_.get(); }
  Options options() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<Store> store_;
};

// A file's bytes ("" when it cannot be read): the data file, to show what is not in it.
std::string slurp(const std::string& path);

}  // namespace tsubame::store::testing
