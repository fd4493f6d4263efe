#include "records/validate.h"

#include "gtest/gtest.h"
#include "tests/testutil/records.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::records {
namespace {

const absl::CivilDay kToday(2026, 11, 30);

void ExpectInvalid(v1::RecordKind kind, const v1::RecordValue& v, absl::string_view field,
                   absl::string_view problem) {
  const absl::Status s = ValidateRecordValue(kind, v, kToday);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(field), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find(problem), absl::string_view::npos) << s;
}

TEST(ValidateTest, ValidRecordsPass) {
  TB_EXPECT_OK(ValidateRecordValue(v1::RECORD_KIND_PERSON_BASICS,
                                   testutil::Basics("11010519491231002X", "Test").value, kToday));
  TB_EXPECT_OK(
      ValidateRecordValue(v1::RECORD_KIND_INFLOW, testutil::Inflow("x", "620102").value, kToday));
}

TEST(ValidateTest, DatesNameFieldAndProblem) {
  v1::RecordValue v = testutil::Inflow("x", "620102").value;
  *v.mutable_inflow()->mutable_arrived_on() = testutil::Day(2026, 2, 30);
  ExpectInvalid(v1::RECORD_KIND_INFLOW, v, "inflow.arrived_on",
                "2026-02-30 is not a calendar date");
  *v.mutable_inflow()->mutable_arrived_on() = testutil::Day(2027, 1, 1);
  ExpectInvalid(v1::RECORD_KIND_INFLOW, v, "inflow.arrived_on", "in the future");
  *v.mutable_inflow()->mutable_arrived_on() = testutil::Day(2026, 3, 20);
  ExpectInvalid(v1::RECORD_KIND_INFLOW, v, "inflow.registered_on", "before inflow.arrived_on");
  v1::RecordValue none = testutil::Inflow("x", "620102").value;
  none.mutable_inflow()->clear_arrived_on();
  ExpectInvalid(v1::RECORD_KIND_INFLOW, none, "inflow.arrived_on", "missing");
}

TEST(ValidateTest, RegionCodesAreChecked) {
  v1::RecordValue v = testutil::Inflow("x", "620102").value;
  v.mutable_inflow()->set_origin_county("999999");
  ExpectInvalid(v1::RECORD_KIND_INFLOW, v, "inflow.origin_county", "999999");
  v.mutable_inflow()->set_origin_county("62010");
  ExpectInvalid(v1::RECORD_KIND_INFLOW, v, "inflow.origin_county", "");
}

TEST(ValidateTest, NestedIdsMustBeWellFormedAndAreMasked) {
  v1::RecordValue v = testutil::Basics("11010519491231002X", "Test").value;
  v.mutable_person_basics()->set_spouse_citizen_id("1101051949123100");
  const absl::Status s = ValidateRecordValue(v1::RECORD_KIND_PERSON_BASICS, v, kToday);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("person_basics.spouse_citizen_id"), absl::string_view::npos);
  EXPECT_EQ(s.message().find("1101051949123100"), absl::string_view::npos) << s;
}

TEST(ValidateTest, KindMustMatchValue) {
  ExpectInvalid(v1::RECORD_KIND_OUTFLOW, testutil::Inflow("x", "620102").value, "payload",
                "outflow");
  ExpectInvalid(static_cast<v1::RecordKind>(99), v1::RecordValue(), "kind", "99");
}

}  // namespace
}  // namespace tongban::records
