// Status helpers used across every layer. Debian 12's Abseil (20220623) has
// absl::Status but no status_macros.h; newer Abseil's ABSL_RETURN_IF_ERROR
// has the same shape, so these can be swapped later.
//
// Use each macro only as a whole statement.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TB_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status tb_status_ = (expr);      \
    if (!tb_status_.ok()) return tb_status_; \
  } while (false)

#define TB_ASSIGN_OR_RETURN(lhs, expr) \
  TB_ASSIGN_OR_RETURN_IMPL_(TB_CONCAT_(tb_statusor_, __LINE__), lhs, expr)
#define TB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()
#define TB_CONCAT_(a, b) TB_CONCAT_INNER_(a, b)
#define TB_CONCAT_INNER_(a, b) a##b

namespace tongban {

// Returns `status` with `prefix + ": "` before its message, keeping the code.
// Used when an error crosses a layer ("log 620102: ...").
inline absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), std::string(prefix) + ": " + std::string(status.message()));
}

}  // namespace tongban
