// A small PostgreSQL client over libpq (Debian's libpq-dev): one
// connection, commands and queries with text parameters, and COPY ... FROM
// STDIN. analytics/pg.cc is the only file of the project that includes
// libpq.
//
// Errors are absl::Status with PostgreSQL's primary message and SQLSTATE
// ("analytics: relation \"x\" does not exist (SQLSTATE 42P01)"), never its
// DETAIL or the statement, which may quote row values:
//   kUnavailable        no connection, the connection broke, the server is
//                       shutting down or refused it (SQLSTATE classes 08,
//                       57, 53): worth retrying later
//   kDeadlineExceeded   the statement was cancelled (statement_timeout or
//                       Cancel)
//   kInvalidArgument    a malformed connection string
//   kInternal           any other SQL error
//
// Thread safety: one thread uses a connection at a time; Cancel may be
// called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tongban::analytics {

// The rows of a query, as text (NULL is nullopt).
class PgRows {
 public:
  size_t size() const { return rows_.size(); }
  size_t columns() const { return columns_; }
  const std::optional<std::string>& at(size_t row, size_t column) const {
    return rows_[row][column];
  }
  // The value as text ("" for NULL).
  std::string text(size_t row, size_t column) const { return at(row, column).value_or(""); }
  // The value as an integer; 0 for NULL or something else.
  int64_t integer(size_t row, size_t column) const;

 private:
  friend class PgConnection;
  size_t columns_ = 0;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

class PgConnection {
 public:
  // Connects with `conninfo` (libpq's "key=value ..." or a postgresql://
  // URI), giving up after `timeout` unless the string sets connect_timeout.
  // `application_name` shows in pg_stat_activity.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo,
                                                               absl::Duration timeout,
                                                               const std::string& application_name);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs `sql` (one or more statements, no parameters) and discards rows.
  absl::Status Exec(const std::string& sql);
  // Runs one statement with text parameters $1, $2, ... (nullopt: NULL).
  absl::StatusOr<PgRows> Query(const std::string& sql,
                               const std::vector<std::optional<std::string>>& params = {});
  // Runs `copy` (a COPY ... FROM STDIN statement) and sends `data`, in its
  // text format, as the input.
  absl::Status CopyIn(const std::string& copy, absl::string_view data);

  // Asks the server to cancel the statement running now, if any.
  void Cancel() ABSL_LOCKS_EXCLUDED(cancel_mu_);
  // False once the connection broke (then reconnect).
  bool healthy() const;
  // The server's version number (150018 for 15.18).
  int server_version() const;

 private:
  struct Impl;
  explicit PgConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  absl::Mutex cancel_mu_;
};

// `value` as a quoted SQL literal ('it''s'), for statements built in code.
std::string QuoteLiteral(absl::string_view value);

}  // namespace tongban::analytics
