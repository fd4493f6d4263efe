// The kind table (records/kinds.h) and the words of every enum a person
// reads (records/words.h): complete, consistent with validation, and
// deriving the record ids tongbanctl and the CSV import always derived.
#include "records/kinds.h"

#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "records/validate.h"
#include "records/words.h"
#include "tests/testutil/records.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::records {
namespace {

const absl::CivilDay kToday(2026, 11, 30);

TEST(KindsTest, EveryRecordKindHasOneRow) {
  const google::protobuf::EnumDescriptor* d = v1::RecordKind_descriptor();
  std::set<std::string> names;
  for (int i = 0; i < d->value_count(); ++i) {
    const auto kind = static_cast<v1::RecordKind>(d->value(i)->number());
    if (kind == v1::RECORD_KIND_UNSPECIFIED) {
      EXPECT_EQ(FindKind(kind), nullptr);
      continue;
    }
    const KindInfo* k = FindKind(kind);
    ASSERT_NE(k, nullptr) << d->value(i)->name();
    EXPECT_EQ(k->kind, kind);
    EXPECT_TRUE(names.insert(k->name).second) << k->name;
    EXPECT_EQ(FindKindByName(k->name), k);
    EXPECT_NE(k->value_case, v1::RecordValue::VALUE_NOT_SET);
    EXPECT_EQ(ValueCaseOf(kind), k->value_case);
    EXPECT_STREQ(KindName(kind), k->name);
    EXPECT_STREQ(Words(kind, Lang::kZh), k->zh);
    EXPECT_STREQ(Words(kind, Lang::kEn), k->en);
    EXPECT_FALSE(k->required.empty()) << k->name;
    EXPECT_NE(k->default_purpose, v1::PURPOSE_UNSPECIFIED);
  }
  EXPECT_EQ(AllKinds().size(), names.size());
  EXPECT_EQ(FindKind(static_cast<v1::RecordKind>(99)), nullptr);
  EXPECT_STREQ(KindName(static_cast<v1::RecordKind>(99)), "unknown");
  EXPECT_EQ(ValueCaseOf(static_cast<v1::RecordKind>(99)), v1::RecordValue::VALUE_NOT_SET);
  EXPECT_EQ(FindKindByName("person"), nullptr);
}

TEST(KindsTest, NamesWordsCustodyAndPurposesAsTheDomainSaysThem) {
  EXPECT_STREQ(KindName(v1::RECORD_KIND_RETURN), "return_registration");
  EXPECT_STREQ(Words(v1::RECORD_KIND_INQUIRY, Lang::kZh), "协查");
  EXPECT_STREQ(Words(v1::RECORD_KIND_RECEIPT, Lang::kZh), "回执");
  EXPECT_EQ(FindKind(v1::RECORD_KIND_INFLOW)->custody, Custody::kResidence);
  EXPECT_EQ(FindKind(v1::RECORD_KIND_CERTIFICATE)->custody, Custody::kIssuer);
  EXPECT_TRUE(FindKind(v1::RECORD_KIND_ENTITLEMENT)->origin_writes_only);
  EXPECT_FALSE(FindKind(v1::RECORD_KIND_PERSON_BASICS)->origin_writes_only);
  // The purposes the writer always defaulted to.
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_SERVICE), v1::PURPOSE_SERVICE_DELIVERY);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_INQUIRY), v1::PURPOSE_INQUIRY);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_INQUIRY_REPLY), v1::PURPOSE_INQUIRY);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_NOTICE), v1::PURPOSE_NOTICE);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_RECEIPT), v1::PURPOSE_NOTICE);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_CERTIFICATE), v1::PURPOSE_CERTIFICATION);
  EXPECT_EQ(DefaultPurpose(v1::RECORD_KIND_ENTITLEMENT), v1::PURPOSE_ENTITLEMENT);
  for (auto kind : {v1::RECORD_KIND_PERSON_BASICS, v1::RECORD_KIND_OUTFLOW, v1::RECORD_KIND_INFLOW,
                    v1::RECORD_KIND_RETURN, static_cast<v1::RecordKind>(99)}) {
    EXPECT_EQ(DefaultPurpose(kind), v1::PURPOSE_CASE_MANAGEMENT) << kind;
  }
}

// What validation refuses as missing and what statistics count as
// incomplete is one list.
TEST(KindsTest, RequiredFieldsAreWhatValidationRefusesAsMissing) {
  v1::RecordValue inflow = testutil::Inflow("x", "620102").value;
  EXPECT_TRUE(RequiredFieldsPresent(inflow));
  EXPECT_EQ(MissingRequiredField(v1::RECORD_KIND_INFLOW, inflow), nullptr);
  inflow.mutable_inflow()->clear_address();
  EXPECT_STREQ(MissingRequiredField(v1::RECORD_KIND_INFLOW, inflow), "inflow.address");
  EXPECT_FALSE(RequiredFieldsPresent(inflow));
  absl::Status s = ValidateRecordValue(v1::RECORD_KIND_INFLOW, inflow, kToday);
  EXPECT_EQ(s.message(), "inflow.address: missing");

  // A child without a name, and an entitlement delivery naming none.
  v1::RecordValue basics = testutil::Basics("11010519491231002X", "Test").value;
  v1::Child* child = basics.mutable_person_basics()->add_children();
  *child->mutable_birth_date() = testutil::Day(2020, 1, 1);
  EXPECT_FALSE(RequiredFieldsPresent(basics));
  s = ValidateRecordValue(v1::RECORD_KIND_PERSON_BASICS, basics, kToday);
  EXPECT_EQ(s.message(), "person_basics.children.name: missing");
  child->set_name("Child");
  EXPECT_TRUE(RequiredFieldsPresent(basics));

  v1::RecordValue delivery = testutil::Service("x", "440305", "d").value;
  delivery.mutable_service()->set_type(v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY);
  EXPECT_FALSE(RequiredFieldsPresent(delivery));
  s = ValidateRecordValue(v1::RECORD_KIND_SERVICE, delivery, kToday);
  EXPECT_EQ(s.message(), "service.entitlement_record_id: missing");
  delivery.mutable_service()->set_entitlement_record_id("ent-1");
  EXPECT_TRUE(RequiredFieldsPresent(delivery));

  EXPECT_FALSE(RequiredFieldsPresent(v1::RecordValue()));
  // Every kind's value with nothing set lacks its first required field.
  for (const KindInfo& k : AllKinds()) {
    v1::RecordValue empty;
    const google::protobuf::FieldDescriptor* field =
        v1::RecordValue::descriptor()->FindFieldByNumber(k.value_case);
    ASSERT_NE(field, nullptr) << k.name;
    empty.GetReflection()->MutableMessage(&empty, field);
    EXPECT_STREQ(MissingRequiredField(k.kind, empty), k.required.front().path) << k.name;
    s = ValidateRecordValue(k.kind, empty, kToday);
    EXPECT_EQ(s.message(), absl::StrCat(k.required.front().path, ": missing")) << k.name;
  }
}

TEST(KindsTest, DerivedRecordIdsAreTheOnesTongbanctlAndTheImportAlwaysGave) {
  const absl::Time now = absl::FromUnixSeconds(1790000000);
  auto id = [&](const storage::RecordChange& c) { return DeriveRecordId(c.kind, c.value, now); };
  EXPECT_EQ(id(testutil::Basics("11010519491231002X", "Test")), "basics");
  EXPECT_EQ(id(testutil::Outflow("x", "440305")), "out-440305-2026-03-01");
  EXPECT_EQ(id(testutil::Inflow("x", "620102")), "in-2026-03-01");
  EXPECT_EQ(id(testutil::Service("x", "440305", "s")), "svc-health-check-2026-04-01");
  EXPECT_EQ(id(testutil::Entitlement("x")), "ent-reward and assistance");
  storage::RecordChange delivery = testutil::Service("x", "440305", "s");
  delivery.value.mutable_service()->set_type(v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY);
  delivery.value.mutable_service()->set_entitlement_record_id("ent-1");
  EXPECT_EQ(id(delivery), "delivery-ent-1-2026-04-01");
  storage::RecordChange unknown_type = testutil::Service("x", "440305", "s");
  unknown_type.value.mutable_service()->set_type(v1::SERVICE_TYPE_UNSPECIFIED);
  EXPECT_EQ(id(unknown_type), "");

  v1::RecordValue v;
  v.mutable_return_registration()->set_type(v1::RETURN_TYPE_RETURNED_HOME);
  *v.mutable_return_registration()->mutable_effective_on() = testutil::Day(2026, 5, 2);
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_RETURN, v, now), "return-2026-05-02");
  v.mutable_certificate()->set_number("GD-2026-001");
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_CERTIFICATE, v, now), "cert-GD-2026-001");
  v.mutable_inquiry()->set_to_county("440305");
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_INQUIRY, v, now), "inq-440305-1790000000");
  v.mutable_inquiry_reply()->set_inquiry_record_id("inq-1");
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_INQUIRY_REPLY, v, now), "reply-inq-1");
  v.mutable_notice()->set_to_county("620102");
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_NOTICE, v, now), "notice-620102-1790000000");
  v.mutable_receipt()->set_notice_record_id("notice-1");
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_RECEIPT, v, now), "receipt-notice-1");
  // A value of another kind derives nothing.
  EXPECT_EQ(DeriveRecordId(v1::RECORD_KIND_INFLOW, v, now), "");
}

TEST(KindsTest, RecordIdValidity) {
  for (const std::string& good :
       std::vector<std::string>{"basics", "a", "out-440305-2026-03-01", "a.b_c:d-E9",
                                std::string(kMaxRecordIdSize, 'x')}) {
    EXPECT_TRUE(ValidRecordId(good)) << good;
    TB_EXPECT_OK(CheckRecordId(good));
  }
  for (const std::string& bad :
       std::vector<std::string>{std::string(), std::string(kMaxRecordIdSize + 1, 'x'),
                                std::string("ent-reward and assistance"), std::string("证明-1"),
                                std::string("a/b"), std::string("a\0b", 3)}) {
    EXPECT_FALSE(ValidRecordId(bad)) << bad;
    const absl::Status s = CheckRecordId(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "record_id: must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
  }
}

// Every value of every enum a clerk reads has a token and both languages'
// words, and tokens read back.
template <typename E>
void ExpectComplete(const google::protobuf::EnumDescriptor* d) {
  SCOPED_TRACE(d->name());
  std::set<std::string> tokens;
  for (int i = 0; i < d->value_count(); ++i) {
    const auto value = static_cast<E>(d->value(i)->number());
    const Word* w = FindWord(value);
    ASSERT_NE(w, nullptr) << d->value(i)->name();
    EXPECT_GT(std::string(w->zh).size(), 0u);
    EXPECT_GT(std::string(w->en).size(), 0u);
    EXPECT_TRUE(tokens.insert(w->token).second) << w->token;
    EXPECT_EQ(FromToken<E>(w->token), value);
  }
  EXPECT_EQ(WordTable<E>().size(), static_cast<size_t>(d->value_count()));
  EXPECT_STREQ(Words(static_cast<E>(99), Lang::kZh), "未知");
  EXPECT_STREQ(Words(static_cast<E>(99), Lang::kEn), "unknown");
  EXPECT_STREQ(Token(static_cast<E>(99)), "unknown");
  EXPECT_EQ(FromToken<E>("no such token"), std::nullopt);
}

TEST(WordsTest, EveryEnumAClerkReadsHasWords) {
  ExpectComplete<v1::RecordKind>(v1::RecordKind_descriptor());
  ExpectComplete<v1::Sex>(v1::Sex_descriptor());
  ExpectComplete<v1::MaritalStatus>(v1::MaritalStatus_descriptor());
  ExpectComplete<v1::ReturnType>(v1::ReturnType_descriptor());
  ExpectComplete<v1::CertificateType>(v1::CertificateType_descriptor());
  ExpectComplete<v1::ServiceType>(v1::ServiceType_descriptor());
  ExpectComplete<v1::EntitlementStatus>(v1::EntitlementStatus_descriptor());
  ExpectComplete<v1::InquiryType>(v1::InquiryType_descriptor());
  ExpectComplete<v1::Operation>(v1::Operation_descriptor());
  ExpectComplete<v1::Purpose>(v1::Purpose_descriptor());
  ExpectComplete<v1::IdFinding>(v1::IdFinding_descriptor());
  ExpectComplete<v1::LinkRole>(v1::LinkRole_descriptor());
}

TEST(WordsTest, WordsAClerkReads) {
  EXPECT_STREQ(Words(v1::INQUIRY_TYPE_URGENT, Lang::kZh), "紧急协查");
  EXPECT_STREQ(Words(v1::INQUIRY_TYPE_URGENT, Lang::kEn), "urgent inquiry");
  EXPECT_STREQ(Words(v1::CERTIFICATE_TYPE_RESIDENCE_PERMIT, Lang::kZh), "居住证");
  EXPECT_STREQ(Words(v1::SERVICE_TYPE_CHILD_IMMUNISATION, Lang::kZh), "儿童预防接种");
  EXPECT_STREQ(Token(v1::SERVICE_TYPE_HEALTH_CHECK), "health-check");
  EXPECT_EQ(FromToken<v1::ReturnType>("returned-home"), v1::RETURN_TYPE_RETURNED_HOME);
  EXPECT_STREQ(Words(v1::PURPOSE_CORRECTION, Lang::kZh), "更正");
  EXPECT_STREQ(Words(v1::ID_FINDING_SEX_MISMATCH, Lang::kZh), "性别与顺序码不符");
  EXPECT_STREQ(Words(Custody::kIssuer, Lang::kZh), "发证地");
  EXPECT_STREQ(Words(WorkflowState::kOverdue, Lang::kZh), "已逾期");
}

// The tokens are what Admin replies, `tongbanctl inquiry list` and the
// deadline metrics' labels have always carried.
TEST(WordsTest, WorkflowStateTokensAreTheStatesAlwaysShown) {
  std::vector<std::string> tokens;
  for (WorkflowState s : AllWorkflowStates()) {
    tokens.push_back(StateToken(s));
    EXPECT_EQ(ParseWorkflowState(StateToken(s)), s);
    EXPECT_GT(std::string(Words(s, Lang::kZh)).size(), 0u);
  }
  EXPECT_EQ(tokens, (std::vector<std::string>{"sent", "received", "open", "answered",
                                              "answered late", "acknowledged", "acknowledged late",
                                              "awaiting feedback", "overdue", "withdrawn"}));
  EXPECT_EQ(ParseWorkflowState("late"), std::nullopt);
  EXPECT_TRUE(IsOpen(WorkflowState::kSent));
  EXPECT_TRUE(IsOpen(WorkflowState::kReceived));
  EXPECT_TRUE(IsOpen(WorkflowState::kOpen));
  EXPECT_TRUE(IsOpen(WorkflowState::kAwaitingFeedback));
  for (WorkflowState s :
       {WorkflowState::kAnswered, WorkflowState::kAnsweredLate, WorkflowState::kAcknowledged,
        WorkflowState::kAcknowledgedLate, WorkflowState::kOverdue, WorkflowState::kWithdrawn}) {
    EXPECT_FALSE(IsOpen(s)) << StateToken(s);
  }
}

}  // namespace
}  // namespace tongban::records
