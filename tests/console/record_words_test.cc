// The console's catalogs take the records' words from records/words.h
// (console/record_words.h): one home for what a clerk reads of a record.
#include "console/record_words.h"

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace tongban::console {
namespace {

google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

std::string Field(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "<missing>" : it->second.string_value();
}

TEST(RecordWordsTest, MergesTheRecordsWordsInEachLanguageKeepingTheCatalogs) {
  const std::string catalog = R"({"page.due": "待办", "enum.NODE_STATUS_ACTIVE": "正常"})";
  absl::StatusOr<std::string> zh = MergeRecordWords(catalog, records::Lang::kZh);
  ASSERT_TRUE(zh.ok()) << zh.status();
  const google::protobuf::Struct z = Parse(*zh);
  EXPECT_EQ(Field(z, "page.due"), "待办");
  EXPECT_EQ(Field(z, "enum.NODE_STATUS_ACTIVE"), "正常");
  EXPECT_EQ(Field(z, "enum.INQUIRY_TYPE_URGENT"),
            records::Words(v1::INQUIRY_TYPE_URGENT, records::Lang::kZh));
  EXPECT_EQ(Field(z, "enum.RECORD_KIND_OUTFLOW"),
            records::Words(v1::RECORD_KIND_OUTFLOW, records::Lang::kZh));
  EXPECT_EQ(Field(z, "state.answered_late"), "逾期反馈");
  EXPECT_EQ(z.fields().count("enum.INQUIRY_TYPE_UNSPECIFIED"), 0u);

  absl::StatusOr<std::string> en = MergeRecordWords(catalog, records::Lang::kEn);
  ASSERT_TRUE(en.ok()) << en.status();
  EXPECT_EQ(Field(Parse(*en), "enum.INQUIRY_TYPE_URGENT"), "urgent inquiry");
  EXPECT_EQ(Field(Parse(*en), "state.answered_late"), "answered late");
}

TEST(RecordWordsTest, RefusesACatalogThatHoldsARecordWordOrIsNotAnObject) {
  absl::StatusOr<std::string> dup =
      MergeRecordWords(R"({"enum.SEX_FEMALE": "女"})", records::Lang::kZh);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("enum.SEX_FEMALE"), std::string::npos) << dup.status();
  EXPECT_FALSE(MergeRecordWords("[1, 2]", records::Lang::kZh).ok());
  EXPECT_FALSE(MergeRecordWords("{\"a\": ", records::Lang::kZh).ok());
}

}  // namespace
}  // namespace tongban::console
