// The kinds of record a node carries (DOMAIN.md, "What is exchanged"), one
// row per kind: everything the code states about a kind is stated here once.
//
//   kind           name                 value case          custody    default purpose
//   person basics  person_basics        person_basics       origin     case management
//   outflow        outflow              outflow             origin     case management
//   inflow         inflow               inflow              residence  case management
//   return         return_registration  return_registration either     case management
//   certificate    certificate          certificate         issuer     certification
//   service        service              service             residence  service delivery
//   entitlement    entitlement          entitlement         origin*    entitlement
//   inquiry        inquiry              inquiry             author     inquiry
//   inquiry reply  inquiry_reply        inquiry_reply       author     inquiry
//   notice         notice               notice              author     notice
//   receipt        receipt              receipt             author     notice
//   (* the writer refuses an entitlement from a node that is not the
//      person's origin; the other kinds' custodian is their first writer)
//
// Each row also lists the fields the write path requires (validation names
// them in its messages, statistics count records that have them all as
// complete) and the key fields a record's id is derived from when the clerk
// gives none (tongbanctl's record commands, the CSV import), so the same
// facts written twice address the same record:
//
//   person_basics        "basics"                       (one per person)
//   outflow              "out-" destination "-" left_on
//   inflow               "in-" arrived_on
//   return_registration  "return-" effective_on
//   certificate          "cert-" number
//   service              "svc-" type token "-" delivered_on, or for an
//                        entitlement delivery "delivery-" entitlement "-" delivered_on
//   entitlement          "ent-" programme
//   inquiry              "inq-" to_county "-" unix seconds sent
//   inquiry_reply        "reply-" inquiry_record_id
//   notice               "notice-" to_county "-" unix seconds sent
//   receipt              "receipt-" notice_record_id
// (dates as YYYY-MM-DD). A record id is 1 to 128 of A-Z a-z 0-9 . _ : -.
//
// Thread safety: constant tables, free functions.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "records/words.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"

namespace tongban::records {

// A field the write path requires of a kind.
struct RequiredField {
  const char* path;  // as validation names it: "inflow.arrived_on"
  // Whether `value` (REQUIRES: holding the row's value case) has it.
  bool (*present)(const v1::RecordValue& value);
};

struct KindInfo {
  v1::RecordKind kind;
  const char* name;  // in messages, statistics and metrics: "person_basics"
  v1::RecordValue::ValueCase value_case;
  const char* zh;  // 个人基本信息
  const char* en;  // person basics
  Custody custody;
  // The writer refuses an upsert from a node that is not the person's
  // origin (when an origin is linked): entitlements follow the person from
  // the origin and no one else sets them.
  bool origin_writes_only;
  v1::Purpose default_purpose;
  absl::Span<const RequiredField> required;
  // The value's fields its derived record id is made of (above); empty for
  // person basics (one per person).
  absl::Span<const char* const> key_fields;
};

// Every kind, in RecordKind number order.
absl::Span<const KindInfo> AllKinds();
// The row of `kind`, or nullptr for a kind this node does not know.
const KindInfo* FindKind(v1::RecordKind kind);
// The row whose name is `name`, or nullptr.
const KindInfo* FindKindByName(absl::string_view name);

// "person_basics", ...; "unknown" for a kind the table does not know.
const char* KindName(v1::RecordKind kind);
// The RecordValue case that carries `kind`; VALUE_NOT_SET for an unknown kind.
v1::RecordValue::ValueCase ValueCaseOf(v1::RecordKind kind);
// The purpose of disclosure a write of `kind` states when the clerk names
// none; case management for an unknown kind.
v1::Purpose DefaultPurpose(v1::RecordKind kind);

// The first required field of `kind` that `value` lacks (its path), or
// nullptr when it has them all. REQUIRES: value holds ValueCaseOf(kind).
const char* MissingRequiredField(v1::RecordKind kind, const v1::RecordValue& value);
// Whether `value` holds a known kind's case and every field that kind
// requires (presence only: the validity of values is validation's check).
bool RequiredFieldsPresent(const v1::RecordValue& value);

// Record ids: 1 to kMaxRecordIdSize of A-Z a-z 0-9 . _ : -, unique per
// (person, kind).
inline constexpr size_t kMaxRecordIdSize = 128;
bool ValidRecordId(absl::string_view id);
// OK, or kInvalidArgument "record_id: must be 1 to 128 characters of ...".
absl::Status CheckRecordId(absl::string_view id);

// The id a record of `kind` with `value` gets when none is given (the
// grammar above); `now` names inquiries and notices, which have no key
// field. Empty when the value lacks a key field's value (a service of an
// unknown type); the result may still fail ValidRecordId when a key field
// holds free text (a certificate number with a space), which callers check.
std::string DeriveRecordId(v1::RecordKind kind, const v1::RecordValue& value, absl::Time now);

}  // namespace tongban::records
