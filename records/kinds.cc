#include "records/kinds.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "records/dates.h"

namespace tongban::records {
namespace {

bool Has(const v1::Date& d) { return d.year() != 0 || d.month() != 0 || d.day() != 0; }

// Required fields, in the order validation checks them (records/validate.cc),
// so that a value lacking one field is refused naming the same field.
constexpr RequiredField kPersonBasics[] = {
    {"person_basics.name",
     [](const v1::RecordValue& v) { return !v.person_basics().name().empty(); }},
    {"person_basics.sex", [](const v1::RecordValue& v) { return v.person_basics().sex() != 0; }},
    {"person_basics.birth_date",
     [](const v1::RecordValue& v) { return Has(v.person_basics().birth_date()); }},
    {"person_basics.hukou_region",
     [](const v1::RecordValue& v) { return !v.person_basics().hukou_region().empty(); }},
    {"person_basics.children.name",
     [](const v1::RecordValue& v) {
       const auto& c = v.person_basics().children();
       return std::all_of(c.begin(), c.end(), [](const v1::Child& k) { return !k.name().empty(); });
     }},
    {"person_basics.children.birth_date",
     [](const v1::RecordValue& v) {
       const auto& c = v.person_basics().children();
       return std::all_of(c.begin(), c.end(),
                          [](const v1::Child& k) { return Has(k.birth_date()); });
     }},
};
constexpr RequiredField kOutflow[] = {
    {"outflow.destination_county",
     [](const v1::RecordValue& v) { return !v.outflow().destination_county().empty(); }},
    {"outflow.left_on", [](const v1::RecordValue& v) { return Has(v.outflow().left_on()); }},
};
constexpr RequiredField kInflow[] = {
    {"inflow.origin_county",
     [](const v1::RecordValue& v) { return !v.inflow().origin_county().empty(); }},
    {"inflow.arrived_on", [](const v1::RecordValue& v) { return Has(v.inflow().arrived_on()); }},
    {"inflow.registered_on",
     [](const v1::RecordValue& v) { return Has(v.inflow().registered_on()); }},
    {"inflow.address", [](const v1::RecordValue& v) { return !v.inflow().address().empty(); }},
};
constexpr RequiredField kReturn[] = {
    {"return_registration.type",
     [](const v1::RecordValue& v) { return v.return_registration().type() != 0; }},
    {"return_registration.effective_on",
     [](const v1::RecordValue& v) { return Has(v.return_registration().effective_on()); }},
};
constexpr RequiredField kCertificate[] = {
    {"certificate.type", [](const v1::RecordValue& v) { return v.certificate().type() != 0; }},
    {"certificate.number",
     [](const v1::RecordValue& v) { return !v.certificate().number().empty(); }},
    {"certificate.issuer",
     [](const v1::RecordValue& v) { return !v.certificate().issuer().empty(); }},
    {"certificate.valid_from",
     [](const v1::RecordValue& v) { return Has(v.certificate().valid_from()); }},
    {"certificate.valid_to",
     [](const v1::RecordValue& v) { return Has(v.certificate().valid_to()); }},
    {"certificate.attested_facts key",
     [](const v1::RecordValue& v) {
       const auto& facts = v.certificate().attested_facts();
       return std::none_of(facts.begin(), facts.end(),
                           [](const auto& fact) { return fact.first.empty(); });
     }},
};
constexpr RequiredField kService[] = {
    {"service.type", [](const v1::RecordValue& v) { return v.service().type() != 0; }},
    {"service.delivered_on",
     [](const v1::RecordValue& v) { return Has(v.service().delivered_on()); }},
    {"service.provider_county",
     [](const v1::RecordValue& v) { return !v.service().provider_county().empty(); }},
    // Only a delivery of an entitlement names one.
    {"service.entitlement_record_id",
     [](const v1::RecordValue& v) {
       return v.service().type() != v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY ||
              !v.service().entitlement_record_id().empty();
     }},
};
constexpr RequiredField kEntitlement[] = {
    {"entitlement.programme",
     [](const v1::RecordValue& v) { return !v.entitlement().programme().empty(); }},
    {"entitlement.status", [](const v1::RecordValue& v) { return v.entitlement().status() != 0; }},
};
constexpr RequiredField kInquiry[] = {
    {"inquiry.type", [](const v1::RecordValue& v) { return v.inquiry().type() != 0; }},
    {"inquiry.to_county",
     [](const v1::RecordValue& v) { return !v.inquiry().to_county().empty(); }},
    {"inquiry.question", [](const v1::RecordValue& v) { return !v.inquiry().question().empty(); }},
};
constexpr RequiredField kInquiryReply[] = {
    {"inquiry_reply.inquiry_record_id",
     [](const v1::RecordValue& v) { return !v.inquiry_reply().inquiry_record_id().empty(); }},
    {"inquiry_reply.inquiry_county",
     [](const v1::RecordValue& v) { return !v.inquiry_reply().inquiry_county().empty(); }},
    {"inquiry_reply.answer",
     [](const v1::RecordValue& v) { return !v.inquiry_reply().answer().empty(); }},
};
constexpr RequiredField kNotice[] = {
    {"notice.to_county", [](const v1::RecordValue& v) { return !v.notice().to_county().empty(); }},
    {"notice.subject", [](const v1::RecordValue& v) { return !v.notice().subject().empty(); }},
};
constexpr RequiredField kReceipt[] = {
    {"receipt.notice_record_id",
     [](const v1::RecordValue& v) { return !v.receipt().notice_record_id().empty(); }},
    {"receipt.notice_county",
     [](const v1::RecordValue& v) { return !v.receipt().notice_county().empty(); }},
};

constexpr const char* kOutflowKeys[] = {"destination_county", "left_on"};
constexpr const char* kInflowKeys[] = {"arrived_on"};
constexpr const char* kReturnKeys[] = {"effective_on"};
constexpr const char* kCertificateKeys[] = {"number"};
constexpr const char* kServiceKeys[] = {"type", "delivered_on", "entitlement_record_id"};
constexpr const char* kEntitlementKeys[] = {"programme"};
// Inquiries and notices are also named by the second they are sent.
constexpr const char* kSentKeys[] = {"to_county"};
constexpr const char* kReplyKeys[] = {"inquiry_record_id"};
constexpr const char* kReceiptKeys[] = {"notice_record_id"};

using V = v1::RecordValue;
const KindInfo kKinds[] = {
    {v1::RECORD_KIND_PERSON_BASICS, "person_basics", V::kPersonBasics, "个人基本信息",
     "person basics", Custody::kOrigin, false, v1::PURPOSE_CASE_MANAGEMENT, kPersonBasics,
     absl::Span<const char* const>()},
    {v1::RECORD_KIND_OUTFLOW, "outflow", V::kOutflow, "流出登记", "outflow registration",
     Custody::kOrigin, false, v1::PURPOSE_CASE_MANAGEMENT, kOutflow, kOutflowKeys},
    {v1::RECORD_KIND_INFLOW, "inflow", V::kInflow, "流入登记", "inflow registration",
     Custody::kResidence, false, v1::PURPOSE_CASE_MANAGEMENT, kInflow, kInflowKeys},
    {v1::RECORD_KIND_RETURN, "return_registration", V::kReturnRegistration, "返回/离开登记",
     "return or departure", Custody::kEither, false, v1::PURPOSE_CASE_MANAGEMENT, kReturn,
     kReturnKeys},
    {v1::RECORD_KIND_CERTIFICATE, "certificate", V::kCertificate, "电子证明",
     "electronic certificate", Custody::kIssuer, false, v1::PURPOSE_CERTIFICATION, kCertificate,
     kCertificateKeys},
    {v1::RECORD_KIND_SERVICE, "service", V::kService, "服务记录", "service record",
     Custody::kResidence, false, v1::PURPOSE_SERVICE_DELIVERY, kService, kServiceKeys},
    {v1::RECORD_KIND_ENTITLEMENT, "entitlement", V::kEntitlement, "奖励扶助等权益", "entitlement",
     Custody::kOrigin, true, v1::PURPOSE_ENTITLEMENT, kEntitlement, kEntitlementKeys},
    {v1::RECORD_KIND_INQUIRY, "inquiry", V::kInquiry, "协查", "inquiry", Custody::kAuthor, false,
     v1::PURPOSE_INQUIRY, kInquiry, kSentKeys},
    {v1::RECORD_KIND_INQUIRY_REPLY, "inquiry_reply", V::kInquiryReply, "协查反馈", "inquiry reply",
     Custody::kAuthor, false, v1::PURPOSE_INQUIRY, kInquiryReply, kReplyKeys},
    {v1::RECORD_KIND_NOTICE, "notice", V::kNotice, "通报", "notice", Custody::kAuthor, false,
     v1::PURPOSE_NOTICE, kNotice, kSentKeys},
    {v1::RECORD_KIND_RECEIPT, "receipt", V::kReceipt, "回执", "receipt", Custody::kAuthor, false,
     v1::PURPOSE_NOTICE, kReceipt, kReceiptKeys},
};

const KindInfo* FindByCase(v1::RecordValue::ValueCase c) {
  // The value cases are numbered as the kinds are (records.proto).
  if (const KindInfo* k = FindKind(static_cast<v1::RecordKind>(c));
      k != nullptr && k->value_case == c) {
    return k;
  }
  for (const KindInfo& k : kKinds) {
    if (k.value_case == c) return &k;
  }
  return nullptr;
}

}  // namespace

absl::Span<const KindInfo> AllKinds() { return kKinds; }

const KindInfo* FindKind(v1::RecordKind kind) {
  // The table is in number order from 1: a lookup on every record the
  // statistics scan reads.
  const int i = static_cast<int>(kind) - 1;
  if (i < 0 || i >= static_cast<int>(std::size(kKinds))) return nullptr;
  return &kKinds[i];
}

const KindInfo* FindKindByName(absl::string_view name) {
  for (const KindInfo& k : kKinds) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

const char* KindName(v1::RecordKind kind) {
  const KindInfo* k = FindKind(kind);
  return k == nullptr ? "unknown" : k->name;
}

v1::RecordValue::ValueCase ValueCaseOf(v1::RecordKind kind) {
  const KindInfo* k = FindKind(kind);
  return k == nullptr ? v1::RecordValue::VALUE_NOT_SET : k->value_case;
}

v1::Purpose DefaultPurpose(v1::RecordKind kind) {
  const KindInfo* k = FindKind(kind);
  return k == nullptr ? v1::PURPOSE_CASE_MANAGEMENT : k->default_purpose;
}

const char* MissingRequiredField(v1::RecordKind kind, const v1::RecordValue& value) {
  const KindInfo* k = FindKind(kind);
  if (k == nullptr) return nullptr;
  for (const RequiredField& f : k->required) {
    if (!f.present(value)) return f.path;
  }
  return nullptr;
}

bool RequiredFieldsPresent(const v1::RecordValue& value) {
  const KindInfo* k = FindByCase(value.value_case());
  return k != nullptr && MissingRequiredField(k->kind, value) == nullptr;
}

bool ValidRecordId(absl::string_view id) {
  return !id.empty() && id.size() <= kMaxRecordIdSize &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                  c == ':' || c == '-';
         });
}

absl::Status CheckRecordId(absl::string_view id) {
  if (ValidRecordId(id)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("record_id: must be 1 to ", kMaxRecordIdSize,
                                                 " characters of A-Z a-z 0-9 . _ : -"));
}

std::string DeriveRecordId(v1::RecordKind kind, const v1::RecordValue& v, absl::Time now) {
  if (v.value_case() != ValueCaseOf(kind)) return "";
  switch (kind) {
    case v1::RECORD_KIND_PERSON_BASICS: return "basics";
    case v1::RECORD_KIND_OUTFLOW:
      return absl::StrCat("out-", v.outflow().destination_county(), "-",
                          DateText(v.outflow().left_on()));
    case v1::RECORD_KIND_INFLOW: return absl::StrCat("in-", DateText(v.inflow().arrived_on()));
    case v1::RECORD_KIND_RETURN:
      return absl::StrCat("return-", DateText(v.return_registration().effective_on()));
    case v1::RECORD_KIND_CERTIFICATE: return absl::StrCat("cert-", v.certificate().number());
    case v1::RECORD_KIND_SERVICE: {
      const v1::ServiceRecord& s = v.service();
      if (s.type() == v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY) {
        return absl::StrCat("delivery-", s.entitlement_record_id(), "-",
                            DateText(s.delivered_on()));
      }
      const Word* type = FindWord(s.type());
      if (type == nullptr || s.type() == v1::SERVICE_TYPE_UNSPECIFIED) return "";
      return absl::StrCat("svc-", type->token, "-", DateText(s.delivered_on()));
    }
    case v1::RECORD_KIND_ENTITLEMENT: return absl::StrCat("ent-", v.entitlement().programme());
    case v1::RECORD_KIND_INQUIRY:
      return absl::StrCat("inq-", v.inquiry().to_county(), "-", absl::ToUnixSeconds(now));
    case v1::RECORD_KIND_INQUIRY_REPLY:
      return absl::StrCat("reply-", v.inquiry_reply().inquiry_record_id());
    case v1::RECORD_KIND_NOTICE:
      return absl::StrCat("notice-", v.notice().to_county(), "-", absl::ToUnixSeconds(now));
    case v1::RECORD_KIND_RECEIPT: return absl::StrCat("receipt-", v.receipt().notice_record_id());
    default: return "";
  }
}

}  // namespace tongban::records
