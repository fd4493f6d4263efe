#include "tests/testutil/temp_dir.h"

#include <stdio.h>
#include <stdlib.h>

#include <filesystem>

namespace tongban::testutil {

ScopedTempDir::ScopedTempDir() {
  std::string tmpl = testing::TempDir();
  if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
  tmpl += "tongban-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
  }
  path_ = tmpl;
}

ScopedTempDir::~ScopedTempDir() {
  // TB_KEEP_FAILED_TEMP=1 keeps the folder of a failed test (its nodes'
  // logs and stores) for a post-mortem.
  const char* keep = ::getenv("TB_KEEP_FAILED_TEMP");
  const testing::TestInfo* test = testing::UnitTest::GetInstance()->current_test_info();
  if (keep != nullptr && keep[0] == '1' && test != nullptr && test->result()->Failed()) {
    fprintf(stderr, "kept %s for the failed test\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tongban::testutil
