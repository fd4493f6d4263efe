#include "tongbanctl/commands_online.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/substitute.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "analytics/stats_sql.h"
#include "common/ids/citizen_id.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "records/kinds.h"
#include "records/words.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/files.h"
#include "tongbanctl/i18n.h"
#include "workflows/measures.h"

namespace tongban::cli {
namespace {

constexpr char kConnectionHelp[] =
    "Connection (flags, else the environment, else the profile: tongbanctl profile add):\n"
    "  --profile NAME         a saved profile (TONGBAN_PROFILE; default: the current one)\n"
    "  --node HOST:PORT       the node's Admin port (TONGBAN_NODE)\n"
    "  --ca FILE              CA of the node's certificate (TONGBAN_CA)\n"
    "  --cert FILE            your operator certificate (TONGBAN_CERT)\n"
    "  --key FILE             its private key, mode 0600 (TONGBAN_KEY)\n"
    "  --password-file FILE   your password (TONGBAN_PASSWORD), or\n"
    "  --totp CODE            your TOTP code (TONGBAN_TOTP)\n"
    "  --json                 print the reply as JSON\n";

// --- Output ---

}  // namespace

absl::Status PrintJson(const google::protobuf::Message& m, Io& io) {
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  auto s = google::protobuf::util::MessageToJsonString(m, &json, o);
  if (!s.ok()) return absl::InternalError(std::string(s.message()));
  io.out << json;
  return absl::OkStatus();
}

namespace {

// Columns `text` takes on a terminal: Chinese characters (and other East
// Asian wide characters) take two, other characters one.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len && i + k < text.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    width += (cp >= 0x1100 &&
              (cp <= 0x115F || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
               (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
               (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || cp >= 0x20000))
                 ? 2
                 : 1;
    i += len;
  }
  return width;
}

}  // namespace

// Prints rows as aligned columns; with `header` the first row is the
// header, printed in the locale's language (tongbanctl/i18n.h).
void PrintTable(std::vector<std::vector<std::string>> rows, Io& io, bool header) {
  if (header && !rows.empty()) {
    for (std::string& heading : rows.front()) heading = Tr(heading);
  }
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], DisplayWidth(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    io.out << line << "\n";
  }
}

namespace {}  // namespace

// A time in China Standard Time with its zone: "2026-11-01 14:03:05 +08:00".
std::string When(int64_t micros) {
  if (micros == 0) return "-";
  return records::ChinaTimeText(absl::FromUnixMicros(micros), "%Y-%m-%d %H:%M:%S %Ez");
}

namespace {

std::string EventName(const v1::EventId& e) {
  return absl::StrCat(e.origin(), "/", e.epoch(), "/", e.seq());
}

// --- Input ---

absl::StatusOr<v1::Date> DateFlag(const Args& args, const char* flag) {
  TB_ASSIGN_OR_RETURN(std::string text, args.Required(flag));
  const bool shaped = text.size() == 10 && text[4] == '-' && text[7] == '-' &&
                      std::all_of(text.begin(), text.end(),
                                  [](char c) { return absl::ascii_isdigit(c) || c == '-'; });
  absl::CivilDay day;
  if (!shaped) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " \"", text, "\" is not a date (YYYY-MM-DD)"));
  }
  // 2026-02-30 has the shape but is no day (and must not become 03-02).
  if (!absl::ParseCivilTime(text, &day) || absl::FormatCivilTime(day) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " \"", text, "\" is not a real calendar day"));
  }
  return records::ToDate(day);
}

template <typename E>
absl::StatusOr<E> Choice(const Args& args, const char* flag,
                         const std::vector<std::pair<std::string, E>>& choices) {
  TB_ASSIGN_OR_RETURN(std::string text, args.Required(flag));
  std::vector<std::string> names;
  for (const auto& [name, value] : choices) {
    if (name == text) return value;
    names.push_back(name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " \"", text, "\" is not one of: ", absl::StrJoin(names, ", ")));
}

// The tokens of E's values (records/words.h), less "unspecified" and
// `except`, as choices of a flag.
template <typename E>
std::vector<std::pair<std::string, E>> Tokens(std::initializer_list<E> except = {}) {
  std::vector<std::pair<std::string, E>> out;
  for (const records::Word& w : records::WordTable<E>()) {
    const auto value = static_cast<E>(w.value);
    if (w.value == 0 || std::find(except.begin(), except.end(), value) != except.end()) continue;
    out.emplace_back(w.token, value);
  }
  return out;
}

// The person's ID: the one positional argument.
const std::string& PersonArg(const Args& args) { return args.positional().front(); }

// Sends one record write and prints what happened. The record id is --id,
// or derived from the value's key fields (records::DeriveRecordId).
absl::Status WriteRecord(const Args& args, Io& io, v1::RecordKind kind, v1::RecordValue value,
                         v1::Operation operation = v1::OPERATION_UPSERT) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::WriteRequest r;
  r.set_person(PersonArg(args));
  r.set_kind(kind);
  r.set_record_id(args.Get("id", records::DeriveRecordId(kind, value, absl::Now())));
  r.set_operation(operation);
  *r.mutable_value() = std::move(value);
  r.set_reason(args.Get("reason"));
  r.set_confirm_findings(args.Has("confirm-findings"));
  r.set_confirm_duplicate(args.Has("confirm-duplicate"));
  TB_ASSIGN_OR_RETURN(v1::WriteReply reply, client->Write(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << Tr("written") << " " << v1::RecordKind_Name(kind) << " " << r.record_id() << " "
         << Tr("of person") << " " << reply.person_masked() << " " << Tr("as event") << " "
         << EventName(reply.event()) << "\n"
         << Tr("routed to:") << " " << absl::StrJoin(reply.audience(), ", ") << "\n";
  return absl::OkStatus();
}

// Flags of every record command, plus its own.
std::vector<FlagSpec> RecordFlags(std::vector<FlagSpec> own) {
  std::vector<FlagSpec> flags = ConnectionFlags();
  flags.push_back({"id"});
  flags.push_back({"reason"});
  flags.push_back({"confirm-findings", false});
  for (auto& f : own) flags.push_back(std::move(f));
  return flags;
}

}  // namespace

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> own) {
  std::vector<FlagSpec> flags = ConnectionFlags();
  for (auto& f : own) flags.push_back(std::move(f));
  return flags;
}

namespace {

constexpr char kRecordHelp[] =
    "  --id RECORD_ID         the record's id (default: derived from its key fields)\n"
    "  --reason TEXT          why (audited; required for a correction)\n"
    "  --confirm-findings     write although the ID has graded findings\n";

// --- Commands ---

// A certificate the node uses warns from this long before it expires (as
// the TongbanCertificateExpiresSoon alert of deploy/prometheus does).
constexpr absl::Duration kCertificateWarning = absl::Hours(24 * 30);

// The status rows for certificates that expire within kCertificateWarning
// ("WARNING") or have expired ("ERROR") at `now`; none when all are fine.
std::vector<std::vector<std::string>> CertificateExpiryRows(const v1::StatusReply& s,
                                                            absl::Time now) {
  struct Cert {
    const char* what;
    int64_t not_after_micros;
    const char* fix;
  };
  const Cert certs[] = {
      {"the node's TLS certificate", s.certificate_not_after_micros(),
       "renew it: tongbanctl pki request here, pki sign at the federation"},
      {"the federation CA certificate", s.ca_not_after_micros(),
       "the federation must make a new CA and sign every node's request again"},
      {"the operator CA certificate", s.operator_ca_not_after_micros(),
       "make a new operator CA (tongbanctl operator init) and sign the operators' requests"},
  };
  std::vector<std::vector<std::string>> rows;
  for (const Cert& c : certs) {
    if (c.not_after_micros == 0) continue;  // not configured
    const absl::Duration left = absl::FromUnixMicros(c.not_after_micros) - now;
    if (left <= absl::ZeroDuration()) {
      rows.push_back({"ERROR", absl::Substitute(Tr("$0 expired at $1; $2"), Tr(c.what),
                                                When(c.not_after_micros), Tr(c.fix))});
    } else if (left < kCertificateWarning) {
      const int64_t days = absl::ToInt64Hours(left + absl::Hours(23)) / 24;  // rounded up
      rows.push_back({"WARNING", absl::Substitute(Tr("$0 expires in $1 days ($2); $3"), Tr(c.what),
                                                  days, When(c.not_after_micros), Tr(c.fix))});
    }
  }
  return rows;
}

absl::Status StatusCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(v1::StatusReply s, client->Status(v1::StatusRequest()));
  if (args.Has("json")) return PrintJson(s, io);
  std::vector<std::vector<std::string>> rows = {
      {"node", s.node()},
      {"role", s.role()},
      {"suite", s.suite()},
      {"signing key", s.signing_key_id()},
      {"roster", absl::StrCat("v", s.roster_version())},
      {"own log",
       absl::StrCat(s.log_size(), " ", Tr("events"), ", ", s.signed_size(), " ", Tr("signed"))},
      {"logs held", absl::StrCat(s.logs_held(), " (", s.frozen_origins(), " ", Tr("frozen"), ")")},
      {"frozen", s.frozen_logs().empty() ? Tr("none") : absl::StrJoin(s.frozen_logs(), ", ")},
      {"clock", s.events_ahead() == 0
                    ? Tr("no event from peers ahead of it beyond the tolerance")
                    : absl::StrCat(s.events_ahead(), " ",
                                   Tr("events from peers stamped beyond the tolerance "
                                      "(applied, not adopted; see peers)"))},
      {"certificate", absl::StrCat(Tr("expires"), " ", When(s.certificate_not_after_micros()))},
      {"CA cert", absl::StrCat(Tr("expires"), " ", When(s.ca_not_after_micros()))},
      {"pending for",
       s.pending_peers().empty() ? Tr("nobody (in sync)") : absl::StrJoin(s.pending_peers(), ", ")},
      {"writes", s.writes_refused().empty()
                     ? Tr("accepted")
                     : absl::StrCat(Tr("REFUSED"), ": ", s.writes_refused())},
      {"disk", absl::StrCat(s.disk_bytes() / (1 << 20), " MiB")},
      {"started", When(s.started_at_micros())},
      {"you are", absl::StrCat(s.operator_(), " (", s.operator_role(), ")")}};
  if (s.analytics_on()) {
    // The mirror into PostgreSQL: connected or why not, and its lag.
    std::string a = absl::StrCat(s.analytics_connected() ? Tr("connected") : Tr("not connected"),
                                 ", ", s.analytics_behind_events(), " ", Tr("behind"), " (",
                                 Tr("lag"), " ", absl::StrFormat("%.0f", s.analytics_lag_seconds()),
                                 " s), ", s.analytics_rows_written(), " ", Tr("rows written"));
    if (!s.analytics_last_error().empty()) absl::StrAppend(&a, "; ", s.analytics_last_error());
    rows.insert(rows.end() - 1, {"analytics", a});
  }
  if (s.operator_ca_not_after_micros() != 0) {
    rows.insert(
        rows.begin() + 10,
        {"operator CA", absl::StrCat(Tr("expires"), " ", When(s.operator_ca_not_after_micros()))});
  }
  for (auto& row : CertificateExpiryRows(s, absl::Now())) rows.push_back(std::move(row));
  for (auto& row : rows) row[0] = Tr(row[0]);
  PrintTable(std::move(rows), io, /*header=*/false);
  return absl::OkStatus();
}

// The peer's clock minus ours, to the second ("+48h0m0s", "-3m0s", "0s"),
// or "-" before its first Hello.
std::string ClockSkew(const v1::PeerInfo& p) {
  if (!p.clock_skew_known()) return "-";
  const absl::Duration skew =
      absl::Trunc(absl::Microseconds(p.clock_skew_micros()), absl::Seconds(1));
  return absl::StrCat(skew > absl::ZeroDuration() ? "+" : "", absl::FormatDuration(skew));
}

absl::Status PeersCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(v1::PeersReply r, client->Peers(v1::PeersRequest()));
  if (args.Has("json")) return PrintJson(r, io);
  std::vector<std::vector<std::string>> rows = {{"PEER", "NAME", "STATUS", "CONNECTED", "SINCE",
                                                 "LAST BATCH", "BEHIND OUT", "BEHIND IN", "HELD",
                                                 "FROZEN", "REFUSES", "CLOCK AHEAD", "CLOCK SKEW",
                                                 "BUNDLE OUT", "BUNDLE IN", "LAST ERROR"}};
  for (const v1::PeerInfo& p : r.peers()) {
    rows.push_back(
        {p.code(), p.name(), p.status(), p.connected() ? Tr("yes") : Tr("no"),
         When(p.connected_since_micros()), When(p.last_batch_micros()),
         absl::StrCat(p.behind_outbound()), absl::StrCat(p.behind_inbound()),
         p.held().empty() ? "-" : p.held(), p.frozen() ? "FROZEN" : "-",
         p.refuses().empty() ? "-" : absl::StrJoin(p.refuses(), ", "),
         p.clock_ahead_micros() <= 0
             ? "-"
             : absl::StrCat(absl::FormatDuration(absl::Trunc(
                                absl::Microseconds(p.clock_ahead_micros()), absl::Seconds(1))),
                            p.events_ahead() > 0
                                ? absl::StrCat(" (", p.events_ahead(), " ", Tr("beyond"), ")")
                                : ""),
         ClockSkew(p),
         p.bundle_exported_id().empty()
             ? "-"
             : absl::StrCat(When(p.bundle_exported_micros()), " (", p.bundle_exported_events(),
                            ", ",
                            Tr(p.bundle_acked_id() == p.bundle_exported_id() ? "acknowledged"
                                                                             : "not acknowledged"),
                            ")"),
         When(p.bundle_received_micros()),
         p.last_error().empty() ? "-" : p.last_error().substr(0, 60)});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status ClearHoldCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::ClearHoldRequest r;
  r.set_peer(args.positional().front());
  TB_ASSIGN_OR_RETURN(v1::ClearHoldReply reply, client->ClearHold(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << "cleared the hold on peer " << r.peer() << "; it will be dialled again\n";
  return absl::OkStatus();
}

std::string ValueSummary(const v1::RecordValue& v) {
  switch (v.value_case()) {
    case v1::RecordValue::kPersonBasics:
      return absl::StrCat("born ", records::DateText(v.person_basics().birth_date()), ", hukou ",
                          v.person_basics().hukou_region());
    case v1::RecordValue::kOutflow:
      return absl::StrCat("to ", v.outflow().destination_county(), " on ",
                          records::DateText(v.outflow().left_on()));
    case v1::RecordValue::kInflow:
      return absl::StrCat("from ", v.inflow().origin_county(), " arrived ",
                          records::DateText(v.inflow().arrived_on()));
    case v1::RecordValue::kReturnRegistration:
      return absl::StrCat(v1::ReturnType_Name(v.return_registration().type()), " on ",
                          records::DateText(v.return_registration().effective_on()));
    case v1::RecordValue::kCertificate:
      return absl::StrCat(v1::CertificateType_Name(v.certificate().type()), " ",
                          v.certificate().number(), v.certificate().revoked() ? " REVOKED" : "");
    case v1::RecordValue::kService:
      return absl::StrCat(v1::ServiceType_Name(v.service().type()), " on ",
                          records::DateText(v.service().delivered_on()), " by ",
                          v.service().provider_county());
    case v1::RecordValue::kEntitlement:
      return absl::StrCat(v.entitlement().programme(), " ",
                          v1::EntitlementStatus_Name(v.entitlement().status()));
    case v1::RecordValue::kInquiry:
      return absl::StrCat(v1::InquiryType_Name(v.inquiry().type()), " to ", v.inquiry().to_county(),
                          " due ", records::DateText(v.inquiry().due_on()));
    case v1::RecordValue::kInquiryReply:
      return absl::StrCat("reply to ", v.inquiry_reply().inquiry_county(), "/",
                          v.inquiry_reply().inquiry_record_id());
    case v1::RecordValue::kNotice:
      return absl::StrCat("notice to ", v.notice().to_county(), ": ", v.notice().subject());
    case v1::RecordValue::kReceipt:
      return absl::StrCat("receipt for ", v.receipt().notice_county(), "/",
                          v.receipt().notice_record_id());
    case v1::RecordValue::VALUE_NOT_SET: break;
  }
  return "(retracted)";
}

absl::Status PersonShowCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::PersonRequest r;
  r.set_person(PersonArg(args));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  TB_ASSIGN_OR_RETURN(v1::PersonReply reply, client->GetPerson(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << "person " << reply.person() << "\n\n";
  std::vector<std::vector<std::string>> rows = {{"KIND", "RECORD", "WRITER", "VERSIONS", "VALUE"}};
  for (const v1::Record& rec : reply.records()) {
    std::string value;
    for (const v1::RecordValue& v : rec.values()) {
      absl::StrAppend(&value, value.empty() ? "" : " | CONFLICT | ", ValueSummary(v));
    }
    rows.push_back({v1::RecordKind_Name(rec.kind()).substr(12), rec.record_id(),
                    rec.state().custodian(), absl::StrCat(rec.state().versions()), value});
  }
  PrintTable(rows, io);
  io.out << "\n" << Tr("linked nodes:");
  for (const auto& [node, link] : reply.links()) {
    io.out << " " << node << " (" << v1::LinkRole_Name(link.role()).substr(10)
           << (link.ended_at_micros() != 0 ? ", ended" : "") << ")";
  }
  io.out << "\n";
  return absl::OkStatus();
}

absl::Status PersonHistoryCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::PersonRequest r;
  r.set_person(PersonArg(args));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  TB_ASSIGN_OR_RETURN(v1::HistoryReply reply, client->PersonHistory(r));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {{"WHEN", "EVENT", "KIND", "RECORD", "OP", "VALUE"}};
  for (const v1::HistoryEntry& e : reply.entries()) {
    rows.push_back({When(e.body().hlc().physical_micros()), EventName(e.event()),
                    v1::RecordKind_Name(e.body().kind()).substr(12), e.body().record_id(),
                    v1::Operation_Name(e.body().operation()).substr(10), ValueSummary(e.value())});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status PersonWhereCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::WhereRequestAdmin r;
  r.set_person(PersonArg(args));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  TB_ASSIGN_OR_RETURN(v1::WhereReplyAdmin reply, client->Where(r));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {{"NODE", "ROLE", "LINK"}};
  for (const auto& h : reply.holders()) {
    rows.push_back({h.node(), h.role(), h.ended() ? "ended" : "active"});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status PersonRegisterCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::PersonBasics* p = v.mutable_person_basics();
  TB_ASSIGN_OR_RETURN(std::string name, args.Required("name"));
  p->set_name(name);
  TB_ASSIGN_OR_RETURN(v1::Sex sex, Choice<v1::Sex>(args, "sex", Tokens<v1::Sex>()));
  p->set_sex(sex);
  TB_ASSIGN_OR_RETURN(*p->mutable_birth_date(), DateFlag(args, "birth-date"));
  TB_ASSIGN_OR_RETURN(std::string region, args.Required("hukou-region"));
  p->set_hukou_region(region);
  p->set_hukou_address(args.Get("hukou-address"));
  return WriteRecord(args, io, v1::RECORD_KIND_PERSON_BASICS, std::move(v));
}

absl::Status OutflowCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  TB_ASSIGN_OR_RETURN(std::string to, args.Required("to"));
  v.mutable_outflow()->set_destination_county(to);
  TB_ASSIGN_OR_RETURN(*v.mutable_outflow()->mutable_left_on(), DateFlag(args, "left-on"));
  v.mutable_outflow()->set_reason(args.Get("why"));
  return WriteRecord(args, io, v1::RECORD_KIND_OUTFLOW, std::move(v));
}

absl::Status InflowCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::InflowRegistration* in = v.mutable_inflow();
  TB_ASSIGN_OR_RETURN(std::string origin, args.Required("origin"));
  in->set_origin_county(origin);
  in->set_previous_residence(args.Get("previous"));
  TB_ASSIGN_OR_RETURN(*in->mutable_arrived_on(), DateFlag(args, "arrived-on"));
  TB_ASSIGN_OR_RETURN(*in->mutable_registered_on(), DateFlag(args, "registered-on"));
  TB_ASSIGN_OR_RETURN(std::string address, args.Required("address"));
  in->set_address(address);
  in->set_employer(args.Get("employer"));
  return WriteRecord(args, io, v1::RECORD_KIND_INFLOW, std::move(v));
}

absl::Status ReturnCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::ReturnRegistration* r = v.mutable_return_registration();
  TB_ASSIGN_OR_RETURN(v1::ReturnType type,
                      Choice<v1::ReturnType>(args, "type",
                                             {{"home", v1::RETURN_TYPE_RETURNED_HOME},
                                              {"departed", v1::RETURN_TYPE_DEPARTED}}));
  r->set_type(type);
  TB_ASSIGN_OR_RETURN(*r->mutable_effective_on(), DateFlag(args, "effective-on"));
  TB_ASSIGN_OR_RETURN(std::string from, args.Required("from"));
  r->set_from_county(from);
  r->set_to_county(args.Get("to"));
  return WriteRecord(args, io, v1::RECORD_KIND_RETURN, std::move(v));
}

// --delivered-on, --provider, --period and --notes of a service.
absl::Status ServiceFlags(const Args& args, v1::ServiceRecord* s) {
  TB_ASSIGN_OR_RETURN(*s->mutable_delivered_on(), DateFlag(args, "delivered-on"));
  TB_ASSIGN_OR_RETURN(std::string provider, args.Required("provider"));
  s->set_provider_county(provider);
  s->set_period(args.Get("period"));
  s->set_notes(args.Get("notes"));
  return absl::OkStatus();
}

absl::Status ServiceCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::ServiceRecord* s = v.mutable_service();
  TB_ASSIGN_OR_RETURN(
      v1::ServiceType type,
      Choice<v1::ServiceType>(args, "type",
                              Tokens<v1::ServiceType>({v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY})));
  s->set_type(type);
  TB_RETURN_IF_ERROR(ServiceFlags(args, s));
  return WriteRecord(args, io, v1::RECORD_KIND_SERVICE, std::move(v));
}

absl::Status EntitlementCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::Entitlement* e = v.mutable_entitlement();
  TB_ASSIGN_OR_RETURN(std::string programme, args.Required("programme"));
  e->set_programme(programme);
  TB_ASSIGN_OR_RETURN(
      v1::EntitlementStatus status,
      Choice<v1::EntitlementStatus>(args, "status", Tokens<v1::EntitlementStatus>()));
  e->set_status(status);
  TB_ASSIGN_OR_RETURN(long long fen, args.GetInt("amount-fen", 0, 0, 100000000));
  e->set_amount_fen(fen);
  TB_ASSIGN_OR_RETURN(*e->mutable_period_from(), DateFlag(args, "from"));
  TB_ASSIGN_OR_RETURN(*e->mutable_period_to(), DateFlag(args, "to"));
  e->set_delivered_by(args.Get("delivered-by"));
  return WriteRecord(args, io, v1::RECORD_KIND_ENTITLEMENT, std::move(v));
}

absl::Status EntitlementDeliverCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::ServiceRecord* s = v.mutable_service();
  s->set_type(v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY);
  TB_ASSIGN_OR_RETURN(std::string entitlement, args.Required("entitlement"));
  s->set_entitlement_record_id(entitlement);
  TB_RETURN_IF_ERROR(ServiceFlags(args, s));
  return WriteRecord(args, io, v1::RECORD_KIND_SERVICE, std::move(v));
}

absl::Status CertificateIssueCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::Certificate* c = v.mutable_certificate();
  TB_ASSIGN_OR_RETURN(v1::CertificateType type,
                      Choice<v1::CertificateType>(args, "type", Tokens<v1::CertificateType>()));
  c->set_type(type);
  TB_ASSIGN_OR_RETURN(std::string number, args.Required("number"));
  c->set_number(number);
  TB_ASSIGN_OR_RETURN(std::string issuer, args.Required("issuer"));
  c->set_issuer(issuer);
  TB_ASSIGN_OR_RETURN(*c->mutable_valid_from(), DateFlag(args, "valid-from"));
  TB_ASSIGN_OR_RETURN(*c->mutable_valid_to(), DateFlag(args, "valid-to"));
  for (const std::string& fact : args.GetAll("fact")) {
    std::pair<std::string, std::string> kv = absl::StrSplit(fact, absl::MaxSplits('=', 1));
    if (kv.first.empty() || fact.find('=') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--fact \"", fact, "\" is not NAME=VALUE"));
    }
    (*c->mutable_attested_facts())[kv.first] = kv.second;
  }
  c->set_supersedes(args.Get("supersedes"));
  return WriteRecord(args, io, v1::RECORD_KIND_CERTIFICATE, std::move(v));
}

absl::Status InquirySendCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::Inquiry* q = v.mutable_inquiry();
  TB_ASSIGN_OR_RETURN(v1::InquiryType type,
                      Choice<v1::InquiryType>(args, "type", Tokens<v1::InquiryType>()));
  q->set_type(type);
  TB_ASSIGN_OR_RETURN(std::string to, args.Required("to"));
  q->set_to_county(to);
  TB_ASSIGN_OR_RETURN(std::string question, args.Required("question"));
  q->set_question(question);
  // The node records the time sent and the deadline (workflows/deadlines.h);
  // the record id is named by this second.
  return WriteRecord(args, io, v1::RECORD_KIND_INQUIRY, std::move(v));
}

absl::Status InquiryReplyCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::InquiryReply* r = v.mutable_inquiry_reply();
  TB_ASSIGN_OR_RETURN(std::string inquiry, args.Required("inquiry"));
  r->set_inquiry_record_id(inquiry);
  TB_ASSIGN_OR_RETURN(std::string from, args.Required("inquiry-county"));
  r->set_inquiry_county(from);
  TB_ASSIGN_OR_RETURN(std::string answer, args.Required("answer"));
  r->set_answer(answer);
  r->set_matched(args.Has("matched"));
  return WriteRecord(args, io, v1::RECORD_KIND_INQUIRY_REPLY, std::move(v));
}

// --due, --overdue and --within-days of `inquiry list` and `notice list`.
template <typename Request>
absl::StatusOr<Request> DeadlineListRequest(const Args& args) {
  Request r;
  r.set_due(args.Has("due"));
  r.set_overdue(args.Has("overdue"));
  TB_ASSIGN_OR_RETURN(long long days, args.GetInt("within-days", 0, 1, 365));
  r.set_due_within_days(static_cast<uint32_t>(days));
  return r;
}

absl::Status InquiryListCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(auto r, DeadlineListRequest<v1::InquiryListRequest>(args));
  TB_ASSIGN_OR_RETURN(v1::InquiryListReply reply, client->ListInquiries(r));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {
      {"PERSON", "INQUIRY", "FROM", "TO", "TYPE", "SENT", "DUE", "STATE", "REPLIED"}};
  for (const v1::InquiryItem& i : reply.items()) {
    rows.push_back({ids::MaskId(i.person()), i.record_id(), i.from_county(), i.to_county(),
                    v1::InquiryType_Name(i.type()).substr(13), When(i.sent_at_micros()),
                    records::DateText(i.due_on()), i.state(), When(i.replied_at_micros())});
  }
  PrintTable(rows, io);
  if (reply.items().empty()) io.out << Tr("(none)") << "\n";
  return absl::OkStatus();
}

// The person's certificates, from the records the node holds.
absl::StatusOr<std::vector<v1::Record>> Certificates(AdminClient& client, const Args& args) {
  v1::PersonRequest r;
  r.set_person(PersonArg(args));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  TB_ASSIGN_OR_RETURN(v1::PersonReply reply, client.GetPerson(r));
  std::vector<v1::Record> out;
  for (const v1::Record& rec : reply.records()) {
    if (rec.kind() == v1::RECORD_KIND_CERTIFICATE) out.push_back(rec);
  }
  return out;
}

absl::Status CertificateShowCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(std::vector<v1::Record> certs, Certificates(*client, args));
  if (args.Has("json")) {
    v1::PersonReply only;
    only.set_person(PersonArg(args));
    for (v1::Record& c : certs) *only.add_records() = std::move(c);
    return PrintJson(only, io);
  }
  std::vector<std::vector<std::string>> rows = {
      {"RECORD", "TYPE", "NUMBER", "ISSUER", "VALID FROM", "VALID TO", "STATE", "FACTS"}};
  for (const v1::Record& rec : certs) {
    for (const v1::RecordValue& v : rec.values()) {
      const v1::Certificate& c = v.certificate();
      std::vector<std::string> facts;
      for (const auto& [k, val] : c.attested_facts()) facts.push_back(absl::StrCat(k, "=", val));
      std::sort(facts.begin(), facts.end());
      rows.push_back({rec.record_id(), v1::CertificateType_Name(c.type()).substr(17), c.number(),
                      c.issuer(), records::DateText(c.valid_from()),
                      records::DateText(c.valid_to()), c.revoked() ? "REVOKED" : "valid",
                      absl::StrJoin(facts, ", ")});
    }
  }
  PrintTable(rows, io);
  if (certs.empty()) io.out << "(no certificates held here)\n";
  return absl::OkStatus();
}

absl::Status CertificateRevokeCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(std::string number, args.Required("number"));
  TB_ASSIGN_OR_RETURN(std::vector<v1::Record> certs, Certificates(*client, args));
  for (const v1::Record& rec : certs) {
    if (rec.values().empty() || rec.values(0).certificate().number() != number) continue;
    if (rec.values(0).certificate().revoked()) {
      return absl::FailedPreconditionError(
          absl::StrCat("certificate ", number, " is already revoked"));
    }
    v1::RecordValue v = rec.values(0);
    v.mutable_certificate()->set_revoked(true);
    v1::WriteRequest w;
    w.set_person(PersonArg(args));
    w.set_kind(v1::RECORD_KIND_CERTIFICATE);
    w.set_record_id(rec.record_id());
    w.set_operation(v1::OPERATION_UPSERT);
    *w.mutable_value() = std::move(v);
    w.set_reason(args.Get("reason"));
    TB_ASSIGN_OR_RETURN(v1::WriteReply reply, client->Write(w));
    if (args.Has("json")) return PrintJson(reply, io);
    io.out << "revoked certificate " << number << " of person " << reply.person_masked()
           << " as event " << EventName(reply.event()) << "\n"
           << "routed to: " << absl::StrJoin(reply.audience(), ", ") << "\n";
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("no certificate ", number, " of this person is held here"));
}

absl::Status NoticeSendCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::Notice* n = v.mutable_notice();
  TB_ASSIGN_OR_RETURN(std::string to, args.Required("to"));
  n->set_to_county(to);
  TB_ASSIGN_OR_RETURN(std::string subject, args.Required("subject"));
  n->set_subject(subject);
  n->set_body(args.Get("body"));
  n->set_needs_receipt(args.Has("needs-receipt"));
  n->set_needs_feedback(args.Has("needs-feedback"));
  // The record id is named by this second; the node stamps the time sent.
  return WriteRecord(args, io, v1::RECORD_KIND_NOTICE, std::move(v));
}

absl::Status NoticeAckCmd(const Args& args, Io& io) {
  v1::RecordValue v;
  v1::Receipt* r = v.mutable_receipt();
  TB_ASSIGN_OR_RETURN(std::string notice, args.Required("notice"));
  r->set_notice_record_id(notice);
  TB_ASSIGN_OR_RETURN(std::string from, args.Required("notice-county"));
  r->set_notice_county(from);
  r->set_feedback(args.Get("feedback"));
  return WriteRecord(args, io, v1::RECORD_KIND_RECEIPT, std::move(v));
}

absl::Status NoticeListCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(auto r, DeadlineListRequest<v1::NoticeListRequest>(args));
  TB_ASSIGN_OR_RETURN(v1::NoticeListReply reply, client->ListNotices(r));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {
      {"PERSON", "NOTICE", "FROM", "TO", "NEEDS", "SENT", "DUE", "STATE", "RECEIPT", "FEEDBACK"}};
  for (const v1::NoticeItem& i : reply.items()) {
    const std::string needs = i.needs_receipt() && i.needs_feedback() ? "receipt+feedback"
                              : i.needs_feedback()                    ? "feedback"
                                                                      : "receipt";
    rows.push_back({ids::MaskId(i.person()), i.record_id(), i.from_county(), i.to_county(), needs,
                    When(i.sent_at_micros()), records::DateText(i.due_on()), i.state(),
                    When(i.received_at_micros()), When(i.feedback_at_micros())});
  }
  PrintTable(rows, io);
  if (reply.items().empty()) io.out << Tr("(none)") << "\n";
  return absl::OkStatus();
}

absl::Status StatsCmd(const Args& args, Io& io) {
  const std::string from = args.Has("from") ? args.Get("from") : "node";
  if (from != "node" && from != "analytics") {
    return absl::InvalidArgumentError(
        absl::StrCat("--from \"", from, "\": give node (the default) or analytics"));
  }
  if (from == "analytics" && args.Has("scan")) {
    return absl::InvalidArgumentError("give --scan or --from analytics, not both");
  }
  if (from == "node" && args.Has("db")) {
    return absl::InvalidArgumentError(
        "--db is the analytics database: give it with --from analytics");
  }
  v1::StatsRequest r;
  if (args.Has("month") && args.Has("year")) {
    return absl::InvalidArgumentError("give --month or --year, not both");
  }
  if (args.Has("month")) {
    r.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
    r.set_period(args.Get("month"));
  } else if (args.Has("year")) {
    r.set_period_kind(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR);
    r.set_period(args.Get("year"));
  }
  r.set_scope(args.Get("scope"));
  r.set_scan(args.Has("scan"));
  v1::StatsReply reply;
  if (from == "analytics") {
    // libpq's own defaults where --db is not given (PGHOST, PGDATABASE,
    // PGSERVICE, ~/.pgpass), as psql.
    TB_ASSIGN_OR_RETURN(
        reply, analytics::StatsFromAnalytics(args.Get("db"), r, records::ChinaDay(absl::Now())));
  } else {
    TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
    TB_ASSIGN_OR_RETURN(reply, client->Stats(r));
  }
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << workflows::FormatStatsTable(reply);
  return absl::OkStatus();
}

absl::Status AuditCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::AuditRequest r;
  r.set_operator_(args.Get("operator"));
  r.set_person(args.Get("person"));
  r.set_action(args.Get("action"));
  TB_ASSIGN_OR_RETURN(long long limit, args.GetInt("limit", 100, 1, 100000));
  r.set_limit(static_cast<uint32_t>(limit));
  for (const char* flag : {"from", "to"}) {
    if (!args.Has(flag)) continue;
    TB_ASSIGN_OR_RETURN(v1::Date d, DateFlag(args, flag));
    const absl::Time t = absl::FromCivil(records::ToCivilDay(d), records::ChinaStandardTime());
    (std::string(flag) == "from" ? r.set_from_micros(absl::ToUnixMicros(t))
                                 : r.set_to_micros(absl::ToUnixMicros(t + absl::Hours(24))));
  }
  TB_ASSIGN_OR_RETURN(v1::AuditReply reply, client->Audit(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << "audit log: " << reply.size() << " entries, chain "
         << (reply.chain_verified() ? "verified" : "NOT VERIFIED") << "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"#", "WHEN", "OPERATOR", "ROLE", "ACTION", "PERSON", "REASON", "OUTCOME"}};
  for (const v1::AuditEntry& e : reply.entries()) {
    rows.push_back({absl::StrCat(e.seq()), When(e.at_micros()), e.operator_(), e.role(), e.action(),
                    e.person().empty() ? "-" : ids::MaskId(e.person()), e.reason(), e.outcome()});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status AccessReportCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::AccessReportRequest r;
  r.set_person(PersonArg(args));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  for (const char* flag : {"from", "to"}) {
    if (!args.Has(flag)) continue;
    TB_ASSIGN_OR_RETURN(v1::Date d, DateFlag(args, flag));
    const absl::Time t = absl::FromCivil(records::ToCivilDay(d), records::ChinaStandardTime());
    (std::string(flag) == "from" ? r.set_from_micros(absl::ToUnixMicros(t))
                                 : r.set_to_micros(absl::ToUnixMicros(t + absl::Hours(24))));
  }
  TB_ASSIGN_OR_RETURN(v1::AccessReportReply reply, client->AccessReport(r));
  if (args.Has("json")) return PrintJson(reply, io);
  if (args.Has("out")) {
    TB_RETURN_IF_ERROR(WriteFileAtomically(args.Get("out"), reply.csv(), 0600));
    io.out << "access report of person " << reply.person_masked() << ": " << reply.entries_size()
           << " entries, audit chain verified, written to " << args.Get("out") << "\n";
    return absl::OkStatus();
  }
  io.out << "access report of person " << reply.person_masked() << ": " << reply.entries_size()
         << " entries, audit chain " << (reply.chain_verified() ? "verified" : "NOT VERIFIED")
         << "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"#", "WHEN", "OPERATOR", "ROLE", "ACTION", "REASON", "OUTCOME"}};
  for (const v1::AuditEntry& e : reply.entries()) {
    rows.push_back({absl::StrCat(e.seq()), When(e.at_micros()), e.operator_(), e.role(), e.action(),
                    e.reason(), e.outcome()});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status PersonSearchCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::SearchPersonsRequest r;
  TB_ASSIGN_OR_RETURN(std::string name, args.Required("name"));
  r.set_name(name);
  TB_ASSIGN_OR_RETURN(*r.mutable_birth_date(), DateFlag(args, "birth-date"));
  TB_ASSIGN_OR_RETURN(std::string reason, args.Required("reason"));
  r.set_reason(reason);
  TB_ASSIGN_OR_RETURN(long long limit, args.GetInt("limit", 0, 1, 50));
  r.set_limit(static_cast<uint32_t>(limit));
  TB_ASSIGN_OR_RETURN(v1::SearchPersonsReply reply, client->SearchPersons(r));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {{"PERSON", "NAME", "SEX", "BORN", "HUKOU"}};
  for (const v1::PersonMatch& p : reply.persons()) {
    rows.push_back({p.person(), p.name(), v1::Sex_Name(p.sex()).substr(4),
                    records::DateText(p.birth_date()), p.hukou_region()});
  }
  PrintTable(rows, io);
  if (reply.persons().empty()) io.out << "(none)\n";
  return absl::OkStatus();
}

// How long before `now` `micros` was: "45s", "12m", "5h", "3d"; `never`
// for 0 (both in microseconds since the epoch).
std::string Ago(int64_t micros, int64_t now, const char* never) {
  if (micros == 0) return never;
  const int64_t s = std::max<int64_t>(0, (now - micros) / 1000000);
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 120 * 60) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

// At most `max` bytes of `text`, cut at a character boundary, "..." added
// if cut.
std::string Cut(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

absl::Status FleetCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  v1::FleetRequest r;
  if (args.Has("sort")) {
    TB_ASSIGN_OR_RETURN(v1::FleetSort sort,
                        Choice<v1::FleetSort>(args, "sort",
                                              {{"code", v1::FLEET_SORT_CODE},
                                               {"name", v1::FLEET_SORT_NAME},
                                               {"last-seen", v1::FLEET_SORT_LAST_SEEN},
                                               {"behind-out", v1::FLEET_SORT_BEHIND_OUTBOUND},
                                               {"behind-in", v1::FLEET_SORT_BEHIND_INBOUND},
                                               {"log-size", v1::FLEET_SORT_LOG_SIZE},
                                               {"held", v1::FLEET_SORT_HELD},
                                               {"frozen", v1::FLEET_SORT_FROZEN},
                                               {"version", v1::FLEET_SORT_SOFTWARE_VERSION},
                                               {"roster", v1::FLEET_SORT_ROSTER_VERSION},
                                               {"checkpoint", v1::FLEET_SORT_CHECKPOINT_TIME},
                                               {"cert-expiry", v1::FLEET_SORT_CERT_EXPIRY}}));
    r.set_sort(sort);
  }
  r.set_descending(args.Has("desc"));
  TB_ASSIGN_OR_RETURN(long long offset, args.GetInt("offset", 0, 0, 1000000));
  TB_ASSIGN_OR_RETURN(long long limit, args.GetInt("limit", 50, 1, 500));
  r.set_offset(static_cast<uint32_t>(offset));
  r.set_limit(static_cast<uint32_t>(limit));
  TB_ASSIGN_OR_RETURN(v1::FleetReply reply, client->Fleet(r));
  if (args.Has("json")) return PrintJson(reply, io);
  io.out << reply.total() << " nodes, roster v" << reply.roster_version() << ", as of "
         << When(reply.computed_at_micros()) << "\n\n";
  // One line per node within about 120 columns: ages and days rather than
  // times (--json has them all, and the whole hold reason).
  const int64_t now = reply.computed_at_micros();
  std::vector<std::vector<std::string>> rows = {{"NODE", "NAME", "STATUS", "SEEN", "BEHIND OUT",
                                                 "BEHIND IN", "LOG", "CHECKPOINT", "VERSION",
                                                 "ROSTER", "CERT DAYS", "HELD", "FROZEN"}};
  for (const v1::FleetNode& n : reply.nodes()) {
    std::string checkpoint = "-";
    if (n.checkpoint_size() > 0) {
      checkpoint =
          absl::StrCat(n.checkpoint_size(), " (", Ago(n.checkpoint_micros(), now, "-"), ")");
    }
    std::string roster = "-";
    if (n.roster_version() > 0) {
      roster = absl::StrCat("v", n.roster_version(),
                            n.roster_version() < reply.roster_version() ? " behind" : "");
    }
    std::string cert = "-";
    if (n.cert_not_after_micros() != 0) {
      const int64_t left = n.cert_not_after_micros() - now;
      cert = left <= 0 ? "expired" : absl::StrCat(left / (int64_t{86400} * 1000000));
    }
    rows.push_back({n.code(), n.name(), n.status(),
                    n.connected() ? "now" : Ago(n.last_seen_micros(), now, "never"),
                    absl::StrCat(n.behind_outbound()), absl::StrCat(n.behind_inbound()),
                    absl::StrCat(n.log_size()), checkpoint,
                    n.software_version().empty() ? "-" : n.software_version(), roster, cert,
                    n.held().empty() ? "-" : Cut(n.held(), 32), n.frozen() ? "FROZEN" : "-"});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

absl::Status MetricsHistoryCmd(const Args& args, Io& io) {
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  TB_ASSIGN_OR_RETURN(v1::MetricsHistoryReply reply,
                      client->MetricsHistory(v1::MetricsHistoryRequest()));
  if (args.Has("json")) return PrintJson(reply, io);
  std::vector<std::vector<std::string>> rows = {
      {"WHEN", "OWN EVENTS", "APPLIED", "SENT", "BEHIND OUT", "BEHIND IN", "LAG S", "PEERS UP"}};
  for (const v1::MetricsSample& s : reply.samples()) {
    rows.push_back({When(s.at_micros()), absl::StrCat(s.own_events()),
                    absl::StrCat(s.events_applied()), absl::StrCat(s.events_sent()),
                    absl::StrCat(s.behind_outbound()), absl::StrCat(s.behind_inbound()),
                    absl::StrFormat("%.0f", s.max_lag_seconds()),
                    absl::StrCat(s.peers_connected())});
  }
  PrintTable(rows, io);
  return absl::OkStatus();
}

}  // namespace

// Builds a command whose details are its own flags, the connection help and
// examples.
Command Online(std::string group, std::string name, std::string summary, std::string usage,
               std::string own_help, std::string examples, std::vector<FlagSpec> flags,
               size_t positional, std::function<absl::Status(const Args&, Io&)> run) {
  Command c;
  c.group = std::move(group);
  c.name = std::move(name);
  c.summary = std::move(summary);
  c.usage = std::move(usage);
  c.details = absl::StrCat(own_help, own_help.empty() ? "" : "\n", kConnectionHelp, "\nExamples:\n",
                           examples);
  c.flags = std::move(flags);
  c.min_positional = positional;
  c.max_positional = positional;
  c.run = std::move(run);
  return c;
}

namespace {

Command Record(std::string group, std::string name, std::string summary, std::string usage,
               std::string own_help, std::string examples, std::vector<FlagSpec> own,
               std::function<absl::Status(const Args&, Io&)> run) {
  return Online(std::move(group), std::move(name), std::move(summary), std::move(usage),
                absl::StrCat(own_help, kRecordHelp), std::move(examples),
                RecordFlags(std::move(own)), 1, std::move(run));
}

}  // namespace

// long-function: one long list on purpose: it is the table of online commands
// (one entry each, in the order `tongbanctl help` shows them), not steps of a
// process.
void AddOnlineCommands(std::vector<Command>* c) {
  c->push_back(Online("status", "", "the node: role, log, peers pending, disk", "tongbanctl status",
                      "", "  tongbanctl status --node 127.0.0.1:7444\n", ConnectionFlags(), 0,
                      StatusCmd));
  c->push_back(Online("peers", "",
                      "each peer: connected, since, last batch, behind, held, frozen, logs it "
                      "refuses, its clock",
                      "tongbanctl peers", "", "  tongbanctl peers --json\n", ConnectionFlags(), 0,
                      PeersCmd));
  c->push_back(Online(
      "peers", "clear-hold", "dial again a peer held after it sent invalid data (administrators)",
      "tongbanctl peers clear-hold PEER", "", "  tongbanctl peers clear-hold 440305\n",
      ConnectionFlags(), 1, ClearHoldCmd));
  c->push_back(Record("person", "register", "register a person's basic facts (户籍地, origin only)",
                      "tongbanctl person register ID --name NAME --sex male|female --birth-date "
                      "YYYY-MM-DD --hukou-region CODE [--hukou-address TEXT]",
                      "  --name, --sex, --birth-date, --hukou-region, --hukou-address\n",
                      "  tongbanctl person register 620102199001010012 --name 张三 --sex male "
                      "--birth-date 1990-01-01 --hukou-region 620102\n",
                      {{"name"}, {"sex"}, {"birth-date"}, {"hukou-region"}, {"hukou-address"}},
                      PersonRegisterCmd));
  const std::vector<FlagSpec> reason = {{"reason"}};
  c->push_back(Online("person", "show", "a person's records and linked nodes (audited)",
                      "tongbanctl person show ID --reason TEXT",
                      "  --reason TEXT          why you read the records (required, audited)\n",
                      "  tongbanctl person show 620102199001010012 --reason \"inflow check\"\n",
                      WithConnection(reason), 1, PersonShowCmd));
  c->push_back(Online("person", "history", "every version of every record of a person (audited)",
                      "tongbanctl person history ID --reason TEXT",
                      "  --reason TEXT          why you read the records (required, audited)\n",
                      "  tongbanctl person history 620102199001010012 --reason \"case review\"\n",
                      WithConnection(reason), 1, PersonHistoryCmd));
  c->push_back(Online("person", "where",
                      "which nodes hold records of a person (national index; audited)",
                      "tongbanctl person where ID --reason TEXT",
                      "  --reason TEXT          why you ask (required, audited)\n",
                      "  tongbanctl person where 620102199001010012 --reason \"inquiry\"\n",
                      WithConnection(reason), 1, PersonWhereCmd));
  c->push_back(
      Record("register", "outflow", "register a departure (流出登记, origin)",
             "tongbanctl register outflow ID --to COUNTY --left-on YYYY-MM-DD [--why TEXT]",
             "  --to COUNTY            the destination county code\n"
             "  --left-on DATE         the day the person left\n"
             "  --why TEXT             the reason for leaving (work, business, ...)\n",
             "  tongbanctl register outflow 620102199001010012 --to 440305 --left-on "
             "2026-03-01 --why work\n",
             {{"to"}, {"left-on"}, {"why"}}, OutflowCmd));
  c->push_back(Record(
      "register", "inflow", "register an arrival (流入登记, residence)",
      "tongbanctl register inflow ID --origin COUNTY --arrived-on DATE "
      "--registered-on DATE --address TEXT [--previous COUNTY] [--employer TEXT]",
      "  --origin COUNTY        the household-registration county\n"
      "  --previous COUNTY      the previous residence, if any\n"
      "  --arrived-on DATE, --registered-on DATE, --address TEXT, --employer TEXT\n",
      "  tongbanctl register inflow 620102199001010012 --origin 620102 "
      "--arrived-on 2026-03-02 --registered-on 2026-03-10 --address \"...\"\n",
      {{"origin"}, {"previous"}, {"arrived-on"}, {"registered-on"}, {"address"}, {"employer"}},
      InflowCmd));
  c->push_back(Record("register", "return",
                      "register a return home (origin) or a departure from the residence",
                      "tongbanctl register return ID --type home|departed --effective-on DATE "
                      "--from COUNTY [--to COUNTY]",
                      "  --type home|departed   returned home (origin) or left (residence)\n"
                      "  --effective-on DATE, --from COUNTY (the residence left), --to COUNTY\n",
                      "  tongbanctl register return 620102199001010012 --type home "
                      "--effective-on 2026-11-01 --from 330106\n",
                      {{"type"}, {"effective-on"}, {"from"}, {"to"}}, ReturnCmd));
  c->push_back(
      Record("service", "record", "record a public service delivered (服务记录)",
             "tongbanctl service record ID --type TYPE --delivered-on DATE --provider "
             "COUNTY [--period P] [--notes TEXT]",
             "  --type                 prenatal-check, child-immunisation, health-check,\n"
             "                         contraceptive-supplies, health-education,\n"
             "                         birth-registration-help\n"
             "  --delivered-on DATE, --provider COUNTY, --period 2026-11, --notes TEXT\n"
             "  --confirm-duplicate    record it although the same service for the same\n"
             "                         period is recorded for the person (flagged first)\n",
             "  tongbanctl service record 620102199001010012 --type health-check "
             "--delivered-on 2026-04-01 --provider 440305\n",
             {{"type"},
              {"delivered-on"},
              {"provider"},
              {"period"},
              {"notes"},
              {"confirm-duplicate", false}},
             ServiceCmd));
  c->push_back(
      Record("entitlement", "set", "set an entitlement (奖励扶助等, origin)",
             "tongbanctl entitlement set ID --programme NAME --status STATUS --from DATE "
             "--to DATE [--amount-fen N] [--delivered-by COUNTY]",
             "  --status               eligible, active, suspended, ended\n",
             "  tongbanctl entitlement set 620102199001010012 --programme reward "
             "--status active --from 2026-01-01 --to 2026-12-31 --amount-fen 10000\n",
             {{"programme"}, {"status"}, {"amount-fen"}, {"from"}, {"to"}, {"delivered-by"}},
             EntitlementCmd));
  c->push_back(
      Record("entitlement", "deliver",
             "record that this county helped deliver an entitlement (协助发放, residence)",
             "tongbanctl entitlement deliver ID --entitlement RECORD_ID --delivered-on "
             "DATE --provider COUNTY [--period P] [--notes TEXT]",
             "  --entitlement RECORD_ID  the origin's entitlement record (ent-PROGRAMME),\n"
             "                         as person show lists it; it must be held here\n"
             "  --delivered-on DATE, --provider COUNTY (this county), --period 2026-11\n"
             "  --confirm-duplicate    record it although a delivery for the period is\n"
             "                         recorded (flagged first)\n",
             "  tongbanctl entitlement deliver 620102199001010012 --entitlement "
             "ent-reward --delivered-on 2026-11-20 --provider 440305 --period 2026-11\n",
             {{"entitlement"},
              {"delivered-on"},
              {"provider"},
              {"period"},
              {"notes"},
              {"confirm-duplicate", false}},
             EntitlementDeliverCmd));
  c->push_back(Record("certificate", "issue", "issue an electronic certificate (电子证明)",
                      "tongbanctl certificate issue ID --type TYPE --number N --issuer COUNTY "
                      "--valid-from DATE --valid-to DATE [--fact NAME=VALUE ...] [--supersedes ID]",
                      "  --type                 marriage-fertility, residence-permit\n"
                      "  --fact NAME=VALUE      an attested fact (repeatable)\n",
                      "  tongbanctl certificate issue 620102199001010012 --type "
                      "marriage-fertility --number HY-1 --issuer 620102 --valid-from 2026-03-01 "
                      "--valid-to 2027-02-28 --fact marital_status=married\n",
                      {{"type"},
                       {"number"},
                       {"issuer"},
                       {"valid-from"},
                       {"valid-to"},
                       {"fact", true, true},
                       {"supersedes"}},
                      CertificateIssueCmd));
  c->push_back(
      Record("inquiry", "send", "send an inquiry (协查) to another county",
             "tongbanctl inquiry send ID --to COUNTY --type TYPE --question TEXT",
             "  --type                 urgent (15 days), normal (30), certificate-mismatch (7)\n"
             "                         by default; the node sets the deadline from its\n"
             "                         [deadlines] rules for the receiving province\n",
             "  tongbanctl inquiry send 620102199001010012 --to 620102 --type normal "
             "--question \"Is the marriage certificate current?\"\n",
             {{"to"}, {"type"}, {"question"}}, InquirySendCmd));
  c->push_back(
      Record("inquiry", "reply", "reply to an inquiry (协查反馈)",
             "tongbanctl inquiry reply ID --inquiry RECORD_ID --inquiry-county COUNTY "
             "--answer TEXT [--matched]",
             "  --inquiry RECORD_ID    the inquiry's record id; --inquiry-county: its sender\n",
             "  tongbanctl inquiry reply 620102199001010012 --inquiry inq-620102-1 "
             "--inquiry-county 440305 --answer \"current\" --matched\n",
             {{"inquiry"}, {"inquiry-county"}, {"answer"}, {"matched", false}}, InquiryReplyCmd));
  c->push_back(Online("inquiry", "list", "inquiries sent or received here, with their state",
                      "tongbanctl inquiry list [--due [--within-days N]] [--overdue]",
                      "  --due                  only open ones due within --within-days (default:\n"
                      "                         the node's deadlines.remind_days, 3 unless set)\n"
                      "  --overdue              only those past their deadline without a reply\n"
                      "States: sent, received, open (national node), answered, answered late,\n"
                      "overdue, withdrawn.\n",
                      "  tongbanctl inquiry list --overdue\n",
                      WithConnection({{"due", false}, {"overdue", false}, {"within-days"}}), 0,
                      InquiryListCmd));
  c->push_back(Online("certificate", "show", "a person's certificates held here (audited)",
                      "tongbanctl certificate show ID --reason TEXT",
                      "  --reason TEXT          why you read them (required, audited)\n",
                      "  tongbanctl certificate show 620102199001010012 --reason \"check\"\n",
                      WithConnection(reason), 1, CertificateShowCmd));
  c->push_back(Online("certificate", "revoke", "revoke a certificate this node issued",
                      "tongbanctl certificate revoke ID --number N --reason TEXT",
                      "  --number N             the certificate number\n"
                      "  --reason TEXT          why (required, audited)\n",
                      "  tongbanctl certificate revoke 620102199001010012 --number HY-1 "
                      "--reason \"issued in error\"\n",
                      WithConnection({{"number"}, {"reason"}}), 1, CertificateRevokeCmd));
  c->push_back(
      Record("notice", "send", "send a notice (通报) to another county",
             "tongbanctl notice send ID --to COUNTY --subject TEXT [--body TEXT] "
             "[--needs-receipt] [--needs-feedback]",
             "",
             "  tongbanctl notice send 620102199001010012 --to 440305 --subject "
             "\"moved\" --needs-receipt\n",
             {{"to"}, {"subject"}, {"body"}, {"needs-receipt", false}, {"needs-feedback", false}},
             NoticeSendCmd));
  c->push_back(Record("notice", "ack", "acknowledge a notice (回执)",
                      "tongbanctl notice ack ID --notice RECORD_ID --notice-county COUNTY "
                      "[--feedback TEXT]",
                      "",
                      "  tongbanctl notice ack 620102199001010012 --notice notice-440305-1 "
                      "--notice-county 440305\n",
                      {{"notice"}, {"notice-county"}, {"feedback"}}, NoticeAckCmd));
  c->push_back(Online(
      "notice", "list", "notices needing a receipt or feedback, sent or received here, with state",
      "tongbanctl notice list [--due [--within-days N]] [--overdue]",
      "  --due                  only open ones due within --within-days (default:\n"
      "                         the node's deadlines.remind_days, 3 unless set)\n"
      "  --overdue              only those past their deadline, not complete\n"
      "States: sent, received, open (national node), awaiting feedback, acknowledged,\n"
      "acknowledged late, overdue, withdrawn. Deadline: 30 days unless\n"
      "[deadlines] says otherwise.\n",
      "  tongbanctl notice list --due\n",
      WithConnection({{"due", false}, {"overdue", false}, {"within-days"}}), 0, NoticeListCmd));
  c->push_back(
      Online("stats", "", "the measures: feedback, receipts, timeliness, coverage, flows",
             "tongbanctl stats [--month YYYY-MM | --year YYYY] [--scope CODE] [--scan | "
             "--from analytics [--db CONNINFO]]",
             "  --month YYYY-MM        a calendar month (default: the current one)\n"
             "  --year YYYY            the statistical year ending in YYYY: 1 October\n"
             "                         YYYY-1 to 30 September YYYY\n"
             "  --scope CODE           a county, a province XX0000 or the nation 000000\n"
             "                         (default: the node's own; a county sees itself only)\n"
             "  --scan                 compute by a full scan of the records (the reference\n"
             "                         the counters are checked against; slow on a large node)\n"
             "  --from analytics       read the national analytics database (PostgreSQL) the\n"
             "                         national node mirrors into, not the node: the same\n"
             "                         measures (records in conflict not counted); no --node\n"
             "  --db CONNINFO          that database (libpq: \"host=... dbname=... user=...\" or\n"
             "                         postgresql://...; default: PGHOST, PGDATABASE, ...)\n",
             "  tongbanctl stats --year 2026 --scope 440000\n"
             "  tongbanctl stats --year 2026 --from analytics --db 'host=db1 dbname=tongban'\n",
             WithConnection({{"month"}, {"year"}, {"scope"}, {"scan", false}, {"from"}, {"db"}}), 0,
             StatsCmd));
  c->push_back(
      Online("audit", "", "the audit trail, its chain verified (auditors)",
             "tongbanctl audit [--from DATE] [--to DATE] [--operator NAME] [--person ID] "
             "[--action ACTION] [--limit N]",
             "  --from DATE, --to DATE  days in China Standard Time\n"
             "  --operator NAME, --person ID, --limit N (default 100)\n"
             "  --action ACTION        person.read, record.write, operator.login, ...\n",
             "  tongbanctl audit --from 2026-11-01 --person 620102199001010012\n",
             WithConnection({{"from"}, {"to"}, {"operator"}, {"person"}, {"action"}, {"limit"}}), 0,
             AuditCmd));
  c->push_back(Online(
      "audit", "report",
      "a person's access report (PIPL art. 45): who read or wrote their records, when, why",
      "tongbanctl audit report ID --reason TEXT [--from DATE] [--to DATE] [--out FILE]",
      "  --reason TEXT          why the report is made (required, audited)\n"
      "  --out FILE             write the report as CSV (UTF-8 with BOM) instead of a table\n",
      "  tongbanctl audit report 620102199001010012 --reason \"the person asked\" --out r.csv\n",
      WithConnection({{"reason"}, {"from"}, {"to"}, {"out"}}), 1, AccessReportCmd));
  c->push_back(Online(
      "person", "search", "persons this node holds by name and birth date (audited)",
      "tongbanctl person search --name NAME --birth-date DATE --reason TEXT",
      "  --name NAME, --birth-date YYYY-MM-DD\n"
      "  --reason TEXT          why you look for the person (required, audited)\n",
      "  tongbanctl person search --name 王芳 --birth-date 1990-03-07 --reason "
      "\"arrival\"\n",
      WithConnection({{"name"}, {"birth-date"}, {"reason"}, {"limit"}}), 0, PersonSearchCmd));
  c->push_back(Online(
      "fleet", "",
      "every other node: last seen, lag both ways, log and checkpoint, version, roster, "
      "certificate, held, frozen",
      "tongbanctl fleet [--sort KEY] [--desc] [--offset N] [--limit N]",
      "  --sort KEY             code (default), name, last-seen, behind-out, behind-in,\n"
      "                         log-size, held, frozen, version, roster, checkpoint,\n"
      "                         cert-expiry (soonest first; unknown last)\n"
      "  --desc                 largest first; --offset N, --limit N (default 50, at most 500)\n"
      "SEEN is now (connected) or how long ago; CHECKPOINT the size and age of the\n"
      "newest signed checkpoint held of the node's log; VERSION and ROSTER what its\n"
      "last Hello said (behind: older than ours); CERT DAYS the days until the\n"
      "certificate it last presented expires. --json gives every field whole.\n",
      "  tongbanctl fleet --sort behind-out --desc --limit 20\n"
      "  tongbanctl fleet --sort cert-expiry --limit 20\n",
      WithConnection({{"sort"}, {"desc", false}, {"offset"}, {"limit"}}), 0, FleetCmd));
  c->push_back(Online("metrics", "history",
                      "the node's events and lag over the last hours (10 s samples)",
                      "tongbanctl metrics history", "", "  tongbanctl metrics history --json\n",
                      ConnectionFlags(), 0, MetricsHistoryCmd));
}

}  // namespace tongban::cli
