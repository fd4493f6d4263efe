#include "storage/keys.h"

#include <cassert>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tongban::storage {

void AppendBe64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t DecodeBe64(absl::string_view in) {
  assert(in.size() >= 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

std::string LogIdKey(const LogId& log) {
  assert(log.origin.size() == kNodeCodeSize);
  std::string key = log.origin;
  AppendBe64(&key, log.epoch);
  return key;
}

std::string EventKey(const LogId& log, uint64_t seq) {
  std::string key = LogIdKey(log);
  AppendBe64(&key, seq);
  return key;
}

std::string NodeKey(const LogId& log, merkle::NodeId node) {
  std::string key = LogIdKey(log);
  key.push_back(static_cast<char>(node.level));
  AppendBe64(&key, node.index);
  return key;
}

std::string CheckpointKey(const LogId& log, uint64_t tree_size) {
  std::string key = LogIdKey(log);
  AppendBe64(&key, tree_size);
  return key;
}

std::string RecordPrefix(absl::string_view person) {
  assert(person.size() == kPersonSize);
  return std::string(person);
}

std::string RecordKey(absl::string_view person, int kind, absl::string_view record_id) {
  std::string key = RecordPrefix(person);
  key.push_back(static_cast<char>(kind));
  key.append(record_id.data(), record_id.size());
  return key;
}

bool DecodeRecordKey(absl::string_view key, RecordKeyParts* out) {
  if (key.size() < kPersonSize + 1) return false;
  out->person = key.substr(0, kPersonSize);
  out->kind = static_cast<unsigned char>(key[kPersonSize]);
  out->record_id = key.substr(kPersonSize + 1);
  return true;
}

std::string LinkKey(absl::string_view person) { return RecordPrefix(person); }

std::string NormalizedName(absl::string_view name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

std::string NameIndexPrefix(absl::string_view name, int year, int month, int day) {
  char birth[16];
  std::snprintf(birth, sizeof(birth), "%04d%02d%02d", year % 10000, month % 100, day % 100);
  std::string key = "names/";
  key.append(NormalizedName(name));
  key.push_back('\0');
  key.append(birth, 8);
  return key;
}

std::string NameIndexKey(absl::string_view name, int year, int month, int day,
                         absl::string_view person) {
  std::string key = NameIndexPrefix(name, year, month, day);
  key.append(person.data(), person.size());
  return key;
}

std::string RoutePrefix(absl::string_view peer, const LogId& log) {
  assert(peer.size() == kNodeCodeSize);
  return std::string(peer) + LogIdKey(log);
}

std::string RouteKey(absl::string_view peer, const LogId& log, uint64_t seq) {
  std::string key = RoutePrefix(peer, log);
  AppendBe64(&key, seq);
  return key;
}

std::string CursorKey(absl::string_view peer, const LogId& log) { return RoutePrefix(peer, log); }

std::string BackfillPrefix(absl::string_view peer) { return absl::StrCat("backfill/", peer, "/"); }

std::string BackfillKey(absl::string_view peer, absl::string_view person) {
  return absl::StrCat(BackfillPrefix(peer), person);
}

LogId DecodeLogId(absl::string_view key) {
  return LogId{std::string(key.substr(0, kNodeCodeSize)), DecodeBe64(key.substr(kNodeCodeSize, 8))};
}

std::string AckedPrefix(absl::string_view peer) { return absl::StrCat("acked/", peer, "/"); }

std::string AckedKey(absl::string_view peer, const LogId& log) {
  return absl::StrCat(AckedPrefix(peer), LogIdKey(log));
}

std::string HoldKey(absl::string_view peer) { return absl::StrCat("hold/", peer); }

std::string BundlePeerKey(absl::string_view peer) { return absl::StrCat("bundlepeer/", peer); }

std::string EvidencePrefix(const LogId& log) {
  return absl::StrCat("evidence/", log.origin, "/", log.epoch, "/");
}

std::string EvidenceKey(const LogId& log, int64_t detected_at_micros) {
  return absl::StrCat(EvidencePrefix(log), detected_at_micros);
}

std::string KeyRotationPrefix(absl::string_view origin) {
  return absl::StrCat("keyrot/", origin, "/");
}

std::string KeyRotationKey(const LogId& log, uint64_t seq) {
  return absl::StrCat(KeyRotationPrefix(log.origin), log.epoch, "/", seq);
}

std::string RestartKey(const LogId& log) {
  return absl::StrCat("restart/", log.origin, "/", log.epoch);
}

std::string FrozenPrefix() { return "frozen/"; }

std::string FrozenKey(const LogId& log) {
  return absl::StrCat(FrozenPrefix(), log.origin, "/", log.epoch);
}

bool DecodeFrozenKey(absl::string_view key, LogId* out) {
  if (!absl::ConsumePrefix(&key, "frozen/")) return false;
  const size_t slash = key.find('/');
  if (slash == absl::string_view::npos || slash == 0) return false;
  if (!absl::SimpleAtoi(key.substr(slash + 1), &out->epoch)) return false;
  out->origin = std::string(key.substr(0, slash));
  return true;
}

std::string StatsDirtyKey(uint64_t token, absl::string_view person) {
  std::string key(kStatsDirtyPrefix);
  AppendBe64(&key, token);
  key.append(person.data(), person.size());
  return key;
}

bool DecodeStatsDirtyKey(absl::string_view key, absl::string_view* person) {
  if (key.size() != kStatsDirtyPrefix.size() + 8 + kPersonSize ||
      !absl::StartsWith(key, kStatsDirtyPrefix)) {
    return false;
  }
  *person = key.substr(kStatsDirtyPrefix.size() + 8);
  return true;
}

std::string StatsFactsKey(absl::string_view person) { return absl::StrCat("statsfacts/", person); }

std::string StatsCounterKey(absl::string_view name) {
  return absl::StrCat(kStatsCounterPrefix, name);
}

std::string LockoutKey(absl::string_view operator_name) {
  return absl::StrCat(kLockoutPrefix, operator_name);
}

std::string AuditEntryKey(uint64_t seq) {
  std::string key = absl::StrCat(kAuditPrefix, "e/");
  AppendBe64(&key, seq);
  return key;
}

std::string AuditNodeKey(merkle::NodeId node) {
  std::string key = absl::StrCat(kAuditPrefix, "n/");
  key.push_back(static_cast<char>(node.level));
  AppendBe64(&key, node.index);
  return key;
}

std::string AuditCheckpointKey(uint64_t size) {
  std::string key = absl::StrCat(kAuditPrefix, "c/");
  AppendBe64(&key, size);
  return key;
}

std::string AuditIndexPrefix(char index, absl::string_view value) {
  assert(value.size() <= 255);
  std::string key = absl::StrCat(kAuditPrefix, absl::string_view(&index, 1), "/");
  key.push_back(static_cast<char>(value.size()));
  key.append(value.data(), value.size());
  return key;
}

std::string AuditIndexKey(char index, absl::string_view value, uint64_t seq) {
  std::string key = AuditIndexPrefix(index, value);
  AppendBe64(&key, seq);
  return key;
}

}  // namespace tongban::storage
