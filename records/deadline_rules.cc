#include "records/deadline_rules.h"

#include "absl/strings/str_cat.h"

namespace tongban::records {

uint32_t DeadlineRules::InquiryDays(v1::InquiryType type) const {
  switch (type) {
    case v1::INQUIRY_TYPE_URGENT: return urgent_days;
    case v1::INQUIRY_TYPE_CERTIFICATE_MISMATCH: return certificate_mismatch_days;
    default: return normal_days;
  }
}

const DeadlineRules& Deadlines::For(absl::string_view to) const {
  if (to.size() == 6) {
    auto it = provinces.find(absl::StrCat(to.substr(0, 2), "0000"));
    if (it != provinces.end()) return it->second;
  }
  return defaults;
}

}  // namespace tongban::records
