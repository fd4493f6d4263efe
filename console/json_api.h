// JsonApi: the web console's API, a JSON face on the Admin logic
// (admin/admin.h). Each method takes the protobuf JSON mapping of an Admin
// request message and answers with that of the reply, calling the same
// AdminApi method as the Admin gRPC service: the same role checks, audit
// entries, required reasons and error texts. Nothing here decides what an
// operator may do; a method the operator's role may not use fails in
// AdminApi with kPermissionDenied, which is HTTP 403.
//
//   POST /api/call/<Method>   body: the request message as JSON
//   200                       the reply message as JSON (field names as in
//                             the .proto, zero values included, enums by name)
//   4xx/5xx                   {"code": "INVALID_ARGUMENT", "message": "..."}
//
// Besides the Admin calls, three that shape an Admin reply for a page:
//   CertificateQr   CertificatePayload, plus the QR code of its text as
//                   modules ({"size": N, "modules": "0110..."}, row by row)
//   LedgerCsv       StatsMany over a statistical year's months and the year,
//                   as the ledger CSV tongbanctl ledger export writes
//                   (workflows/ledger.h); body {"year": "2026"}
//
// Thread safety: Call may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/admin.h"

namespace google::protobuf {
class Message;
}

namespace tongban::console {

struct JsonReply {
  int http_status = 200;
  std::string body;
  std::string content_type = "application/json; charset=utf-8";
  std::string filename;  // set: a download (Content-Disposition)
};

// The HTTP status for an error code (403 for kPermissionDenied, 400 for
// kInvalidArgument, ...).
int HttpStatusOf(const absl::Status& status);
// {"code": ..., "message": ...} with the status's HTTP status.
JsonReply ErrorReply(const absl::Status& status);
// The message as JSON (the mapping above), or kInternal.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m);
// Parses `json` into `m`; kInvalidArgument naming what is wrong. Unknown
// fields are refused.
absl::Status FromJson(absl::string_view json, google::protobuf::Message* m);

// The console's pages `role` may use on a node of `node_role` ("county",
// "national"), in menu order: each needs the permission of the calls it
// makes (admin/operators.h); the administrator's pages (status, peers,
// charts, and the fleet of every county on the national node) need the
// right to manage peers, which only administrators have.
std::vector<std::string> Pages(admin::Role role, absl::string_view node_role);

class JsonApi {
 public:
  // `api` is not owned and outlives this.
  explicit JsonApi(admin::AdminApi* api);

  JsonReply Call(const admin::Operator& op, absl::string_view method, absl::string_view body);

  // Whether `method` exists (an unknown one is 404).
  bool Has(absl::string_view method) const;

 private:
  using Method = std::function<JsonReply(const admin::Operator&, absl::string_view)>;
  admin::AdminApi* const api_;  // Not owned.
  std::map<std::string, Method, std::less<>> methods_;
};

}  // namespace tongban::console
