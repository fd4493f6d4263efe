// Key encodings of the node's RocksDB, one column family per index.
//
//   column family  key                                   value
//   "default"      "meta/" name                          bytes (format, suite, node)
//   "log"          log_id | seq                          EventBody bytes, exactly as signed
//   "tree"         log_id | level:u8 | index:be64        32-byte Merkle node (perfect subtree)
//   "checkpoints"  log_id | tree_size:be64               SignedCheckpoint
//   "records"      person:18 | kind:u8 | record_id       RecordState
//   "links"        person:18 | node:6                    PersonLink
//   "routes"       peer:6 | log_id | seq                 "" (the event is for that peer)
//   "cursors"      peer:6 | log_id                       cursor bytes (sync layer)
//   "counters"     name                                  u64, big-endian
//
//   log_id := origin:6 ASCII digits | epoch:be64
//   seq    := be64, so bytewise order is numeric order
// Changing any of this changes the disk format: bump kFormatVersion.
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/merkle/tree.h"

namespace tongban::storage {

inline constexpr int kFormatVersion = 1;

// An origin's log within one epoch.
struct LogId {
  std::string origin;  // 6-digit node code
  uint64_t epoch = 1;
  friend bool operator==(const LogId&, const LogId&) = default;
};

inline constexpr size_t kLogIdSize = 14;
inline constexpr size_t kPersonSize = 18;
inline constexpr size_t kNodeCodeSize = 6;

void AppendBe64(std::string* out, uint64_t v);
uint64_t DecodeBe64(absl::string_view in);  // REQUIRES: in.size() >= 8

std::string LogIdKey(const LogId& log);
std::string EventKey(const LogId& log, uint64_t seq);
std::string NodeKey(const LogId& log, merkle::NodeId node);
std::string CheckpointKey(const LogId& log, uint64_t tree_size);
std::string RecordPrefix(absl::string_view person);
std::string RecordKey(absl::string_view person, int kind,
                      absl::string_view record_id);
std::string LinkKey(absl::string_view person, absl::string_view node);
std::string RoutePrefix(absl::string_view peer, const LogId& log);
std::string RouteKey(absl::string_view peer, const LogId& log, uint64_t seq);
std::string CursorKey(absl::string_view peer, const LogId& log);

}  // namespace tongban::storage
