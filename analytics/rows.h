// The rows of tongban.record_state (analytics/schema.sql): what one applied
// event becomes in the analytics database, as a line of COPY's text format.
//
// Personal data goes in only as far as the national platform's duty goes:
// the citizen ID and the record id as keyed hashes (HMAC with the suite's
// hash under the node's analytics secret, data_dir/analytics.key: whoever
// holds the database without the secret cannot link a row to an ID or
// recompute a key from one), region codes, days, kinds, enums and amounts.
// No name, address, free text, birth date or other ID leaves the node.
//
// What each kind puts in the generic columns:
//   kind            region          region2             day1          day2          subtype   flag
//   basics          hukou_region    -                   -             -             -         -
//   outflow         destination     -                   left_on       -             -         -
//   inflow          origin_county   previous_residence  arrived_on    registered_on -         -
//   return          from_county     to_county           effective_on  -             type      -
//   certificate     issuer          -                   valid_from    valid_to      type revoked
//   service         provider        -                   delivered_on  -             type      -
//   entitlement     delivered_by    -                   period_from   period_to     status    -
//   inquiry         to_county       -                   sent (day)    due_on        type      -
//   inquiry reply   inquiry_county  -                   replied (day) -             - matched
//   notice          to_county       -                   sent (day)    due_on        - needs_receipt
//   receipt         notice_county   -                   received      feedback      -         -
// (entitlement also fills amount_fen; ref_key is the record key of the
// inquiry a reply answers, the notice a receipt acknowledges, the
// entitlement a service delivers). A field that is unset, not a region
// code or not a real date is NULL; a payload that does not parse as a value
// of the event's kind leaves them all NULL (the row still counts the
// event). `complete` says whether the value has every field the write path
// requires (records/kinds.h; false for a payload that does not parse, NULL
// for a retraction): the completeness measure (完整率).
//
// Thread safety: free functions; PersonKeyer is immutable after Make.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"
#include "tongban/v1/event.pb.h"

namespace tongban::analytics {

// The columns in the order AppendRow writes them (for COPY's column list).
inline constexpr char kRecordStateColumns[] =
    "person_key, month, origin, epoch, seq, day, written_at, kind, record_key, operation, "
    "parents, purpose, id_findings, region, region2, day1, day2, subtype, amount_fen, flag, "
    "ref_key, complete";

// Keyed hashes of IDs and record ids under the analytics secret.
class PersonKeyer {
 public:
  PersonKeyer(crypto::SuiteId suite, std::string secret)
      : suite_(suite), secret_(std::move(secret)) {}
  // The person key as a UUID's text (the first 16 bytes of the HMAC).
  absl::StatusOr<std::string> PersonKey(absl::string_view person) const;
  // The record key: the first 8 bytes of the HMAC as a signed integer.
  absl::StatusOr<int64_t> RecordKey(absl::string_view record_id) const;
  // A fingerprint of the secret (hex, 16 characters), kept in tongban.meta
  // so that a node with another secret refuses to mix keys into the table.
  absl::StatusOr<std::string> Fingerprint() const;

 private:
  crypto::SuiteId suite_;
  std::string secret_;
};

// The first day of the month of the event's day ("2026-03-01"): the month
// partition its row goes to.
std::string MonthOf(const v1::EventBody& event);

// Appends the row of `event` (its log's epoch `epoch`) to `out` as one line
// of COPY text, ending in a newline. kInvalidArgument if the event's origin
// is not a node code.
absl::Status AppendRow(const PersonKeyer& keyer, const v1::EventBody& event, uint64_t epoch,
                       std::string* out);

}  // namespace tongban::analytics
