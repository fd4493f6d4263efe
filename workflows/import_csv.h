// Bulk import of a county register (`tongbanctl import`): reads a CSV file
// of persons and records and turns each row into a WriteRequest, or into
// findings naming the file, line, column and reason. Pure: no network, no
// clock (today is passed in), so it is unit-tested on its own.
//
// Format (README "Import file format"):
//   file    := header LF { row LF }       RFC 4180: fields separated by ',',
//                                         a field may be quoted with '"' and
//                                         then hold ',', '"' (doubled) and
//                                         line breaks; CRLF or LF.
//   header  := column names, each known (kColumns), each at most once;
//              "kind" and "person" are required.
//   row     := as many fields as the header.
//   kind    := person | outflow | inflow | service | return | certificate
//              | entitlement
//   facts   := NAME "=" VALUE { ";" NAME "=" VALUE }   (certificate rows)
// Encodings: UTF-8 (an initial BOM is skipped) or GB18030 (converted with
// glibc's iconv, workflows/csv.h). GB18030's trail bytes never equal ',', '"', CR or LF, so
// each physical line is converted on its own.
//
// A row with any rejected finding produces no WriteRequest: a row is
// written whole or not at all. Citizen IDs appear masked in every reason.
//
// Thread safety: an ImportReader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "tongban/v1/admin.pb.h"
#include "workflows/csv.h"

namespace tongban::workflows {

// Most rows one Import call may carry (the node's AdminApi::kMaxImportBatch).
inline constexpr int kMaxImportBatchRows = 10000;

// Every column the format knows, in the order the README lists them.
const std::vector<std::string>& ImportColumns();

struct ImportFinding {
  std::string file;
  uint64_t line = 0;     // 1-based physical line where the row starts
  std::string column;    // a column name, or "" for the whole row
  std::string reason;    // starts "rejected: " or "flagged: "; IDs masked
  bool rejected = true;  // false: flagged, the row may still be written
};

// One row of the report: file,line,column,reason (RFC 4180 quoted as needed).
std::string FindingCsvLine(const ImportFinding& f);
inline constexpr char kFindingCsvHeader[] = "file,line,column,reason";

struct ImportRow {
  uint64_t line = 0;
  v1::WriteRequest request;
  bool has_id_findings = false;  // graded ID findings (flagged)
};

class ImportReader {
 public:
  // Reads and checks the header of `in` (not owned; outlives the reader).
  // `file` names the file in findings. A bad header (unknown, duplicate or
  // missing required column, broken encoding, empty file) gives
  // kInvalidArgument "FILE line 1: ..." naming the column.
  static absl::StatusOr<std::unique_ptr<ImportReader>> Open(std::string file, std::istream* in,
                                                            Encoding encoding,
                                                            absl::CivilDay today);

  // Reads the next row. Returns false at the end of the file. Otherwise
  // appends the row's findings to `findings` and returns true; `row` is set
  // unless a finding rejected the row.
  bool Next(std::optional<ImportRow>* row, std::vector<ImportFinding>* findings);

  // Bytes of the file consumed so far (for progress).
  uint64_t bytes_read() const { return bytes_read_; }
  // The last physical line consumed.
  uint64_t line() const { return line_; }

  ~ImportReader();

 private:
  ImportReader(std::string file, std::istream* in, Encoding encoding, absl::CivilDay today);
  // Reads one CSV record (maybe several physical lines) as UTF-8 fields.
  // Returns false at the end. `encoding_error` is set on a broken sequence.
  bool ReadRecord(std::vector<std::string>* fields, uint64_t* first_line,
                  std::string* encoding_error);
  bool ReadLine(std::string* line, std::string* encoding_error);

  const std::string file_;
  std::istream* const in_;  // Not owned.
  const Encoding encoding_;
  const absl::CivilDay today_;
  std::unique_ptr<Transcoder> from_gb_;  // for GB18030 input
  std::vector<int> column_of_;           // header position -> index in ImportColumns()
  uint64_t bytes_read_ = 0;
  uint64_t line_ = 0;
};

}  // namespace tongban::workflows
