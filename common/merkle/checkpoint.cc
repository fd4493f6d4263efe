// The checkpoint text (grammar in checkpoint.h), written and parsed here.
//   line 1  "tongban-checkpoint/v1"
//   line 2  suite     "intl" | "gm"
//   line 3  origin    6 ASCII digits
//   line 4  epoch     decimal uint64, no sign, no leading zeros ("0" itself is fine)
//   line 5  tree_size decimal uint64, same rules
//   line 6  root      64 lower-case hex
//   line 7  time      decimal microseconds, 0..INT64_MAX, same rules
//   line 8  key_id    16 lower-case hex
// Every line ends in '\n'; nothing follows line 8. There is exactly one
// encoding of each checkpoint, so the signed bytes are unambiguous.
#include "common/merkle/checkpoint.h"

#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"
#include "common/status_macros.h"

namespace tongban::merkle {
namespace {

constexpr absl::string_view kHeader = "tongban-checkpoint/v1";
constexpr size_t kLineCount = 8;
constexpr const char* kLineNames[kLineCount] = {"header",    "suite", "origin", "epoch",
                                                "tree_size", "root",  "time",   "key_id"};

absl::Status LineError(size_t line, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint line ", line + 1, " (", kLineNames[line], "): ", why));
}

absl::StatusOr<uint64_t> ParseDecimal(size_t line, absl::string_view s, uint64_t max) {
  if (s.empty()) return LineError(line, "empty");
  if (s.size() > 1 && s[0] == '0') return LineError(line, "leading zero");
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return LineError(line, "not a decimal number");
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) return LineError(line, "number out of range");
    value = value * 10 + digit;
  }
  return value;
}

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status CheckLowerHex(size_t line, absl::string_view s, size_t chars) {
  if (s.size() != chars || !IsLowerHex(s)) {
    return LineError(line, absl::StrCat("want ", chars, " lower-case hex characters"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCheckpoint(const Checkpoint& c) {
  return absl::StrCat(kHeader, "\n", crypto::SuiteName(c.suite), "\n", c.origin, "\n", c.epoch,
                      "\n", c.tree_size, "\n", HexEncode(crypto::AsStringView(c.root)), "\n",
                      c.time_micros, "\n", c.key_id, "\n");
}

absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  // A text ending in '\n' splits into the lines plus one empty tail.
  if (lines.back().empty()) {
    lines.pop_back();
  } else if (lines.size() <= kLineCount) {
    return LineError(lines.size() - 1, "missing final newline");
  }
  if (lines.size() < kLineCount) {
    return LineError(lines.size(), absl::StrCat("missing; the checkpoint has ", lines.size(),
                                                " lines, want ", kLineCount));
  }
  if (lines.size() > kLineCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint line ", kLineCount + 1, ": trailing data after the last line"));
  }
  Checkpoint c;
  if (lines[0] != kHeader) return LineError(0, absl::StrCat("want \"", kHeader, "\""));
  if (lines[1] == "intl") {
    c.suite = crypto::SuiteId::kIntl;
  } else if (lines[1] == "gm") {
    c.suite = crypto::SuiteId::kGm;
  } else {
    return LineError(1, "want \"intl\" or \"gm\"");
  }
  if (lines[2].size() != 6 || lines[2].find_first_not_of("0123456789") != absl::string_view::npos) {
    return LineError(2, "want a 6-digit node code");
  }
  c.origin = std::string(lines[2]);
  TB_ASSIGN_OR_RETURN(c.epoch, ParseDecimal(3, lines[3], std::numeric_limits<uint64_t>::max()));
  TB_ASSIGN_OR_RETURN(c.tree_size, ParseDecimal(4, lines[4], std::numeric_limits<uint64_t>::max()));
  TB_RETURN_IF_ERROR(CheckLowerHex(5, lines[5], 2 * crypto::kDigestSize));
  TB_ASSIGN_OR_RETURN(const std::string root, HexDecode(lines[5]));
  std::memcpy(c.root.data(), root.data(), c.root.size());
  TB_ASSIGN_OR_RETURN(const uint64_t time,
                      ParseDecimal(6, lines[6], std::numeric_limits<int64_t>::max()));
  c.time_micros = static_cast<int64_t>(time);
  TB_RETURN_IF_ERROR(CheckLowerHex(7, lines[7], 16));
  c.key_id = std::string(lines[7]);
  return c;
}

absl::StatusOr<SignedCheckpoint> SignCheckpoint(const Checkpoint& c, crypto::Signer& signer) {
  SignedCheckpoint sc;
  sc.body = EncodeCheckpoint(c);
  // Never sign something that does not parse back to `c` (a bad origin, a
  // negative time, a malformed key id).
  absl::StatusOr<Checkpoint> back = ParseCheckpoint(sc.body);
  if (!back.ok()) return Prefixed("cannot sign checkpoint", back.status());
  if (!(*back == c)) {
    return absl::InvalidArgumentError("cannot sign checkpoint: it does not round-trip");
  }
  TB_ASSIGN_OR_RETURN(sc.signature, signer.Sign(sc.body));
  return sc;
}

absl::StatusOr<Checkpoint> VerifyCheckpoint(const SignedCheckpoint& sc, const crypto::Suite& suite,
                                            const crypto::PublicKey& key) {
  TB_ASSIGN_OR_RETURN(Checkpoint c, ParseCheckpoint(sc.body));
  if (c.suite != suite.id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint is for suite ", crypto::SuiteName(c.suite), ", verifying with ", suite.name()));
  }
  if (key.suite() != suite.id()) {
    return absl::InvalidArgumentError(absl::StrCat("key is a ", crypto::SuiteName(key.suite()),
                                                   " key, verifying with ", suite.name()));
  }
  const std::string key_id = key.KeyId();
  if (c.key_id != key_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint names key ", c.key_id, ", verifying with key ", key_id));
  }
  TB_RETURN_IF_ERROR(
      Prefixed("checkpoint signature", suite.NewVerifier(key)->Verify(sc.body, sc.signature)));
  return c;
}

}  // namespace tongban::merkle
