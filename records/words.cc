#include "records/words.h"

#include <vector>

#include "records/kinds.h"

namespace tongban::records {
namespace {

constexpr Word kSex[] = {
    {v1::SEX_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::SEX_MALE, "male", "男", "male"},
    {v1::SEX_FEMALE, "female", "女", "female"},
};

constexpr Word kMaritalStatus[] = {
    {v1::MARITAL_STATUS_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::MARITAL_STATUS_UNMARRIED, "unmarried", "未婚", "unmarried"},
    {v1::MARITAL_STATUS_MARRIED, "married", "已婚", "married"},
    {v1::MARITAL_STATUS_REMARRIED, "remarried", "再婚", "remarried"},
    {v1::MARITAL_STATUS_DIVORCED, "divorced", "离婚", "divorced"},
    {v1::MARITAL_STATUS_WIDOWED, "widowed", "丧偶", "widowed"},
};

constexpr Word kReturnType[] = {
    {v1::RETURN_TYPE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::RETURN_TYPE_RETURNED_HOME, "returned-home", "返回户籍地", "returned home"},
    {v1::RETURN_TYPE_DEPARTED, "departed", "离开现居住地", "left the residence"},
};

constexpr Word kCertificateType[] = {
    {v1::CERTIFICATE_TYPE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY, "marriage-fertility", "电子婚育证明",
     "marriage and fertility certificate"},
    {v1::CERTIFICATE_TYPE_RESIDENCE_PERMIT, "residence-permit", "居住证", "residence permit"},
};

constexpr Word kServiceType[] = {
    {v1::SERVICE_TYPE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::SERVICE_TYPE_PRENATAL_CHECK, "prenatal-check", "孕产期检查", "prenatal check"},
    {v1::SERVICE_TYPE_CHILD_IMMUNISATION, "child-immunisation", "儿童预防接种",
     "child immunisation"},
    {v1::SERVICE_TYPE_HEALTH_CHECK, "health-check", "健康检查", "health check"},
    {v1::SERVICE_TYPE_CONTRACEPTIVE_SUPPLIES, "contraceptive-supplies", "避孕药具发放",
     "contraceptive supplies"},
    {v1::SERVICE_TYPE_HEALTH_EDUCATION, "health-education", "健康教育", "health education"},
    {v1::SERVICE_TYPE_BIRTH_REGISTRATION_HELP, "birth-registration-help", "生育登记服务",
     "birth registration help"},
    {v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY, "entitlement-delivery", "协助发放",
     "entitlement delivery"},
};

constexpr Word kEntitlementStatus[] = {
    {v1::ENTITLEMENT_STATUS_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::ENTITLEMENT_STATUS_ELIGIBLE, "eligible", "符合条件", "eligible"},
    {v1::ENTITLEMENT_STATUS_ACTIVE, "active", "享受中", "active"},
    {v1::ENTITLEMENT_STATUS_SUSPENDED, "suspended", "暂停", "suspended"},
    {v1::ENTITLEMENT_STATUS_ENDED, "ended", "终止", "ended"},
};

constexpr Word kInquiryType[] = {
    {v1::INQUIRY_TYPE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::INQUIRY_TYPE_URGENT, "urgent", "紧急协查", "urgent inquiry"},
    {v1::INQUIRY_TYPE_NORMAL, "normal", "一般协查", "normal inquiry"},
    {v1::INQUIRY_TYPE_CERTIFICATE_MISMATCH, "certificate-mismatch", "电子证明不符协查",
     "certificate mismatch inquiry"},
};

constexpr Word kOperation[] = {
    {v1::OPERATION_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::OPERATION_UPSERT, "upsert", "登记或更正", "written"},
    {v1::OPERATION_RETRACT, "retract", "撤回", "retracted"},
};

constexpr Word kPurpose[] = {
    {v1::PURPOSE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::PURPOSE_CASE_MANAGEMENT, "case-management", "个案管理", "case management"},
    {v1::PURPOSE_SERVICE_DELIVERY, "service-delivery", "服务提供", "service delivery"},
    {v1::PURPOSE_INQUIRY, "inquiry", "协查", "inquiry"},
    {v1::PURPOSE_NOTICE, "notice", "通报", "notice"},
    {v1::PURPOSE_CERTIFICATION, "certification", "证明", "certification"},
    {v1::PURPOSE_ENTITLEMENT, "entitlement", "奖励扶助", "entitlement"},
    {v1::PURPOSE_CORRECTION, "correction", "更正", "correction"},
};

// Tokens as ids::IdFindingName and the finding counters spell them.
constexpr Word kIdFinding[] = {
    {v1::ID_FINDING_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::ID_FINDING_BAD_CHECK_CHARACTER, "bad_check_character", "校验码错误",
     "wrong check character"},
    {v1::ID_FINDING_UNKNOWN_REGION, "unknown_region", "地址码不存在", "unknown region code"},
    {v1::ID_FINDING_RETIRED_REGION, "retired_region", "地址码已撤销", "retired region code"},
    {v1::ID_FINDING_IMPOSSIBLE_BIRTH_DATE, "impossible_birth_date", "出生日期不可能",
     "impossible birth date"},
    {v1::ID_FINDING_PLACEHOLDER, "placeholder", "占位号码", "placeholder number"},
    {v1::ID_FINDING_SEX_MISMATCH, "sex_mismatch", "性别与顺序码不符",
     "sex disagrees with the sequence digit"},
    {v1::ID_FINDING_CONVERTED_FROM_15, "converted_from_15", "由15位升位",
     "converted from a 15-digit ID"},
};

constexpr Word kLinkRole[] = {
    {v1::LINK_ROLE_UNSPECIFIED, "unspecified", "未填写", "not given"},
    {v1::LINK_ROLE_ORIGIN, "origin", "户籍地", "origin"},
    {v1::LINK_ROLE_RESIDENCE, "residence", "现居住地", "residence"},
    {v1::LINK_ROLE_COUNTERPART, "counterpart", "协查或通报对方", "counterpart"},
};

constexpr Word kCustody[] = {
    {static_cast<int>(Custody::kOrigin), "origin", "户籍地", "the origin"},
    {static_cast<int>(Custody::kResidence), "residence", "现居住地", "the residence"},
    {static_cast<int>(Custody::kEither), "either", "流出地或流入地", "either county"},
    {static_cast<int>(Custody::kIssuer), "issuer", "发证地", "the issuer"},
    {static_cast<int>(Custody::kAuthor), "author", "发送方", "the sender"},
};

constexpr Word kWorkflowState[] = {
    {static_cast<int>(WorkflowState::kSent), "sent", "已发出", "sent"},
    {static_cast<int>(WorkflowState::kReceived), "received", "待办理", "received"},
    {static_cast<int>(WorkflowState::kOpen), "open", "办理中", "open"},
    {static_cast<int>(WorkflowState::kAnswered), "answered", "已反馈", "answered"},
    {static_cast<int>(WorkflowState::kAnsweredLate), "answered late", "逾期反馈", "answered late"},
    {static_cast<int>(WorkflowState::kAcknowledged), "acknowledged", "已回执", "acknowledged"},
    {static_cast<int>(WorkflowState::kAcknowledgedLate), "acknowledged late", "逾期回执",
     "acknowledged late"},
    {static_cast<int>(WorkflowState::kAwaitingFeedback), "awaiting feedback", "待反馈",
     "awaiting feedback"},
    {static_cast<int>(WorkflowState::kOverdue), "overdue", "已逾期", "overdue"},
    {static_cast<int>(WorkflowState::kWithdrawn), "withdrawn", "已撤回", "withdrawn"},
};

}  // namespace

template <>
absl::Span<const Word> WordTable<v1::RecordKind>() {
  // From the kind table (records/kinds.h), where each kind's words are.
  static const auto* table = [] {
    auto* rows =
        new std::vector<Word>{{v1::RECORD_KIND_UNSPECIFIED, "unspecified", "未填写", "not given"}};
    for (const KindInfo& k : AllKinds()) rows->push_back({k.kind, k.name, k.zh, k.en});
    return rows;
  }();
  return *table;
}

template <>
absl::Span<const Word> WordTable<v1::Sex>() {
  return kSex;
}
template <>
absl::Span<const Word> WordTable<v1::MaritalStatus>() {
  return kMaritalStatus;
}
template <>
absl::Span<const Word> WordTable<v1::ReturnType>() {
  return kReturnType;
}
template <>
absl::Span<const Word> WordTable<v1::CertificateType>() {
  return kCertificateType;
}
template <>
absl::Span<const Word> WordTable<v1::ServiceType>() {
  return kServiceType;
}
template <>
absl::Span<const Word> WordTable<v1::EntitlementStatus>() {
  return kEntitlementStatus;
}
template <>
absl::Span<const Word> WordTable<v1::InquiryType>() {
  return kInquiryType;
}
template <>
absl::Span<const Word> WordTable<v1::Operation>() {
  return kOperation;
}
template <>
absl::Span<const Word> WordTable<v1::Purpose>() {
  return kPurpose;
}
template <>
absl::Span<const Word> WordTable<v1::IdFinding>() {
  return kIdFinding;
}
template <>
absl::Span<const Word> WordTable<v1::LinkRole>() {
  return kLinkRole;
}
template <>
absl::Span<const Word> WordTable<Custody>() {
  return kCustody;
}
template <>
absl::Span<const Word> WordTable<WorkflowState>() {
  return kWorkflowState;
}

}  // namespace tongban::records
