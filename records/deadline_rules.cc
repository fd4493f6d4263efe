#include "records/deadline_rules.h"

#include "absl/strings/str_cat.h"

namespace tongban::records {

const DeadlineRules& Deadlines::For(absl::string_view to) const {
  if (to.size() == 6) {
    auto it = provinces.find(absl::StrCat(to.substr(0, 2), "0000"));
    if (it != provinces.end()) return it->second;
  }
  return defaults;
}

}  // namespace tongban::records
