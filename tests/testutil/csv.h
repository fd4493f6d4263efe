// Reading the CSV files tongbanctl writes, in tests: RFC 4180 records as
// maps from column name to value.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace tongban::testutil {

using CsvRecord = std::map<std::string, std::string>;

// One CSV record's fields (RFC 4180; no line breaks inside fields).
inline std::vector<std::string> CsvFields(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  return fields;
}

// The records of a UTF-8 ledger file (a BOM, CRLF line ends, a header whose
// cells are "中文名 English name"), keyed by the English names. Checks the
// framing as it goes (gtest failures).
inline std::vector<CsvRecord> LedgerRecords(absl::string_view csv) {
  EXPECT_TRUE(absl::StartsWith(csv, "\xEF\xBB\xBF")) << "no UTF-8 BOM";
  if (absl::StartsWith(csv, "\xEF\xBB\xBF")) csv.remove_prefix(3);
  EXPECT_TRUE(absl::EndsWith(csv, "\r\n"));
  std::vector<std::string> lines = absl::StrSplit(csv, "\r\n");
  lines.pop_back();  // after the last CRLF
  if (lines.empty()) return {};
  std::vector<std::string> names;
  for (const std::string& cell : CsvFields(lines.front())) {
    names.push_back(cell.substr(cell.find(' ') + 1));
  }
  std::vector<CsvRecord> records;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find('\n'), std::string::npos) << "a bare LF in line " << i;
    const std::vector<std::string> fields = CsvFields(lines[i]);
    EXPECT_EQ(fields.size(), names.size()) << lines[i];
    CsvRecord record;
    for (size_t k = 0; k < fields.size() && k < names.size(); ++k) record[names[k]] = fields[k];
    records.push_back(std::move(record));
  }
  return records;
}

// The values of the columns `want` names, to compare with `want` whole (a
// failure then shows every differing column at once).
inline CsvRecord Only(const CsvRecord& record, const CsvRecord& want) {
  CsvRecord got;
  for (const auto& [column, value] : want) {
    auto it = record.find(column);
    got[column] = it == record.end() ? "<no such column>" : it->second;
  }
  return got;
}

}  // namespace tongban::testutil
