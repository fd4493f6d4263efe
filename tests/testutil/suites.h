// Runs a TEST_P fixture parameterised by crypto::SuiteId under both suites,
// with readable test names (".../intl", ".../gm").
#pragma once

#include <string>

#include "common/crypto/suite.h"
#include "gtest/gtest.h"

namespace tongban::testutil {

struct SuiteParamName {
  std::string operator()(const testing::TestParamInfo<crypto::SuiteId>& info) const {
    return std::string(crypto::SuiteName(info.param));
  }
};

}  // namespace tongban::testutil

#define TB_INSTANTIATE_FOR_BOTH_SUITES(fixture)                                            \
  INSTANTIATE_TEST_SUITE_P(                                                                \
      BothSuites, fixture,                                                                 \
      testing::Values(::tongban::crypto::SuiteId::kIntl, ::tongban::crypto::SuiteId::kGm), \
      ::tongban::testutil::SuiteParamName())
