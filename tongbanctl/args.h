// Command-line flags for one tongbanctl subcommand. Each subcommand declares
// its flags; anything else is a usage error. absl::flags is not used because
// its flags are process-global, while each subcommand has its own set.
//
// Accepted forms: "--name value", "--name=value", "--switch" for flags
// without a value; "--" ends the flags. Every subcommand accepts --help.
//
// Thread safety: none needed; built and read on the main thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban::cli {

struct FlagSpec {
  std::string name;  // without the leading "--"
  bool takes_value = true;
  bool repeated = false;  // may be given more than once
};

class Args {
 public:
  // Parses `argv` (the words after the subcommand) against `specs`.
  // kInvalidArgument for an unknown flag, a missing value, a repeated
  // single-valued flag, or an unexpected positional argument count.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& argv,
                                    const std::vector<FlagSpec>& specs, size_t min_positional,
                                    size_t max_positional);

  bool Has(absl::string_view name) const;
  // The value of a single-valued flag, or `fallback` when absent.
  std::string Get(absl::string_view name, absl::string_view fallback = "") const;
  // Every value of a repeated flag, in order.
  std::vector<std::string> GetAll(absl::string_view name) const;
  // kInvalidArgument "missing --name" when absent or empty.
  absl::StatusOr<std::string> Required(absl::string_view name) const;
  // A decimal integer in [min, max]; `fallback` when absent.
  absl::StatusOr<long long> GetInt(absl::string_view name, long long fallback, long long min,
                                   long long max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
  std::vector<std::string> positional_;
};

}  // namespace tongban::cli
