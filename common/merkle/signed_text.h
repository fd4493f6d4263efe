// The parts every signed text of common/merkle shares (restart records, key
// rotations): a fixed number of lines, each ending in '\n', a header line,
// the suite and the origin. Internal to common/merkle.
//
// Thread safety: free functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"

namespace tongban::merkle::signed_text {

inline bool IsDigits(absl::string_view s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789") == absl::string_view::npos;
}

inline bool IsKeyId(absl::string_view s) {
  return s.size() == 16 && s.find_first_not_of("0123456789abcdef") == absl::string_view::npos;
}

// The first three lines, read.
struct Head {
  std::vector<absl::string_view> lines;  // `count` lines and a last empty one
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string origin;
};

// Splits `text` into `count` lines and checks line 1 (`header`), line 2 (the
// suite) and line 3 (a 6-digit origin). kInvalidArgument "<what>: line N ...".
inline absl::StatusOr<Head> ParseHead(absl::string_view text, absl::string_view header,
                                      size_t count, absl::string_view what) {
  auto invalid = [what](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
  };
  Head h;
  h.lines = absl::StrSplit(text, '\n');
  if (h.lines.size() != count + 1 || !h.lines.back().empty()) {
    return invalid(absl::StrCat("want ", count, " lines, each ending in a newline"));
  }
  if (h.lines[0] != header) return invalid(absl::StrCat("line 1: want \"", header, "\""));
  if (h.lines[1] == "intl") {
    h.suite = crypto::SuiteId::kIntl;
  } else if (h.lines[1] == "gm") {
    h.suite = crypto::SuiteId::kGm;
  } else {
    return invalid("line 2 (suite): want \"intl\" or \"gm\"");
  }
  if (!IsDigits(h.lines[2], 6)) return invalid("line 3 (origin): want a 6-digit node code");
  h.origin = std::string(h.lines[2]);
  return h;
}

}  // namespace tongban::merkle::signed_text
