// Test helpers: a unique temporary folder per test, and Status asserts
// (Debian's Abseil has no status_matchers.h).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace tongban::testutil {

// A fresh folder under testing::TempDir(), removed with its contents by the
// destructor (kept, for a failed test, when TB_KEEP_FAILED_TEMP=1).
class ScopedTempDir {
 public:
  ScopedTempDir();
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace tongban::testutil

#define TB_ASSERT_OK(expr)                                            \
  do {                                                                \
    const ::absl::Status tb_s_ = ::tongban::testutil::ToStatus(expr); \
    ASSERT_TRUE(tb_s_.ok()) << #expr << ": " << tb_s_;                \
  } while (false)
#define TB_EXPECT_OK(expr)                                            \
  do {                                                                \
    const ::absl::Status tb_s_ = ::tongban::testutil::ToStatus(expr); \
    EXPECT_TRUE(tb_s_.ok()) << #expr << ": " << tb_s_;                \
  } while (false)
#define TB_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  TB_ASSERT_OK_AND_ASSIGN_IMPL_(TB_TCONCAT_(tb_sor_, __LINE__), lhs, expr)
#define TB_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)     \
  auto tmp = (expr);                                      \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status(); \
  lhs = std::move(tmp).value()
#define TB_TCONCAT_(a, b) TB_TCONCAT_INNER_(a, b)
#define TB_TCONCAT_INNER_(a, b) a##b

namespace tongban::testutil {
inline absl::Status ToStatus(const absl::Status& s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace tongban::testutil
