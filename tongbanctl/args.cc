#include "tongbanctl/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tongban::cli {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& argv,
                                 const std::vector<FlagSpec>& specs, size_t min_positional,
                                 size_t max_positional) {
  Args args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (flags_done || !absl::StartsWith(word, "-") || word == "-") {
      args.positional_.push_back(word);
      continue;
    }
    if (word == "--") {
      flags_done = true;
      continue;
    }
    if (!absl::StartsWith(word, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", word, " (flags are spelled --name)"));
    }
    std::string name = word.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_inline_value = true;
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (s.name == name) spec = &s;
    }
    if (name == "help") {
      static const FlagSpec kHelp{"help", false, false};
      spec = &kHelp;
    }
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (spec->takes_value && !has_inline_value) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
      value = argv[++i];
    } else if (!spec->takes_value && has_inline_value) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
    }
    std::vector<std::string>& slot = args.values_[name];
    if (!slot.empty() && !spec->repeated) {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " is given twice"));
    }
    slot.push_back(std::move(value));
  }
  if (args.Has("help")) return args;  // The caller prints help; nothing else matters.
  if (args.positional_.size() < min_positional || args.positional_.size() > max_positional) {
    if (max_positional == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", args.positional_.front(), "\""));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", min_positional == max_positional ? "" : "at least ", min_positional,
        " argument", min_positional == 1 ? "" : "s", ", got ", args.positional_.size()));
  }
  return args;
}

bool Args::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

std::string Args::Get(absl::string_view name, absl::string_view fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string(fallback) : it->second.back();
}

std::vector<std::string> Args::GetAll(absl::string_view name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>() : it->second;
}

absl::StatusOr<std::string> Args::Required(absl::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.back().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("missing --", name));
  }
  return it->second.back();
}

absl::StatusOr<long long> Args::GetInt(absl::string_view name, long long fallback, long long min,
                                       long long max) const {
  if (!Has(name)) return fallback;
  const std::string text = Get(name);
  long long value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " \"", text, "\" is not an integer in ", min, "..", max));
  }
  return value;
}

}  // namespace tongban::cli
