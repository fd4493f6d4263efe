// The deadlines of inquiries (协查) and notices (通报): DOMAIN.md's defaults,
// and per-province rules a node's configuration may set ([deadlines] and
// [deadlines.XX0000] in node/config.h). The sending node applies the rules
// of the province that must answer and writes the deadline into the record
// (workflows/deadlines.h).
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "tongban/v1/records.pb.h"

namespace tongban::records {

// Deadlines of inquiries (协查) and notices (通报), in days from the day the
// sender recorded (China Standard Time); DOMAIN.md gives the defaults.
struct DeadlineRules {
  uint32_t urgent_days = 15;               // 紧急协查
  uint32_t normal_days = 30;               // 一般协查
  uint32_t certificate_mismatch_days = 7;  // 电子证明不符协查
  uint32_t notice_days = 30;               // 通报 needing a receipt or feedback

  // The days of an inquiry of `type` (an unspecified type is normal).
  uint32_t InquiryDays(v1::InquiryType type) const;
};

// An arrival is registered (and the certificate shown) within this many
// days of it (DOMAIN.md; some provinces use 15, which the records do not
// say).
inline constexpr int kArrivalRegistrationDays = 30;

struct Deadlines {
  DeadlineRules defaults;  // [deadlines]
  // [deadlines.XX0000]: the rules of province XX for the inquiries and
  // notices its counties must answer. Keys not given there are the
  // defaults'.
  std::map<std::string, DeadlineRules> provinces;
  // Reminders: an open item whose deadline is this close is "due"
  // (inquiry list --due, metrics).
  uint32_t remind_days = 3;

  // The rules for an item sent to county `to`.
  const DeadlineRules& For(absl::string_view to) const;
};

}  // namespace tongban::records
