// The words a person reads for every enumerated value of the records: a
// token (what a command-line flag, a CSV column, a derived record id, a
// metric label or an Admin reply carries: "health-check", "answered late")
// and the Chinese and English words a clerk reads ("健康检查", "health
// check"). Clerks read Chinese first, with English as a switch, so every value
// has both. One table per enum, in the enum's number order, UNSPECIFIED first:
//
//   records::Words(v1::INQUIRY_TYPE_URGENT, Lang::kZh)   -> "紧急协查"
//   records::Words(v1::INQUIRY_TYPE_URGENT, Lang::kEn)   -> "urgent inquiry"
//   records::Token(v1::SERVICE_TYPE_HEALTH_CHECK)        -> "health-check"
//   records::FromToken<v1::ServiceType>("health-check")  -> SERVICE_TYPE_HEALTH_CHECK
//   records::WordTable<v1::ServiceType>()                -> every row, for a menu
//
// A number the table does not know (a newer peer's enum value) reads
// "未知" / "unknown" with the token "unknown".
//
// Enums with words: RecordKind (from the kind table, records/kinds.h), Sex,
// MaritalStatus, ReturnType, CertificateType, ServiceType, EntitlementStatus,
// InquiryType, Operation, Purpose, IdFinding, LinkRole, and the records' own
// Custody (records/kinds.h) and WorkflowState (records/workflow_state.h).
//
// Thread safety: constant tables, free functions.
#pragma once

#include <optional>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "records/workflow_state.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"

namespace tongban::records {

// The language a clerk reads: Chinese first, English as a switch.
enum class Lang { kZh, kEn };

// Who writes a record of a kind (DOMAIN.md, "What is exchanged"; DESIGN.md
// section 5, custody instead of multi-writer merging). The first writer of a
// record is its custodian, and only it changes the record.
enum class Custody {
  kOrigin,     // 户籍地: person basics, outflows, entitlements
  kResidence,  // 现居住地: inflow registrations, service records
  kEither,     // the county the case leaves: returns and departures
  kIssuer,     // 发证地: certificates
  kAuthor,     // whoever sends it: inquiries, replies, notices, receipts
};

// One value of an enum and its words.
struct Word {
  int value;          // the enum's number
  const char* token;  // machine-readable: flags, CSV, record ids, labels, replies
  const char* zh;     // 简体中文
  const char* en;     // English
};

// Every row of E's table, in number order. Defined for the enums above.
template <typename E>
absl::Span<const Word> WordTable();

// The row of `value`, or nullptr for a number the table does not know.
template <typename E>
const Word* FindWord(E value) {
  for (const Word& w : WordTable<E>()) {
    if (w.value == static_cast<int>(value)) return &w;
  }
  return nullptr;
}

// What a clerk reads for `value`.
template <typename E>
const char* Words(E value, Lang lang) {
  const Word* w = FindWord(value);
  if (w == nullptr) return lang == Lang::kZh ? "未知" : "unknown";
  return lang == Lang::kZh ? w->zh : w->en;
}

// The token of `value` ("unknown" for a number the table does not know).
template <typename E>
const char* Token(E value) {
  const Word* w = FindWord(value);
  return w == nullptr ? "unknown" : w->token;
}

// The value whose token is `token`, or nullopt.
template <typename E>
std::optional<E> FromToken(absl::string_view token) {
  for (const Word& w : WordTable<E>()) {
    if (token == w.token) return static_cast<E>(w.value);
  }
  return std::nullopt;
}

template <>
absl::Span<const Word> WordTable<v1::RecordKind>();
template <>
absl::Span<const Word> WordTable<v1::Sex>();
template <>
absl::Span<const Word> WordTable<v1::MaritalStatus>();
template <>
absl::Span<const Word> WordTable<v1::ReturnType>();
template <>
absl::Span<const Word> WordTable<v1::CertificateType>();
template <>
absl::Span<const Word> WordTable<v1::ServiceType>();
template <>
absl::Span<const Word> WordTable<v1::EntitlementStatus>();
template <>
absl::Span<const Word> WordTable<v1::InquiryType>();
template <>
absl::Span<const Word> WordTable<v1::Operation>();
template <>
absl::Span<const Word> WordTable<v1::Purpose>();
template <>
absl::Span<const Word> WordTable<v1::IdFinding>();
template <>
absl::Span<const Word> WordTable<v1::LinkRole>();
template <>
absl::Span<const Word> WordTable<Custody>();
template <>
absl::Span<const Word> WordTable<WorkflowState>();

}  // namespace tongban::records
