#include "tests/testutil/temp_dir.h"

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
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tongban::testutil
