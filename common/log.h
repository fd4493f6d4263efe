// Structured logging to stderr, one line per entry:
//   2026-11-30T05:42:13.123456Z INFO storage/log_store.cc:88 opened log origin=620102
// Call sites stream key=value pairs; the backend can become spdlog without
// touching them. Never log payloads or personal identifiers: log event ids
// and sequence numbers, and mask ID numbers with ids::MaskId().
//
// Thread safety: safe; each entry is written with one write(2).
#pragma once

#include <atomic>
#include <sstream>

namespace tongban {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Entries below this level are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);
LogLevel MinLogLevel();

class LogMessage {
 public:
  LogMessage(LogLevel level, const char* file, int line);
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace tongban

#define TB_LOG_DEBUG ::tongban::LogLevel::kDebug
#define TB_LOG_INFO ::tongban::LogLevel::kInfo
#define TB_LOG_WARNING ::tongban::LogLevel::kWarning
#define TB_LOG_ERROR ::tongban::LogLevel::kError
#define TB_LOG(level)                              \
  if (TB_LOG_##level < ::tongban::MinLogLevel()) { \
  } else                                           \
    ::tongban::LogMessage(TB_LOG_##level, __FILE__, __LINE__).stream()
