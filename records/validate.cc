#include "records/validate.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "common/status_macros.h"

namespace tongban::records {
namespace {

constexpr size_t kMaxText = 4096;  // bytes of any free-text field
constexpr size_t kMaxShortText = 256;

absl::Status Invalid(const char* field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

bool IsSet(const v1::Date& d) { return d.year() != 0 || d.month() != 0 || d.day() != 0; }

absl::Status RequireDate(const char* field, const v1::Date& d, const absl::CivilDay* not_after) {
  if (!IsSet(d)) return Invalid(field, "missing");
  return ValidateDate(field, d, not_after);
}

absl::Status OptionalDate(const char* field, const v1::Date& d, const absl::CivilDay* not_after) {
  if (!IsSet(d)) return absl::OkStatus();
  return ValidateDate(field, d, not_after);
}

absl::CivilDay ToDay(const v1::Date& d) { return absl::CivilDay(d.year(), d.month(), d.day()); }

absl::Status NotBefore(const char* later_field, const v1::Date& later, const char* earlier_field,
                       const v1::Date& earlier) {
  if (IsSet(later) && IsSet(earlier) && ToDay(later) < ToDay(earlier)) {
    return Invalid(later_field, absl::StrCat("is before ", earlier_field));
  }
  return absl::OkStatus();
}

absl::Status RequireText(const char* field, const std::string& s, size_t max = kMaxShortText) {
  if (s.empty()) return Invalid(field, "missing");
  if (s.size() > max) {
    return Invalid(field, absl::StrCat(s.size(), " bytes, at most ", max));
  }
  return absl::OkStatus();
}

absl::Status OptionalText(const char* field, const std::string& s, size_t max = kMaxShortText) {
  if (s.size() > max) {
    return Invalid(field, absl::StrCat(s.size(), " bytes, at most ", max));
  }
  return absl::OkStatus();
}

absl::Status RequireCounty(const char* field, const std::string& code) {
  if (code.empty()) return Invalid(field, "missing");
  return Prefixed(field, ids::ValidateCurrentCountyCode(code));
}

absl::Status OptionalCounty(const char* field, const std::string& code) {
  if (code.empty()) return absl::OkStatus();
  return Prefixed(field, ids::ValidateCurrentCountyCode(code));
}

absl::Status OptionalCitizenId(const char* field, const std::string& id, absl::CivilDay today) {
  if (id.empty()) return absl::OkStatus();
  return Prefixed(field, ids::CheckCitizenId(id, ids::Sex::kUnspecified, today).status());
}

template <typename Enum>
absl::Status RequireEnum(const char* field, Enum value) {
  if (static_cast<int>(value) == 0) return Invalid(field, "missing");
  return absl::OkStatus();
}

absl::Status ValidatePersonBasics(const v1::PersonBasics& p, absl::CivilDay today) {
  TB_RETURN_IF_ERROR(RequireText("person_basics.name", p.name()));
  TB_RETURN_IF_ERROR(RequireEnum("person_basics.sex", p.sex()));
  TB_RETURN_IF_ERROR(RequireDate("person_basics.birth_date", p.birth_date(), &today));
  TB_RETURN_IF_ERROR(RequireCounty("person_basics.hukou_region", p.hukou_region()));
  TB_RETURN_IF_ERROR(OptionalText("person_basics.hukou_address", p.hukou_address(), kMaxText));
  TB_RETURN_IF_ERROR(
      OptionalCitizenId("person_basics.spouse_citizen_id", p.spouse_citizen_id(), today));
  TB_RETURN_IF_ERROR(OptionalText("person_basics.spouse_name", p.spouse_name()));
  for (const v1::Child& c : p.children()) {
    TB_RETURN_IF_ERROR(
        OptionalCitizenId("person_basics.children.citizen_id", c.citizen_id(), today));
    TB_RETURN_IF_ERROR(RequireText("person_basics.children.name", c.name()));
    TB_RETURN_IF_ERROR(RequireDate("person_basics.children.birth_date", c.birth_date(), &today));
  }
  return absl::OkStatus();
}

absl::Status ValidateValue(const v1::RecordValue& v, absl::CivilDay today) {
  switch (v.value_case()) {
    case v1::RecordValue::kPersonBasics: return ValidatePersonBasics(v.person_basics(), today);
    case v1::RecordValue::kOutflow: {
      const auto& o = v.outflow();
      TB_RETURN_IF_ERROR(RequireCounty("outflow.destination_county", o.destination_county()));
      TB_RETURN_IF_ERROR(RequireDate("outflow.left_on", o.left_on(), &today));
      return OptionalText("outflow.reason", o.reason());
    }
    case v1::RecordValue::kInflow: {
      const auto& i = v.inflow();
      TB_RETURN_IF_ERROR(RequireCounty("inflow.origin_county", i.origin_county()));
      TB_RETURN_IF_ERROR(OptionalCounty("inflow.previous_residence", i.previous_residence()));
      TB_RETURN_IF_ERROR(RequireDate("inflow.arrived_on", i.arrived_on(), &today));
      TB_RETURN_IF_ERROR(RequireDate("inflow.registered_on", i.registered_on(), &today));
      TB_RETURN_IF_ERROR(NotBefore("inflow.registered_on", i.registered_on(), "inflow.arrived_on",
                                   i.arrived_on()));
      TB_RETURN_IF_ERROR(RequireText("inflow.address", i.address(), kMaxText));
      return OptionalText("inflow.employer", i.employer());
    }
    case v1::RecordValue::kReturnRegistration: {
      const auto& r = v.return_registration();
      TB_RETURN_IF_ERROR(RequireEnum("return_registration.type", r.type()));
      TB_RETURN_IF_ERROR(RequireDate("return_registration.effective_on", r.effective_on(), &today));
      TB_RETURN_IF_ERROR(OptionalCounty("return_registration.from_county", r.from_county()));
      return OptionalCounty("return_registration.to_county", r.to_county());
    }
    case v1::RecordValue::kCertificate: {
      const auto& c = v.certificate();
      TB_RETURN_IF_ERROR(RequireEnum("certificate.type", c.type()));
      TB_RETURN_IF_ERROR(RequireText("certificate.number", c.number()));
      TB_RETURN_IF_ERROR(RequireCounty("certificate.issuer", c.issuer()));
      TB_RETURN_IF_ERROR(RequireDate("certificate.valid_from", c.valid_from(), nullptr));
      TB_RETURN_IF_ERROR(RequireDate("certificate.valid_to", c.valid_to(), nullptr));
      TB_RETURN_IF_ERROR(NotBefore("certificate.valid_to", c.valid_to(), "certificate.valid_from",
                                   c.valid_from()));
      for (const auto& [key, value] : c.attested_facts()) {
        TB_RETURN_IF_ERROR(RequireText("certificate.attested_facts key", key));
        TB_RETURN_IF_ERROR(OptionalText("certificate.attested_facts value", value));
      }
      return OptionalText("certificate.supersedes", c.supersedes());
    }
    case v1::RecordValue::kService: {
      const auto& s = v.service();
      TB_RETURN_IF_ERROR(RequireEnum("service.type", s.type()));
      TB_RETURN_IF_ERROR(RequireDate("service.delivered_on", s.delivered_on(), &today));
      TB_RETURN_IF_ERROR(RequireCounty("service.provider_county", s.provider_county()));
      TB_RETURN_IF_ERROR(OptionalText("service.period", s.period()));
      TB_RETURN_IF_ERROR(
          OptionalCitizenId("service.beneficiary_citizen_id", s.beneficiary_citizen_id(), today));
      if (s.type() == v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY) {
        TB_RETURN_IF_ERROR(RequireText("service.entitlement_record_id", s.entitlement_record_id()));
      } else if (!s.entitlement_record_id().empty()) {
        return Invalid("service.entitlement_record_id",
                       "only an entitlement delivery names an entitlement");
      }
      return OptionalText("service.notes", s.notes(), kMaxText);
    }
    case v1::RecordValue::kEntitlement: {
      const auto& e = v.entitlement();
      TB_RETURN_IF_ERROR(RequireText("entitlement.programme", e.programme()));
      TB_RETURN_IF_ERROR(RequireEnum("entitlement.status", e.status()));
      if (e.amount_fen() < 0) return Invalid("entitlement.amount_fen", "negative");
      TB_RETURN_IF_ERROR(OptionalDate("entitlement.period_from", e.period_from(), nullptr));
      TB_RETURN_IF_ERROR(OptionalDate("entitlement.period_to", e.period_to(), nullptr));
      TB_RETURN_IF_ERROR(NotBefore("entitlement.period_to", e.period_to(),
                                   "entitlement.period_from", e.period_from()));
      return OptionalCounty("entitlement.delivered_by", e.delivered_by());
    }
    case v1::RecordValue::kInquiry: {
      const auto& q = v.inquiry();
      TB_RETURN_IF_ERROR(RequireEnum("inquiry.type", q.type()));
      TB_RETURN_IF_ERROR(RequireCounty("inquiry.to_county", q.to_county()));
      TB_RETURN_IF_ERROR(RequireText("inquiry.question", q.question(), kMaxText));
      return OptionalDate("inquiry.due_on", q.due_on(), nullptr);
    }
    case v1::RecordValue::kInquiryReply: {
      const auto& r = v.inquiry_reply();
      TB_RETURN_IF_ERROR(RequireText("inquiry_reply.inquiry_record_id", r.inquiry_record_id()));
      TB_RETURN_IF_ERROR(RequireCounty("inquiry_reply.inquiry_county", r.inquiry_county()));
      return RequireText("inquiry_reply.answer", r.answer(), kMaxText);
    }
    case v1::RecordValue::kNotice: {
      const auto& n = v.notice();
      TB_RETURN_IF_ERROR(RequireCounty("notice.to_county", n.to_county()));
      TB_RETURN_IF_ERROR(RequireText("notice.subject", n.subject()));
      return OptionalText("notice.body", n.body(), kMaxText);
    }
    case v1::RecordValue::kReceipt: {
      const auto& r = v.receipt();
      TB_RETURN_IF_ERROR(RequireText("receipt.notice_record_id", r.notice_record_id()));
      TB_RETURN_IF_ERROR(RequireCounty("receipt.notice_county", r.notice_county()));
      return OptionalText("receipt.feedback", r.feedback(), kMaxText);
    }
    case v1::RecordValue::VALUE_NOT_SET: break;
  }
  return Invalid("payload", "no value set");
}

}  // namespace

v1::RecordValue::ValueCase ValueCaseOf(v1::RecordKind kind) {
  switch (kind) {
    case v1::RECORD_KIND_PERSON_BASICS: return v1::RecordValue::kPersonBasics;
    case v1::RECORD_KIND_OUTFLOW: return v1::RecordValue::kOutflow;
    case v1::RECORD_KIND_INFLOW: return v1::RecordValue::kInflow;
    case v1::RECORD_KIND_RETURN: return v1::RecordValue::kReturnRegistration;
    case v1::RECORD_KIND_CERTIFICATE: return v1::RecordValue::kCertificate;
    case v1::RECORD_KIND_SERVICE: return v1::RecordValue::kService;
    case v1::RECORD_KIND_ENTITLEMENT: return v1::RecordValue::kEntitlement;
    case v1::RECORD_KIND_INQUIRY: return v1::RecordValue::kInquiry;
    case v1::RECORD_KIND_INQUIRY_REPLY: return v1::RecordValue::kInquiryReply;
    case v1::RECORD_KIND_NOTICE: return v1::RecordValue::kNotice;
    case v1::RECORD_KIND_RECEIPT: return v1::RecordValue::kReceipt;
    default: return v1::RecordValue::VALUE_NOT_SET;
  }
}

const char* KindName(v1::RecordKind kind) {
  switch (kind) {
    case v1::RECORD_KIND_PERSON_BASICS: return "person_basics";
    case v1::RECORD_KIND_OUTFLOW: return "outflow";
    case v1::RECORD_KIND_INFLOW: return "inflow";
    case v1::RECORD_KIND_RETURN: return "return_registration";
    case v1::RECORD_KIND_CERTIFICATE: return "certificate";
    case v1::RECORD_KIND_SERVICE: return "service";
    case v1::RECORD_KIND_ENTITLEMENT: return "entitlement";
    case v1::RECORD_KIND_INQUIRY: return "inquiry";
    case v1::RECORD_KIND_INQUIRY_REPLY: return "inquiry_reply";
    case v1::RECORD_KIND_NOTICE: return "notice";
    case v1::RECORD_KIND_RECEIPT: return "receipt";
    default: return "unknown";
  }
}

absl::Status ValidateDate(const char* field, const v1::Date& d, const absl::CivilDay* not_after) {
  // Formatted only for a message: this runs for every date of every write.
  auto shown = [&d] { return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day()); };
  if (d.year() < 1890 || d.year() > 9999 || d.month() < 1 || d.month() > 12 || d.day() < 1 ||
      d.day() > 31) {
    return Invalid(field, absl::StrCat(shown(), " is not a valid date"));
  }
  const absl::CivilDay day = ToDay(d);
  // CivilDay normalises 02-30 to 03-02; a changed field means no such day.
  if (day.month() != d.month() || day.day() != d.day()) {
    return Invalid(field, absl::StrCat(shown(), " is not a calendar date"));
  }
  if (not_after != nullptr && day > *not_after) {
    return Invalid(field, absl::StrCat(shown(), " is in the future"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRecordValue(v1::RecordKind kind, const v1::RecordValue& value,
                                 absl::CivilDay today) {
  const v1::RecordValue::ValueCase want = ValueCaseOf(kind);
  if (want == v1::RecordValue::VALUE_NOT_SET) {
    return Invalid("kind", absl::StrCat("unknown record kind ", static_cast<int>(kind)));
  }
  if (value.value_case() != want) {
    return Invalid("payload",
                   absl::StrCat("record kind ", KindName(kind), " needs a value of that kind"));
  }
  return ValidateValue(value, today);
}

}  // namespace tongban::records
