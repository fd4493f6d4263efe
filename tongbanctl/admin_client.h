// The Admin client of tongbanctl: one mutual-TLS channel to the operator's
// own node and one call per command (proto/tongban/v1/admin.proto).
//
// Where to connect and as whom comes from flags, or from the environment
// when a flag is absent:
//   --node HOST:PORT      TONGBAN_NODE       the node's Admin port
//   --ca FILE             TONGBAN_CA         CA certificate that issued the node's certificate
//   --cert FILE           TONGBAN_CERT       the operator's certificate
//   --key FILE            TONGBAN_KEY        its private key (mode 0600)
//   --password-file FILE  TONGBAN_PASSWORD   the second factor: a password ...
//   --totp CODE           TONGBAN_TOTP       ... or a TOTP code
// A password is never taken from a flag's value (it would show in the
// process list and shell history).
//
// This header does not include gRPC.
//
// Thread safety: one AdminClient per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tongban/v1/admin.pb.h"
#include "tongbanctl/args.h"

namespace tongban::cli {

// The flags every online command accepts (and --json).
std::vector<FlagSpec> ConnectionFlags();

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

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tongban::cli
