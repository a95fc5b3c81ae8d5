// tests/filter/default_rules_fixture.h: a test suite over the shipped rule set
// (conf/rules), compiled once per suite with no cache directory (a real compile), as the
// filter, cross-validation and trait-rule tests use it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "filter/filter.h"

namespace tsubame::filter::testing {

inline const std::string kDefaultRules = std::string(TSUBAME_SOURCE_DIR) + "/conf/rules";

class DefaultRulesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto f = Filter::open({kDefaultRules, {}, nullptr, {}, {}, {}});
    ASSERT_TRUE(f) << f.status().message();
    filter_ = f.value().release();
  }
  static void TearDownTestSuite() {
    delete filter_;
    filter_ = nullptr;
  }
  static inline Filter* filter_ = nullptr;
};

}  // namespace tsubame::filter::testing
