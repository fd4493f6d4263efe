#include "analytics/rows.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/kdf.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "records/kinds.h"
#include "tongban/v1/records.pb.h"

namespace tongban::analytics {
namespace {

constexpr absl::string_view kNull = "\\N";
// 9999-12-30 00:00:00 UTC: the last stamp whose day is a four-digit year in
// China Standard Time.
constexpr int64_t kMaxMicros = 253402128000LL * 1000000;

// Domain separation of the three uses of the secret.
constexpr absl::string_view kPersonDomain("tongban analytics person\0", 25);
constexpr absl::string_view kRecordDomain("tongban analytics record\0", 25);
constexpr absl::string_view kFingerprintDomain("tongban analytics fingerprint\0", 30);

// A 6-digit region code as an integer's text, else NULL.
std::string Region(absl::string_view code) {
  if (code.size() != 6) return std::string(kNull);
  for (char c : code) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::string(kNull);
  }
  int value = 0;
  if (!absl::SimpleAtoi(code, &value)) return std::string(kNull);
  return absl::StrCat(value);
}

std::string DayText(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

// A real calendar date as text, else NULL.
std::string Day(const v1::Date& d) {
  if (d.year() < 1 || d.year() > 9999) return std::string(kNull);
  const absl::CivilDay day(d.year(), d.month(), d.day());
  if (day.month() != d.month() || day.day() != d.day()) return std::string(kNull);
  return DayText(day);
}

// The China Standard Time day of a time stamp, else NULL (unset: 0).
std::string DayOfMicros(int64_t micros) {
  if (micros <= 0) return std::string(kNull);
  return DayText(records::ChinaDayOfMicros(micros));
}

// The kind-specific columns: region, region2, day1, day2, subtype,
// amount_fen, flag.
struct KindColumns {
  std::string region{kNull}, region2{kNull}, day1{kNull}, day2{kNull}, subtype{kNull},
      amount{kNull}, flag{kNull};
  std::string ref;  // the record id referred to; "" for none
};

std::string Bool(bool b) { return b ? "t" : "f"; }

KindColumns ColumnsOf(const v1::RecordValue& v) {
  KindColumns c;
  switch (v.value_case()) {
    case v1::RecordValue::kPersonBasics: c.region = Region(v.person_basics().hukou_region()); break;
    case v1::RecordValue::kOutflow:
      c.region = Region(v.outflow().destination_county());
      c.day1 = Day(v.outflow().left_on());
      break;
    case v1::RecordValue::kInflow:
      c.region = Region(v.inflow().origin_county());
      c.region2 = Region(v.inflow().previous_residence());
      c.day1 = Day(v.inflow().arrived_on());
      c.day2 = Day(v.inflow().registered_on());
      break;
    case v1::RecordValue::kReturnRegistration:
      c.region = Region(v.return_registration().from_county());
      c.region2 = Region(v.return_registration().to_county());
      c.day1 = Day(v.return_registration().effective_on());
      c.subtype = absl::StrCat(v.return_registration().type());
      break;
    case v1::RecordValue::kCertificate:
      c.region = Region(v.certificate().issuer());
      c.day1 = Day(v.certificate().valid_from());
      c.day2 = Day(v.certificate().valid_to());
      c.subtype = absl::StrCat(v.certificate().type());
      c.flag = Bool(v.certificate().revoked());
      break;
    case v1::RecordValue::kService:
      c.region = Region(v.service().provider_county());
      c.day1 = Day(v.service().delivered_on());
      c.subtype = absl::StrCat(v.service().type());
      c.ref = v.service().entitlement_record_id();
      break;
    case v1::RecordValue::kEntitlement:
      c.region = Region(v.entitlement().delivered_by());
      c.day1 = Day(v.entitlement().period_from());
      c.day2 = Day(v.entitlement().period_to());
      c.subtype = absl::StrCat(v.entitlement().status());
      c.amount = absl::StrCat(v.entitlement().amount_fen());
      break;
    case v1::RecordValue::kInquiry:
      c.region = Region(v.inquiry().to_county());
      c.day1 = DayOfMicros(v.inquiry().sent_at_micros());
      c.day2 = Day(v.inquiry().due_on());
      c.subtype = absl::StrCat(v.inquiry().type());
      break;
    case v1::RecordValue::kInquiryReply:
      c.region = Region(v.inquiry_reply().inquiry_county());
      c.day1 = DayOfMicros(v.inquiry_reply().replied_at_micros());
      c.flag = Bool(v.inquiry_reply().matched());
      c.ref = v.inquiry_reply().inquiry_record_id();
      break;
    case v1::RecordValue::kNotice:
      c.region = Region(v.notice().to_county());
      c.day1 = DayOfMicros(v.notice().sent_at_micros());
      c.day2 = Day(v.notice().due_on());
      c.flag = Bool(v.notice().needs_receipt());
      break;
    case v1::RecordValue::kReceipt:
      c.region = Region(v.receipt().notice_county());
      c.day1 = DayOfMicros(v.receipt().received_at_micros());
      c.day2 = DayOfMicros(v.receipt().feedback_at_micros());
      c.ref = v.receipt().notice_record_id();
      break;
    case v1::RecordValue::VALUE_NOT_SET: break;
  }
  return c;
}

std::string Uuid(absl::string_view bytes16) {
  const std::string h = HexEncode(bytes16);
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                      h.substr(16, 4), "-", h.substr(20, 12));
}

}  // namespace

absl::StatusOr<std::string> PersonKeyer::PersonKey(absl::string_view person) const {
  TB_ASSIGN_OR_RETURN(std::string mac,
                      crypto::Hmac(suite_, secret_, absl::StrCat(kPersonDomain, person)));
  return Uuid(absl::string_view(mac).substr(0, 16));
}

absl::StatusOr<int64_t> PersonKeyer::RecordKey(absl::string_view record_id) const {
  TB_ASSIGN_OR_RETURN(std::string mac,
                      crypto::Hmac(suite_, secret_, absl::StrCat(kRecordDomain, record_id)));
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(mac[i]);
  return static_cast<int64_t>(v);
}

absl::StatusOr<std::string> PersonKeyer::Fingerprint() const {
  TB_ASSIGN_OR_RETURN(std::string mac, crypto::Hmac(suite_, secret_, kFingerprintDomain));
  return HexEncode(absl::string_view(mac).substr(0, 8));
}

std::string MonthOf(const v1::EventBody& event) {
  const absl::CivilDay day =
      records::ChinaDayOfMicros(std::clamp<int64_t>(event.hlc().physical_micros(), 0, kMaxMicros));
  return DayText(absl::CivilDay(absl::CivilMonth(day)));
}

absl::Status AppendRow(const PersonKeyer& keyer, const v1::EventBody& event, uint64_t epoch,
                       std::string* out) {
  const std::string origin = Region(event.origin());
  if (origin == kNull) {
    return absl::InvalidArgumentError(absl::StrCat("analytics: event of origin \"",
                                                   absl::CHexEscape(event.origin().substr(0, 16)),
                                                   "\" (not a node code) at seq ", event.seq()));
  }
  TB_ASSIGN_OR_RETURN(std::string person, keyer.PersonKey(event.person()));
  TB_ASSIGN_OR_RETURN(int64_t record_key, keyer.RecordKey(event.record_id()));
  // The kind's columns come from a value of the event's own kind only (as
  // the node's statistics read it); `complete` is NULL for a retraction,
  // false for a payload that is not such a value.
  KindColumns c;
  std::string complete(kNull);
  if (event.operation() != v1::OPERATION_RETRACT) {
    v1::RecordValue value;
    const bool parsed = value.ParseFromString(event.payload()) &&
                        value.value_case() == records::ValueCaseOf(event.kind());
    if (parsed) c = ColumnsOf(value);
    complete = Bool(parsed && records::MissingRequiredField(event.kind(), value) == nullptr);
  }
  // A stamp outside 1970..9999 (a hostile or broken clock) is kept at the
  // nearest end, so that the row's dates stay what PostgreSQL reads.
  const int64_t micros = std::clamp<int64_t>(event.hlc().physical_micros(), 0, kMaxMicros);
  const absl::CivilDay day = records::ChinaDayOfMicros(micros);
  absl::StrAppend(
      out, person, "\t", MonthOf(event), "\t", origin, "\t", epoch, "\t", event.seq(), "\t",
      DayText(day), "\t",
      absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(micros), absl::UTCTimeZone()),
      "\t");
  absl::StrAppend(out, static_cast<int>(event.kind()), "\t", record_key, "\t",
                  static_cast<int>(event.operation()), "\t", event.parents_size(), "\t",
                  static_cast<int>(event.purpose()), "\t", event.id_findings_size(), "\t");
  absl::StrAppend(out, c.region, "\t", c.region2, "\t", c.day1, "\t", c.day2, "\t", c.subtype, "\t",
                  c.amount, "\t", c.flag, "\t");
  if (c.ref.empty()) {
    absl::StrAppend(out, kNull, "\t");
  } else {
    TB_ASSIGN_OR_RETURN(int64_t ref, keyer.RecordKey(c.ref));
    absl::StrAppend(out, ref, "\t");
  }
  absl::StrAppend(out, complete, "\n");
  return absl::OkStatus();
}

}  // namespace tongban::analytics
