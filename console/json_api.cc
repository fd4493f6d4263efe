#include "console/json_api.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <qrencode.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflows/csv.h"
#include "workflows/ledger.h"

namespace tongban::console {
namespace {

using admin::AdminApi;
using admin::Operator;

std::string Quoted(absl::string_view text) {
  // A JSON string: the Value mapping escapes it.
  google::protobuf::Value v;
  v.set_string_value(std::string(text));
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(v, &out).ok()) return "\"\"";
  return out;
}

JsonReply Json(absl::StatusOr<std::string> body) {
  if (!body.ok()) return ErrorReply(body.status());
  JsonReply r;
  r.body = *std::move(body);
  return r;
}

template <typename Req, typename Rep>
std::function<JsonReply(const Operator&, absl::string_view)> Bind(
    AdminApi* api, absl::StatusOr<Rep> (AdminApi::*method)(const Operator&, const Req&)) {
  return [api, method](const Operator& op, absl::string_view body) -> JsonReply {
    Req request;
    if (absl::Status s = FromJson(body, &request); !s.ok()) return ErrorReply(s);
    absl::StatusOr<Rep> reply = (api->*method)(op, request);
    if (!reply.ok()) return ErrorReply(reply.status());
    return Json(ToJson(*reply));
  };
}

// The QR code of `text` as rows of '0' and '1' (byte mode, level M, as
// tongbanctl certificate qr draws it).
absl::StatusOr<std::pair<int, std::string>> QrModules(const std::string& text) {
  std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (qr == nullptr) return absl::InternalError("the QR code cannot be made");
  std::string modules;
  modules.reserve(static_cast<size_t>(qr->width) * qr->width);
  for (int i = 0; i < qr->width * qr->width; ++i) modules.push_back((qr->data[i] & 1) ? '1' : '0');
  return std::make_pair(qr->width, std::move(modules));
}

}  // namespace

std::vector<std::string> Pages(admin::Role role, absl::string_view node_role) {
  using admin::Permission;
  struct Page {
    const char* name;
    Permission permission;
    bool national_only;
  };
  static constexpr Page kPages[] = {
      {"due", Permission::kListDeadlines, false},    {"search", Permission::kReadPersons, false},
      {"write", Permission::kWriteRecords, false},   {"import", Permission::kWriteRecords, false},
      {"status", Permission::kManagePeers, false},   {"peers", Permission::kManagePeers, false},
      {"charts", Permission::kManagePeers, false},   {"fleet", Permission::kManagePeers, true},
      {"audit", Permission::kReadAuditTrail, false}, {"report", Permission::kReadAuditTrail, false},
      {"stats", Permission::kReadStatistics, false},
  };
  std::vector<std::string> out;
  for (const Page& p : kPages) {
    if (!admin::Allowed(role, p.permission)) continue;
    if (p.national_only && node_role != "national") continue;
    out.push_back(p.name);
  }
  return out;
}

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

JsonReply ErrorReply(const absl::Status& status) {
  JsonReply r;
  r.http_status = HttpStatusOf(status);
  r.body = absl::StrCat("{\"code\":", Quoted(absl::StatusCodeToString(status.code())),
                        ",\"message\":", Quoted(status.message()), "}");
  return r;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string out;
  if (auto s = google::protobuf::util::MessageToJsonString(m, &out, o); !s.ok()) {
    return absl::InternalError(absl::StrCat("reply to JSON: ", s.message().as_string()));
  }
  return out;
}

absl::Status FromJson(absl::string_view json, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = false;
  const absl::string_view body = json.empty() ? absl::string_view("{}") : json;
  if (auto s = google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(body.data(), body.size()), m, o);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: not a ", m->GetDescriptor()->name(), ": ", s.message().as_string()));
  }
  return absl::OkStatus();
}

JsonApi::JsonApi(AdminApi* api) : api_(api) {
  methods_["Status"] = Bind(api, &AdminApi::Status);
  methods_["Peers"] = Bind(api, &AdminApi::Peers);
  methods_["ClearHold"] = Bind(api, &AdminApi::ClearHold);
  methods_["Write"] = Bind(api, &AdminApi::Write);
  methods_["GetPerson"] = Bind(api, &AdminApi::GetPerson);
  methods_["PersonHistory"] = Bind(api, &AdminApi::PersonHistory);
  methods_["Where"] = Bind(api, &AdminApi::Where);
  methods_["Audit"] = Bind(api, &AdminApi::Audit);
  methods_["ListInquiries"] = Bind(api, &AdminApi::ListInquiries);
  methods_["ListNotices"] = Bind(api, &AdminApi::ListNotices);
  methods_["Stats"] = Bind(api, &AdminApi::Stats);
  methods_["StatsMany"] = Bind(api, &AdminApi::StatsMany);
  methods_["CertificatePayload"] = Bind(api, &AdminApi::CertificatePayload);
  methods_["SearchPersons"] = Bind(api, &AdminApi::SearchPersons);
  methods_["Fleet"] = Bind(api, &AdminApi::Fleet);
  methods_["AccessReport"] = Bind(api, &AdminApi::AccessReport);
  methods_["MetricsHistory"] = Bind(api, &AdminApi::MetricsHistory);

  methods_["CertificateQr"] = [api](const Operator& op, absl::string_view body) -> JsonReply {
    v1::CertificatePayloadRequest request;
    if (absl::Status s = FromJson(body, &request); !s.ok()) return ErrorReply(s);
    absl::StatusOr<v1::CertificatePayloadReply> reply = api->CertificatePayload(op, request);
    if (!reply.ok()) return ErrorReply(reply.status());
    absl::StatusOr<std::pair<int, std::string>> qr = QrModules(reply->text());
    if (!qr.ok()) return ErrorReply(qr.status());
    return Json(absl::StrCat("{\"text\":", Quoted(reply->text()),
                             ",\"person_masked\":", Quoted(reply->person_masked()),
                             ",\"size\":", qr->first, ",\"modules\":\"", qr->second, "\"}"));
  };

  methods_["LedgerCsv"] = [api](const Operator& op, absl::string_view body) -> JsonReply {
    google::protobuf::Struct args;
    if (absl::Status s = FromJson(body, &args); !s.ok()) return ErrorReply(s);
    auto year = args.fields().find("year");
    if (year == args.fields().end() || !year->second.has_string_value()) {
      return ErrorReply(absl::InvalidArgumentError("year: give a statistical year, e.g. \"2026\""));
    }
    absl::StatusOr<std::vector<std::string>> months =
        workflows::StatisticalYearMonths(year->second.string_value());
    if (!months.ok()) return ErrorReply(months.status());
    v1::StatsManyRequest request;
    for (const std::string& month : *months) {
      v1::StatsRequest* r = request.add_requests();
      r->set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
      r->set_period(month);
    }
    v1::StatsRequest* r = request.add_requests();
    r->set_period_kind(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR);
    r->set_period(year->second.string_value());
    absl::StatusOr<v1::StatsManyReply> reply = api->StatsMany(op, request);
    if (!reply.ok()) return ErrorReply(reply.status());
    std::vector<v1::StatsReply> replies(reply->replies().begin(), reply->replies().end());
    absl::StatusOr<std::string> csv = workflows::LedgerCsv(replies, workflows::Encoding::kUtf8);
    if (!csv.ok()) return ErrorReply(csv.status());
    JsonReply out;
    out.body = *std::move(csv);
    out.content_type = "text/csv; charset=utf-8";
    out.filename = absl::StrCat("ledger-", year->second.string_value(), ".csv");
    return out;
  };
}

bool JsonApi::Has(absl::string_view method) const { return methods_.count(method) > 0; }

JsonReply JsonApi::Call(const Operator& op, absl::string_view method, absl::string_view body) {
  auto it = methods_.find(method);
  if (it == methods_.end()) {
    return ErrorReply(absl::NotFoundError(absl::StrCat("no API method ", method)));
  }
  return it->second(op, body);
}

}  // namespace tongban::console
