#include "tongbanctl/files.h"

#include <fcntl.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/crypto/key_file.h"
#include "common/status_macros.h"

namespace tongban::cli {
namespace {

constexpr size_t kMaxFileSize = 64 << 20;

absl::Status ErrnoError(int error, const std::string& path, absl::string_view what) {
  return absl::ErrnoToStatus(error, absl::StrCat(path, ": ", what));
}

absl::Status WriteAll(int fd, absl::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write");
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

void SyncDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Keeps the first error with its position (protobuf counts from 0).
class FirstErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (!first_.empty()) return;
    first_ = line < 0 ? message : absl::StrCat(line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return ErrnoError(errno, path, "cannot open");
  std::string content;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return ErrnoError(error, path, "cannot read");
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > kMaxFileSize) {
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 64 MiB"));
    }
  }
  ::close(fd);
  return content;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view content,
                                 unsigned mode) {
  return crypto::ReplaceFileAtomically(path, content, mode);
}

absl::Status WriteNewFile(const std::string& path, absl::string_view content, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, ": already exists; refusing to overwrite it"));
    }
    return ErrnoError(errno, path, "cannot create");
  }
  absl::Status s = WriteAll(fd, content);
  if (s.ok() && ::fsync(fd) != 0) s = absl::ErrnoToStatus(errno, "fsync");
  if (::close(fd) != 0 && s.ok()) s = absl::ErrnoToStatus(errno, "close");
  if (!s.ok()) {
    ::unlink(path.c_str());
    return Prefixed(path, s);
  }
  SyncDir(path);
  return absl::OkStatus();
}

absl::StatusOr<v1::Roster> ParseRosterText(absl::string_view text, const std::string& path) {
  FirstErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  v1::Roster roster;
  if (!parser.ParseFromString(std::string(text), &roster)) {
    return absl::InvalidArgumentError(errors.first().empty()
                                          ? absl::StrCat(path, ": not a text-format roster")
                                          : absl::StrCat(path, ":", errors.first()));
  }
  return roster;
}

absl::StatusOr<v1::Roster> ReadRosterText(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseRosterText(text, path);
}

std::string FormatRosterText(const v1::Roster& roster) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetUseUtf8StringEscaping(true);
  std::string out =
      "# Tongban federation roster (花名册): text format of tongban.v1.Roster\n"
      "# (proto/tongban/v1/roster.proto). Edit it with `tongbanctl roster add-node`\n"
      "# and `tongbanctl roster set-status`, or by hand; `tongbanctl roster sign`\n"
      "# checks every entry, then signs it with the federation root key. Signing\n"
      "# sets issued_at_micros and raises the version for the next signature.\n"
      "# Rewriting this file keeps only these generated comments.\n\n";
  absl::StrAppend(&out, "version: ", roster.version(), "\n");
  if (roster.issued_at_micros() != 0) {
    absl::StrAppend(
        &out, "# last signed ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(roster.issued_at_micros()),
                         absl::UTCTimeZone()),
        "\n");
  } else {
    absl::StrAppend(&out, "# not signed yet: `roster sign` signs this version first\n");
  }
  absl::StrAppend(&out, "issued_at_micros: ", roster.issued_at_micros(), "\n");
  absl::StrAppend(&out, "federation: ", Quote(roster.federation()), "\n");
  for (const v1::NodeEntry& node : roster.nodes()) {
    std::string body;
    google::protobuf::TextFormat::Printer node_printer;
    node_printer.SetUseUtf8StringEscaping(true);
    node_printer.SetInitialIndentLevel(1);
    node_printer.PrintToString(node, &body);
    absl::StrAppend(&out, "\n# ", node.code(), " ", node.name(), "\nnodes {\n", body, "}\n");
  }
  return out;
}

absl::Status WriteRosterText(const std::string& path, const v1::Roster& roster) {
  return WriteFileAtomically(path, FormatRosterText(roster), 0644);
}

absl::StatusOr<v1::SignedRoster> ReadSignedRoster(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  v1::SignedRoster signed_roster;
  if (!signed_roster.ParseFromString(bytes) || signed_roster.roster().empty() ||
      signed_roster.signature().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a signed roster (want the binary SignedRoster that `roster sign` writes)"));
  }
  return signed_roster;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

absl::Status RefuseExisting(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    if (Exists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, ": already exists; refusing to overwrite it"));
    }
  }
  return absl::OkStatus();
}

absl::Status EnsureDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) == 0) return absl::OkStatus();
  const int error = errno;
  struct stat st;
  if (error == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::OkStatus();
  }
  return absl::ErrnoToStatus(error, absl::StrCat(dir, ": cannot create folder"));
}

}  // namespace tongban::cli
