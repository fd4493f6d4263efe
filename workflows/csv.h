// CSV fields and text encodings shared by tongbanctl's spreadsheet files:
// bulk import reads them (workflows/import_csv.h), ledger export writes them
// (workflows/ledger.h). Spreadsheet programs in China open CSV as UTF-8 only
// when it starts with a BOM, and otherwise as the system's code page
// (GBK/GB18030), hence the two encodings.
//
// Thread safety: free functions are safe; a Transcoder is used by one thread
// at a time.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tongban::workflows {

enum class Encoding { kUtf8, kGb18030 };

// "utf-8" / "utf8" / "gb18030" (case-insensitive); kInvalidArgument otherwise.
absl::StatusOr<Encoding> ParseEncoding(absl::string_view name);

// The UTF-8 byte order mark, which tells spreadsheet programs the encoding.
inline constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";

// `field` as one RFC 4180 field: unchanged unless it holds ',', '"', CR or
// LF; then quoted, with each '"' doubled.
std::string CsvField(absl::string_view field);

// Converts text between two encodings with glibc's iconv.
class Transcoder {
 public:
  // `to` and `from` are iconv names ("UTF-8", "GB18030"). kInternal if this
  // system's iconv cannot convert between them.
  static absl::StatusOr<std::unique_ptr<Transcoder>> Open(const char* to, const char* from);
  Transcoder(const Transcoder&) = delete;
  Transcoder& operator=(const Transcoder&) = delete;
  ~Transcoder();

  // Converts the whole of `in` into `*out`. Returns npos on success, else
  // the offset in `in` of the first byte that cannot be converted (an
  // invalid or cut-off sequence, or a character `to` cannot represent);
  // `*out` then holds the conversion up to that byte.
  size_t Convert(absl::string_view in, std::string* out);

 private:
  explicit Transcoder(void* cd) : cd_(cd) {}
  void* const cd_;  // iconv_t
};

// UTF-8 `text` in `encoding`: unchanged for kUtf8 (no BOM added), converted
// for kGb18030. kInvalidArgument naming the byte if `text` is not valid
// UTF-8; kInternal if iconv is missing the conversion.
absl::StatusOr<std::string> EncodeUtf8(absl::string_view text, Encoding encoding);

}  // namespace tongban::workflows
