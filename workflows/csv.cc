#include "workflows/csv.h"

#include <iconv.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tongban::workflows {

absl::StatusOr<Encoding> ParseEncoding(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "utf-8" || n == "utf8") return Encoding::kUtf8;
  if (n == "gb18030") return Encoding::kGb18030;
  return absl::InvalidArgumentError(
      absl::StrCat("--encoding \"", name, "\" is not one of: utf-8, gb18030"));
}

std::string CsvField(absl::string_view field) {
  if (field.find_first_of(",\"\r\n") == absl::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

absl::StatusOr<std::unique_ptr<Transcoder>> Transcoder::Open(const char* to, const char* from) {
  iconv_t cd = iconv_open(to, from);
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    return absl::InternalError(
        absl::StrCat("iconv cannot convert ", from, " to ", to, " on this system"));
  }
  return std::unique_ptr<Transcoder>(new Transcoder(cd));
}

Transcoder::~Transcoder() { iconv_close(static_cast<iconv_t>(cd_)); }

size_t Transcoder::Convert(absl::string_view in, std::string* out) {
  auto cd = static_cast<iconv_t>(cd_);
  iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset the shift state
  out->assign(in.size() * 2 + 16, '\0');
  // iconv's input is char** though it does not write through it.
  char* src = const_cast<char*>(in.data());
  size_t src_left = in.size();
  char* dst = out->data();
  size_t dst_left = out->size();
  while (src_left > 0) {
    if (iconv(cd, &src, &src_left, &dst, &dst_left) != static_cast<size_t>(-1)) break;
    if (errno == E2BIG) {
      const size_t used = out->size() - dst_left;
      out->resize(out->size() * 2);
      dst = out->data() + used;
      dst_left = out->size() - used;
      continue;
    }
    out->resize(out->size() - dst_left);
    return in.size() - src_left;  // EILSEQ, or EINVAL: a sequence cut off
  }
  out->resize(out->size() - dst_left);
  return absl::string_view::npos;
}

absl::StatusOr<std::string> EncodeUtf8(absl::string_view text, Encoding encoding) {
  if (encoding == Encoding::kUtf8) return std::string(text);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<Transcoder> to_gb, Transcoder::Open("GB18030", "UTF-8"));
  std::string out;
  const size_t bad = to_gb->Convert(text, &out);
  if (bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid UTF-8 at byte ", bad + 1, "; cannot convert to GB18030"));
  }
  return out;
}

}  // namespace tongban::workflows
