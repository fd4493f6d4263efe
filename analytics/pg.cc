#include "analytics/pg.h"

#include <libpq-fe.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tongban::analytics {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's messages end in a newline, and some hold a hint on a line of its
// own ("...failed: Connection refused\n\tIs the server running..."): one
// line, the parts joined by "; ", so that a log line or a command's error
// stays one line.
std::string Trimmed(const char* message) {
  absl::string_view m = message == nullptr ? "" : message;
  std::vector<std::string> parts;
  for (absl::string_view line : absl::StrSplit(m, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) parts.emplace_back(line);
  }
  return absl::StrJoin(parts, "; ");
}

absl::Status ConnectionError(PGconn* conn, absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("analytics: ", what, ": ", Trimmed(PQerrorMessage(conn))));
}

// The status of a failed result: the primary message and SQLSTATE only.
absl::Status ResultError(PGconn* conn, const PGresult* result) {
  const char* state = result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary =
      result == nullptr ? nullptr : PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (state == nullptr || primary == nullptr) {
    // No server error: the connection broke or libpq failed locally.
    return ConnectionError(conn, "connection");
  }
  const std::string message = absl::StrCat("analytics: ", primary, " (SQLSTATE ", state, ")");
  const absl::string_view s(state);
  if (absl::StartsWith(s, "08") || absl::StartsWith(s, "57P") || absl::StartsWith(s, "53")) {
    return absl::UnavailableError(message);
  }
  if (s == "57014") return absl::DeadlineExceededError(message);  // query_canceled
  return absl::InternalError(message);
}

}  // namespace

int64_t PgRows::integer(size_t row, size_t column) const {
  int64_t v = 0;
  const std::optional<std::string>& s = at(row, column);
  if (!s.has_value() || !absl::SimpleAtoi(*s, &v)) return 0;
  return v;
}

struct PgConnection::Impl {
  PGconn* conn = nullptr;
  PGcancel* cancel = nullptr;
  ~Impl() {
    if (cancel != nullptr) PQfreeCancel(cancel);
    if (conn != nullptr) PQfinish(conn);
  }
};

PgConnection::PgConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PgConnection::~PgConnection() {
  absl::MutexLock lock(&cancel_mu_);
  impl_.reset();
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& conninfo, absl::Duration timeout, const std::string& application_name) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    const std::string why = error == nullptr ? "out of memory" : Trimmed(error);
    PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("analytics: connection string is not valid: ", why));
  }
  bool has_timeout = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "connect_timeout" && o->val != nullptr && *o->val != '\0') {
      has_timeout = true;
    }
  }
  PQconninfoFree(options);
  // Keywords after the connection string override it: give ours first, so
  // that the operator's string wins where it sets them.
  const std::string seconds = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(timeout)));
  std::vector<const char*> keys = {"application_name", "dbname"};
  std::vector<const char*> values = {application_name.c_str(), conninfo.c_str()};
  if (!has_timeout) {
    keys.insert(keys.begin(), "connect_timeout");
    values.insert(values.begin(), seconds.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  auto impl = std::make_unique<Impl>();
  // expand_dbname = 1: the "dbname" value is the connection string itself.
  impl->conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (impl->conn == nullptr) return absl::ResourceExhaustedError("analytics: out of memory");
  if (PQstatus(impl->conn) != CONNECTION_OK) {
    return ConnectionError(impl->conn, "cannot connect");
  }
  // The server's notices ("relation already exists, skipping") are not
  // printed: libpq's default writes them to stderr.
  PQsetNoticeProcessor(
      impl->conn, [](void*, const char*) {}, nullptr);
  impl->cancel = PQgetCancel(impl->conn);
  return std::unique_ptr<PgConnection>(new PgConnection(std::move(impl)));
}

absl::Status PgConnection::Exec(const std::string& sql) {
  ResultPtr r(PQexec(impl_->conn, sql.c_str()));
  const ExecStatusType status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(impl_->conn, r.get());
  }
  return absl::OkStatus();
}

absl::StatusOr<PgRows> PgConnection::Query(const std::string& sql,
                                           const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.has_value() ? p->c_str() : nullptr);
  ResultPtr r(PQexecParams(impl_->conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, /*resultFormat=*/0));
  const ExecStatusType status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return ResultError(impl_->conn, r.get());
  }
  PgRows rows;
  rows.columns_ = static_cast<size_t>(PQnfields(r.get()));
  const int n = PQntuples(r.get());
  rows.rows_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto& row = rows.rows_[static_cast<size_t>(i)];
    row.resize(rows.columns_);
    for (int c = 0; c < static_cast<int>(rows.columns_); ++c) {
      if (!PQgetisnull(r.get(), i, c)) {
        row[static_cast<size_t>(c)] =
            std::string(PQgetvalue(r.get(), i, c), static_cast<size_t>(PQgetlength(r.get(), i, c)));
      }
    }
  }
  return rows;
}

absl::Status PgConnection::CopyIn(const std::string& copy, absl::string_view data) {
  {
    ResultPtr r(PQexec(impl_->conn, copy.c_str()));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COPY_IN) {
      return ResultError(impl_->conn, r.get());
    }
  }
  // In pieces of at most 1 MiB: libpq buffers what it cannot send yet.
  constexpr size_t kPiece = 1 << 20;
  bool sent = true;
  for (size_t at = 0; at < data.size() && sent; at += kPiece) {
    const absl::string_view piece = data.substr(at, kPiece);
    sent = PQputCopyData(impl_->conn, piece.data(), static_cast<int>(piece.size())) == 1;
  }
  if (PQputCopyEnd(impl_->conn, sent ? nullptr : "the client failed to send the data") != 1) {
    return ConnectionError(impl_->conn, "copy");
  }
  absl::Status status;
  // Read every result until none is left, keeping the first error.
  while (PGresult* raw = PQgetResult(impl_->conn)) {
    ResultPtr r(raw);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && status.ok()) {
      status = ResultError(impl_->conn, r.get());
    }
  }
  if (status.ok() && !sent) status = ConnectionError(impl_->conn, "copy");
  return status;
}

void PgConnection::Cancel() {
  absl::MutexLock lock(&cancel_mu_);
  if (impl_ == nullptr || impl_->cancel == nullptr) return;
  char error[256];
  PQcancel(impl_->cancel, error, sizeof(error));  // best effort
}

bool PgConnection::healthy() const { return PQstatus(impl_->conn) == CONNECTION_OK; }

int PgConnection::server_version() const { return PQserverVersion(impl_->conn); }

std::string QuoteLiteral(absl::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace tongban::analytics
