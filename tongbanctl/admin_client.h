// The Admin client of tongbanctl: one mutual-TLS channel to the operator's
// own node and one call per command (proto/tongban/v1/admin.proto).
//
// Where to connect and as whom comes from flags, else from the environment,
// else from the connection profile (tongbanctl/profiles.h: --profile NAME,
// TONGBAN_PROFILE, or the current one):
//   --node HOST:PORT      TONGBAN_NODE       node           the node's Admin port
//   --ca FILE             TONGBAN_CA         ca             CA that issued the node's certificate
//   --cert FILE           TONGBAN_CERT       cert           the operator's certificate
//   --key FILE            TONGBAN_KEY        key            its private key (mode 0600)
//   --password-file FILE  TONGBAN_PASSWORD   password_file  the second factor: a password ...
//   --totp CODE           TONGBAN_TOTP       totp="prompt"  ... or a TOTP code
// A password is never taken from a flag's value (it would show in the
// process list and shell history).
//
// A call that cannot reach the node fails with kUnavailable and a message
// that says what to check instead of gRPC's text: nothing listening on the
// port (node down, wrong port), a node certificate the CA does not trust, a
// certificate for another address, a port that does not speak TLS, a node
// that refuses the operator's certificate (another county's node, or the
// peer port), no answer in time. ExplainConnectionError maps them.
//
// This header does not include gRPC.
//
// Thread safety: one AdminClient per thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tongban/v1/admin.pb.h"
#include "tongbanctl/args.h"

namespace tongban::cli {

// The flags every online command accepts (and --json).
std::vector<FlagSpec> ConnectionFlags();

// What to check, for a call to `node` that failed with gRPC's `code` and
// `message` (above); `operator_county` is the county of the operator's
// certificate, or "". Codes other than UNAVAILABLE and DEADLINE_EXCEEDED
// come back unchanged (the node's own answer).
absl::Status ExplainConnectionError(int code, const std::string& message, const std::string& node,
                                    const std::string& operator_county);

// Stops gRPC's own log lines (a TLS handshake failure is logged by gRPC at
// ERROR before the call fails); tongbanctl explains the failure itself.
void QuietGrpcLogs();

class AdminClient {
 public:
  // Reads the settings above; kInvalidArgument naming what is missing.
  static absl::StatusOr<std::unique_ptr<AdminClient>> FromArgs(const Args& args);
  ~AdminClient();

  absl::StatusOr<v1::StatusReply> Status(const v1::StatusRequest& r);
  absl::StatusOr<v1::PeersReply> Peers(const v1::PeersRequest& r);
  absl::StatusOr<v1::ClearHoldReply> ClearHold(const v1::ClearHoldRequest& r);
  absl::StatusOr<v1::WriteReply> Write(const v1::WriteRequest& r);
  absl::StatusOr<v1::PersonReply> GetPerson(const v1::PersonRequest& r);
  absl::StatusOr<v1::HistoryReply> PersonHistory(const v1::PersonRequest& r);
  absl::StatusOr<v1::WhereReplyAdmin> Where(const v1::WhereRequestAdmin& r);
  absl::StatusOr<v1::AuditReply> Audit(const v1::AuditRequest& r);
  absl::StatusOr<v1::InquiryListReply> ListInquiries(const v1::InquiryListRequest& r);
  absl::StatusOr<v1::NoticeListReply> ListNotices(const v1::NoticeListRequest& r);
  absl::StatusOr<v1::StatsReply> Stats(const v1::StatsRequest& r);
  absl::StatusOr<v1::StatsManyReply> StatsMany(const v1::StatsManyRequest& r);
  absl::StatusOr<v1::CertificatePayloadReply> CertificatePayload(
      const v1::CertificatePayloadRequest& r);
  absl::StatusOr<v1::RevocationListReply> RevocationList(const v1::RevocationListRequest& r);
  absl::StatusOr<v1::ImportReply> Import(const v1::ImportRequest& r);
  absl::StatusOr<v1::SearchPersonsReply> SearchPersons(const v1::SearchPersonsRequest& r);
  absl::StatusOr<v1::FleetReply> Fleet(const v1::FleetRequest& r);
  absl::StatusOr<v1::AccessReportReply> AccessReport(const v1::AccessReportRequest& r);
  absl::StatusOr<v1::MetricsHistoryReply> MetricsHistory(const v1::MetricsHistoryRequest& r);
  absl::StatusOr<v1::OperatorsReply> ListOperators(const v1::OperatorsRequest& r);
  absl::StatusOr<v1::ManageOperatorReply> ManageOperator(const v1::ManageOperatorRequest& r);
  absl::StatusOr<v1::RotateKeyReply> RotateKey(const v1::RotateKeyRequest& r);
  // Streams a bundle export: `on_data` receives its bytes in order (an error
  // from it cancels the export), `on_progress` the node's progress. Returns
  // the summary the node sends last.
  absl::StatusOr<v1::BundleSummary> ExportBundle(
      const v1::ExportBundleRequest& r,
      const std::function<absl::Status(absl::string_view)>& on_data,
      const std::function<void(const v1::BundleProgress&)>& on_progress);
  // Streams the bundle file at `path` to the node; `on_sent` is told the
  // bytes sent so far.
  absl::StatusOr<v1::ImportBundleReply> ImportBundle(
      const std::string& path, const std::function<void(uint64_t sent)>& on_sent);
  absl::StatusOr<v1::BackupReply> Backup(const v1::BackupRequest& r);

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::cli
