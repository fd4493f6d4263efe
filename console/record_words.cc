#include "console/record_words.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace tongban::console {
namespace {

using records::Lang;

// "enum.<VALUE_NAME>" for every row of E's table but UNSPECIFIED.
template <typename E>
void AddEnum(const google::protobuf::EnumDescriptor* d, Lang lang,
             std::map<std::string, std::string>* out) {
  for (const records::Word& w : records::WordTable<E>()) {
    const google::protobuf::EnumValueDescriptor* v = d->FindValueByNumber(w.value);
    if (v == nullptr || w.value == 0) continue;
    (*out)[absl::StrCat("enum.", v->name())] = lang == Lang::kZh ? w.zh : w.en;
  }
}

std::map<std::string, std::string> RecordWords(Lang lang) {
  std::map<std::string, std::string> out;
  AddEnum<v1::RecordKind>(v1::RecordKind_descriptor(), lang, &out);
  AddEnum<v1::Sex>(v1::Sex_descriptor(), lang, &out);
  AddEnum<v1::MaritalStatus>(v1::MaritalStatus_descriptor(), lang, &out);
  AddEnum<v1::ReturnType>(v1::ReturnType_descriptor(), lang, &out);
  AddEnum<v1::CertificateType>(v1::CertificateType_descriptor(), lang, &out);
  AddEnum<v1::ServiceType>(v1::ServiceType_descriptor(), lang, &out);
  AddEnum<v1::EntitlementStatus>(v1::EntitlementStatus_descriptor(), lang, &out);
  AddEnum<v1::InquiryType>(v1::InquiryType_descriptor(), lang, &out);
  AddEnum<v1::Operation>(v1::Operation_descriptor(), lang, &out);
  AddEnum<v1::Purpose>(v1::Purpose_descriptor(), lang, &out);
  AddEnum<v1::IdFinding>(v1::IdFinding_descriptor(), lang, &out);
  AddEnum<v1::LinkRole>(v1::LinkRole_descriptor(), lang, &out);
  for (records::WorkflowState s : records::AllWorkflowStates()) {
    out[absl::StrCat("state.", absl::StrReplaceAll(records::StateToken(s), {{" ", "_"}}))] =
        records::Words(s, lang);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> MergeRecordWords(absl::string_view catalog_json, Lang lang) {
  google::protobuf::Struct catalog;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(catalog_json.data(), catalog_json.size()), &catalog);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a JSON object of messages: ", parsed.message().as_string()));
  }
  for (const auto& [key, text] : RecordWords(lang)) {
    if (catalog.fields().count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(key, " is records/words.h's; the catalog must not hold it too"));
    }
    (*catalog.mutable_fields())[key].set_string_value(text);
  }
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  const auto printed = google::protobuf::util::MessageToJsonString(catalog, &out, options);
  if (!printed.ok()) return absl::InternalError(printed.message().as_string());
  return out;
}

}  // namespace tongban::console
