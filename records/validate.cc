#include "records/validate.h"

#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "records/kinds.h"

namespace tongban::records {
namespace {

constexpr size_t kMaxText = 4096;  // bytes of any free-text field
constexpr size_t kMaxShortText = 256;

absl::Status Invalid(const char* field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// The checks below are of the values present: which fields must be present
// is the kind table's (records/kinds.h), checked first.

absl::Status DateField(const char* field, const v1::Date& d, const absl::CivilDay* not_after) {
  if (!HasDate(d)) return absl::OkStatus();
  return ValidateDate(field, d, not_after);
}

absl::Status NotBefore(const char* later_field, const v1::Date& later, const char* earlier_field,
                       const v1::Date& earlier) {
  if (HasDate(later) && HasDate(earlier) && ToCivilDay(later) < ToCivilDay(earlier)) {
    return Invalid(later_field, absl::StrCat("is before ", earlier_field));
  }
  return absl::OkStatus();
}

absl::Status TextField(const char* field, const std::string& s, size_t max = kMaxShortText) {
  if (s.size() > max) {
    return Invalid(field, absl::StrCat(s.size(), " bytes, at most ", max));
  }
  return absl::OkStatus();
}

absl::Status CountyField(const char* field, const std::string& code) {
  if (code.empty()) return absl::OkStatus();
  return Prefixed(field, ids::ValidateCurrentCountyCode(code));
}

absl::Status OptionalCitizenId(const char* field, const std::string& id, absl::CivilDay today) {
  if (id.empty()) return absl::OkStatus();
  return Prefixed(field, ids::CheckCitizenId(id, ids::Sex::kUnspecified, today).status());
}

absl::Status ValidatePersonBasics(const v1::PersonBasics& p, absl::CivilDay today) {
  TB_RETURN_IF_ERROR(TextField("person_basics.name", p.name()));
  TB_RETURN_IF_ERROR(DateField("person_basics.birth_date", p.birth_date(), &today));
  TB_RETURN_IF_ERROR(CountyField("person_basics.hukou_region", p.hukou_region()));
  TB_RETURN_IF_ERROR(TextField("person_basics.hukou_address", p.hukou_address(), kMaxText));
  TB_RETURN_IF_ERROR(
      OptionalCitizenId("person_basics.spouse_citizen_id", p.spouse_citizen_id(), today));
  TB_RETURN_IF_ERROR(TextField("person_basics.spouse_name", p.spouse_name()));
  for (const v1::Child& c : p.children()) {
    TB_RETURN_IF_ERROR(
        OptionalCitizenId("person_basics.children.citizen_id", c.citizen_id(), today));
    TB_RETURN_IF_ERROR(TextField("person_basics.children.name", c.name()));
    TB_RETURN_IF_ERROR(DateField("person_basics.children.birth_date", c.birth_date(), &today));
  }
  return absl::OkStatus();
}

absl::Status ValidateValue(const v1::RecordValue& v, absl::CivilDay today) {
  switch (v.value_case()) {
    case v1::RecordValue::kPersonBasics: return ValidatePersonBasics(v.person_basics(), today);
    case v1::RecordValue::kOutflow: {
      const auto& o = v.outflow();
      TB_RETURN_IF_ERROR(CountyField("outflow.destination_county", o.destination_county()));
      TB_RETURN_IF_ERROR(DateField("outflow.left_on", o.left_on(), &today));
      return TextField("outflow.reason", o.reason());
    }
    case v1::RecordValue::kInflow: {
      const auto& i = v.inflow();
      TB_RETURN_IF_ERROR(CountyField("inflow.origin_county", i.origin_county()));
      TB_RETURN_IF_ERROR(CountyField("inflow.previous_residence", i.previous_residence()));
      TB_RETURN_IF_ERROR(DateField("inflow.arrived_on", i.arrived_on(), &today));
      TB_RETURN_IF_ERROR(DateField("inflow.registered_on", i.registered_on(), &today));
      TB_RETURN_IF_ERROR(NotBefore("inflow.registered_on", i.registered_on(), "inflow.arrived_on",
                                   i.arrived_on()));
      TB_RETURN_IF_ERROR(TextField("inflow.address", i.address(), kMaxText));
      return TextField("inflow.employer", i.employer());
    }
    case v1::RecordValue::kReturnRegistration: {
      const auto& r = v.return_registration();
      TB_RETURN_IF_ERROR(DateField("return_registration.effective_on", r.effective_on(), &today));
      TB_RETURN_IF_ERROR(CountyField("return_registration.from_county", r.from_county()));
      return CountyField("return_registration.to_county", r.to_county());
    }
    case v1::RecordValue::kCertificate: {
      const auto& c = v.certificate();
      TB_RETURN_IF_ERROR(TextField("certificate.number", c.number()));
      TB_RETURN_IF_ERROR(CountyField("certificate.issuer", c.issuer()));
      TB_RETURN_IF_ERROR(DateField("certificate.valid_from", c.valid_from(), nullptr));
      TB_RETURN_IF_ERROR(DateField("certificate.valid_to", c.valid_to(), nullptr));
      TB_RETURN_IF_ERROR(NotBefore("certificate.valid_to", c.valid_to(), "certificate.valid_from",
                                   c.valid_from()));
      for (const auto& [key, value] : c.attested_facts()) {
        TB_RETURN_IF_ERROR(TextField("certificate.attested_facts key", key));
        TB_RETURN_IF_ERROR(TextField("certificate.attested_facts value", value));
      }
      return TextField("certificate.supersedes", c.supersedes());
    }
    case v1::RecordValue::kService: {
      const auto& s = v.service();
      TB_RETURN_IF_ERROR(DateField("service.delivered_on", s.delivered_on(), &today));
      TB_RETURN_IF_ERROR(CountyField("service.provider_county", s.provider_county()));
      TB_RETURN_IF_ERROR(TextField("service.period", s.period()));
      TB_RETURN_IF_ERROR(
          OptionalCitizenId("service.beneficiary_citizen_id", s.beneficiary_citizen_id(), today));
      if (s.type() == v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY) {
        TB_RETURN_IF_ERROR(TextField("service.entitlement_record_id", s.entitlement_record_id()));
      } else if (!s.entitlement_record_id().empty()) {
        return Invalid("service.entitlement_record_id",
                       "only an entitlement delivery names an entitlement");
      }
      return TextField("service.notes", s.notes(), kMaxText);
    }
    case v1::RecordValue::kEntitlement: {
      const auto& e = v.entitlement();
      TB_RETURN_IF_ERROR(TextField("entitlement.programme", e.programme()));
      if (e.amount_fen() < 0) return Invalid("entitlement.amount_fen", "negative");
      TB_RETURN_IF_ERROR(DateField("entitlement.period_from", e.period_from(), nullptr));
      TB_RETURN_IF_ERROR(DateField("entitlement.period_to", e.period_to(), nullptr));
      TB_RETURN_IF_ERROR(NotBefore("entitlement.period_to", e.period_to(),
                                   "entitlement.period_from", e.period_from()));
      return CountyField("entitlement.delivered_by", e.delivered_by());
    }
    case v1::RecordValue::kInquiry: {
      const auto& q = v.inquiry();
      TB_RETURN_IF_ERROR(CountyField("inquiry.to_county", q.to_county()));
      TB_RETURN_IF_ERROR(TextField("inquiry.question", q.question(), kMaxText));
      return DateField("inquiry.due_on", q.due_on(), nullptr);
    }
    case v1::RecordValue::kInquiryReply: {
      const auto& r = v.inquiry_reply();
      TB_RETURN_IF_ERROR(TextField("inquiry_reply.inquiry_record_id", r.inquiry_record_id()));
      TB_RETURN_IF_ERROR(CountyField("inquiry_reply.inquiry_county", r.inquiry_county()));
      return TextField("inquiry_reply.answer", r.answer(), kMaxText);
    }
    case v1::RecordValue::kNotice: {
      const auto& n = v.notice();
      TB_RETURN_IF_ERROR(CountyField("notice.to_county", n.to_county()));
      TB_RETURN_IF_ERROR(TextField("notice.subject", n.subject()));
      return TextField("notice.body", n.body(), kMaxText);
    }
    case v1::RecordValue::kReceipt: {
      const auto& r = v.receipt();
      TB_RETURN_IF_ERROR(TextField("receipt.notice_record_id", r.notice_record_id()));
      TB_RETURN_IF_ERROR(CountyField("receipt.notice_county", r.notice_county()));
      return TextField("receipt.feedback", r.feedback(), kMaxText);
    }
    case v1::RecordValue::VALUE_NOT_SET: break;
  }
  return Invalid("payload", "no value set");
}

}  // namespace

absl::Status ValidateDate(const char* field, const v1::Date& d, const absl::CivilDay* not_after) {
  if (d.year() < 1890 || d.year() > 9999 || d.month() < 1 || d.month() > 12 || d.day() < 1 ||
      d.day() > 31) {
    return Invalid(field, absl::StrCat(DateText(d), " is not a valid date"));
  }
  const absl::CivilDay day = ToCivilDay(d);
  // CivilDay normalises 02-30 to 03-02; a changed field means no such day.
  if (day.month() != d.month() || day.day() != d.day()) {
    return Invalid(field, absl::StrCat(DateText(d), " is not a calendar date"));
  }
  if (not_after != nullptr && day > *not_after) {
    return Invalid(field, absl::StrCat(DateText(d), " is in the future"));
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
  if (const char* missing = MissingRequiredField(kind, value); missing != nullptr) {
    return Invalid(missing, "missing");
  }
  return ValidateValue(value, today);
}

}  // namespace tongban::records
