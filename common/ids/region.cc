#include "common/ids/region.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/ids/region_data.h"

namespace tongban::ids {
namespace {

// The compiled table (common/ids/region_data.h), parsed once.
struct Table {
  std::vector<Region> regions;  // sorted by code, unique
  size_t current_counties = 0;
  size_t retired_counties = 0;
  // First four digits of every current county-level code, sorted, unique: a
  // current prefecture-level code not in here is a city without counties.
  std::vector<std::string> prefectures_with_counties;
};

bool IsSixDigits(absl::string_view code) {
  return code.size() == 6 && std::all_of(code.begin(), code.end(), absl::ascii_isdigit);
}

// The table is compiled in, so a bad line is our bug (a hand-edited
// regions.tsv), not something a caller can handle.
[[noreturn]] void BadTable(size_t line, absl::string_view why) {
  std::fprintf(stderr, "tongban: data/regions.tsv line %zu: %.*s\n", line,
               static_cast<int>(why.size()), why.data());
  std::abort();
}

Table Parse(absl::string_view tsv) {
  Table table;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(tsv, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1) {
      if (line != "code\tname\tlevel\tcurrent\tfirst_year\tlast_year") {
        BadTable(line_no, "unexpected header");
      }
      continue;
    }
    if (line.empty()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, '\t');
    if (f.size() != 6) BadTable(line_no, "want 6 tab-separated fields");
    Region r;
    if (!IsSixDigits(f[0])) BadTable(line_no, "code is not six digits");
    r.code = std::string(f[0]);
    if (f[1].empty()) BadTable(line_no, "empty name");
    r.name = std::string(f[1]);
    if (f[2] == "province") {
      r.level = RegionLevel::kProvince;
    } else if (f[2] == "prefecture") {
      r.level = RegionLevel::kPrefecture;
    } else if (f[2] == "county") {
      r.level = RegionLevel::kCounty;
    } else {
      BadTable(line_no, "unknown level");
    }
    if (f[3] != "0" && f[3] != "1") BadTable(line_no, "current is not 0 or 1");
    r.current = f[3] == "1";
    if (!absl::SimpleAtoi(f[4], &r.first_year) || !absl::SimpleAtoi(f[5], &r.last_year) ||
        r.first_year > r.last_year) {
      BadTable(line_no, "bad first_year/last_year");
    }
    if (!r.current && r.last_year == 0) {
      BadTable(line_no, "neither current nor in any revision");
    }
    if (!table.regions.empty() && table.regions.back().code >= r.code) {
      BadTable(line_no, "codes not sorted and unique");
    }
    if (r.level == RegionLevel::kCounty) {
      if (r.current) {
        ++table.current_counties;
        std::vector<std::string>& p = table.prefectures_with_counties;
        // Codes arrive sorted, so equal prefixes are adjacent.
        if (p.empty() || p.back() != r.code.substr(0, 4)) {
          p.push_back(r.code.substr(0, 4));
        }
      } else {
        ++table.retired_counties;
      }
    }
    table.regions.push_back(std::move(r));
  }
  if (table.regions.empty()) BadTable(line_no, "no regions");
  return table;
}

const Table& GetTable() {
  // Thread-safe initialisation (C++11 magic statics); never freed.
  static const Table* const table = new Table(Parse(internal::RegionTableTsv()));
  return *table;
}

const Region* Lookup(absl::string_view code) {
  const std::vector<Region>& regions = GetTable().regions;
  auto it = std::lower_bound(regions.begin(), regions.end(), code,
                             [](const Region& r, absl::string_view c) { return r.code < c; });
  if (it == regions.end() || it->code != code) return nullptr;
  return &*it;
}

bool IsDevelopmentZone(absl::string_view six_digits) {
  const int county = (six_digits[4] - '0') * 10 + (six_digits[5] - '0');
  return county >= 71 && county <= 80;
}

// Region codes are not personal data, but a wrong field may hold a whole
// citizen ID: quote short values only.
std::string Quoted(absl::string_view code) {
  if (code.size() <= 8) return absl::StrCat("\"", absl::CHexEscape(code), "\"");
  return absl::StrCat("\"", absl::CHexEscape(code.substr(0, 6)), "...\" (", code.size(), " bytes)");
}

absl::Status Invalid(absl::string_view code, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("region code ", Quoted(code), ": ", problem));
}

// Shared by both validators once `code` is six digits and not "000000".
// Accepts a current county-level code, a current prefecture-level city that
// has no county-level units, and (if `allow_province`) a current province.
absl::Status ValidateRegion(absl::string_view code, bool allow_province) {
  if (IsDevelopmentZone(code)) {
    return Invalid(code,
                   "a statistical development zone (positions 5-6 in 71-80), "
                   "not a GB/T 2260 code");
  }
  const Region* r = Lookup(code);
  if (r == nullptr) return Invalid(code, "unknown: in no GB/T 2260 revision");
  if (!r->current) {
    return Invalid(code, absl::StrCat("retired since ", r->last_year, " (last listed in the ",
                                      r->last_year, " revision of GB/T 2260)"));
  }
  switch (r->level) {
    case RegionLevel::kCounty: return absl::OkStatus();
    case RegionLevel::kProvince:
      if (allow_province) return absl::OkStatus();
      return Invalid(code, "a province, not a county-level code");
    case RegionLevel::kPrefecture:
      if (!std::binary_search(GetTable().prefectures_with_counties.begin(),
                              GetTable().prefectures_with_counties.end(), code.substr(0, 4))) {
        return absl::OkStatus();  // A city without counties, e.g. 441900.
      }
      return Invalid(code, "a prefecture with counties, not a county-level code");
  }
  return Invalid(code, "unknown level");  // Unreachable.
}

}  // namespace

std::optional<Region> FindRegion(absl::string_view code) {
  const Region* r = Lookup(code);
  if (r == nullptr) return std::nullopt;
  return *r;
}

size_t RegionCount() { return GetTable().regions.size(); }
size_t CurrentCountyCount() { return GetTable().current_counties; }
size_t RetiredCountyCount() { return GetTable().retired_counties; }

absl::Status ValidateNodeCode(absl::string_view code) {
  if (!IsSixDigits(code)) return Invalid(code, "not six digits");
  if (code == "000000") return absl::OkStatus();  // The national platform.
  return ValidateRegion(code, /*allow_province=*/true);
}

absl::Status ValidateCurrentCountyCode(absl::string_view code) {
  if (!IsSixDigits(code)) return Invalid(code, "not six digits");
  if (code == "000000") {
    return Invalid(code, "the national node, not a county-level code");
  }
  return ValidateRegion(code, /*allow_province=*/false);
}

}  // namespace tongban::ids
