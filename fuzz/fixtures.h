// Fixed inputs shared by the fuzz targets and their seed generator
// (fuzz/make_seeds.cc): keys made from fixed raw bytes, so that a seed
// signed once stays valid for every later run of a target.
//
// Thread safety: plain functions; the keys are immutable once made.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "common/crypto/suite.h"
#include "common/log.h"
#include "google/protobuf/stubs/logging.h"

namespace tongban::fuzz {

// Protobuf logs an error for every string field that is not UTF-8, which
// fuzzed messages are all the time, and the store and writer log every open
// at INFO: both silenced in every target that includes this file (the parse
// still fails, which is what the code sees; warnings still show).
inline const bool kQuiet =
    (google::protobuf::SetLogHandler(nullptr), SetMinLogLevel(LogLevel::kWarning), true);

// The key of `role` (one byte that names it) under `suite`: the same key in
// every process. Aborts if the suite refuses the raw bytes (a broken build).
inline std::unique_ptr<crypto::PrivateKey> FixedKey(crypto::SuiteId suite, char role) {
  std::string raw(32, role);
  raw[0] = 0x01;  // keeps the SM2 scalar below the group order
  auto key = crypto::GetSuite(suite).PrivateKeyFromRaw(raw);
  if (!key.ok()) abort();
  return *std::move(key);
}

inline constexpr char kRootRole = 'r';
inline constexpr char kWitnessRole = 'w';
inline constexpr char kOriginRole = 'o';
inline constexpr char kNationalRole = 'n';

// The suites, indexed by the input's first byte.
inline crypto::SuiteId SuiteOf(uint8_t b) {
  return b % 2 == 0 ? crypto::SuiteId::kIntl : crypto::SuiteId::kGm;
}

// A fresh folder under $TMPDIR (or /tmp) for one input's store, removed
// with everything in it when the object goes.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/tongban-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A fixed storage key of `size` bytes (the store's encryption at rest).
inline std::string FixedStorageKey(size_t size) { return std::string(size, 'k'); }

}  // namespace tongban::fuzz
