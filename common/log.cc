#include "common/log.h"

#include <unistd.h>

#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tongban {
namespace {
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

// Paths are logged from the repository root ("storage/log_store.cc").
const char* ShortPath(const char* file) {
  static constexpr const char* kRoots[] = {"/common/", "/storage/", "/sync/",
                                           "/node/",   "/tests/",   "/bench/"};
  const char* best = file;
  for (const char* root : kRoots) {
    const char* p = strstr(file, root);
    if (p != nullptr && p + 1 > best) best = p + 1;
  }
  return best;
}
}  // namespace

void SetMinLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }
LogLevel MinLogLevel() { return static_cast<LogLevel>(g_min_level.load()); }

LogMessage::LogMessage(LogLevel level, const char* file, int line) {
  stream_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()) << ' '
          << LevelName(level) << ' ' << ShortPath(file) << ':' << line << ' ';
}

LogMessage::~LogMessage() {
  stream_ << '\n';
  const std::string line = stream_.str();
  // One write so concurrent entries do not interleave; a short write to
  // stderr is not worth failing over.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace tongban
