#include "common/duration.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tongban {

absl::StatusOr<absl::Duration> ParseDuration(absl::string_view text) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a duration (a whole number and s, m, h or d: \"30s\", \"5m\")"));
  };
  if (text.size() < 2) return bad();
  for (char c : text) {
    if (!absl::ascii_isalnum(c)) return bad();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) || n < 0) {
    // "100ms" is the one two-letter unit.
    if (absl::EndsWith(text, "ms") && absl::SimpleAtoi(text.substr(0, text.size() - 2), &n) &&
        n >= 0) {
      return absl::Milliseconds(n);
    }
    return bad();
  }
  switch (text.back()) {
    case 's': return absl::Seconds(n);
    case 'm': return absl::Minutes(n);
    case 'h': return absl::Hours(n);
    case 'd': return absl::Hours(24 * n);
  }
  return bad();
}

}  // namespace tongban
