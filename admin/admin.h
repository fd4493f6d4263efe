// AdminApi is the logic of the Admin service (proto/tongban/v1/admin.proto)
// on one Node, without the transport: admin/admin_server.h moves its calls
// over gRPC, after authenticating the operator. Each call
//   1. checks the operator's role may make it (the permission matrix of
//      admin/operators.h), refusing with kPermissionDenied otherwise;
//   2. validates its input (kInvalidArgument naming the field; IDs masked);
//   3. does the work;
//   4. for every call that reads or writes personal data, appends an audit
//      entry (who, role, what, which person, why, outcome), refused and
//      failed calls included. If the audit entry cannot be written, the
//      call fails: nothing is read or written unaudited.
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "admin/auth.h"
#include "admin/operators.h"
#include "node/node.h"
#include "storage/audit_log.h"
#include "tongban/v1/admin.pb.h"
#include "tongban/v1/stats.pb.h"
#include "workflows/deadlines.h"

namespace tongban::admin {

// The authenticated caller (admin/auth.h).
using Operator = AuthenticatedOperator;

// The operator accounts the account calls change, and the authenticator
// whose lock-outs they lift (both not owned; null on a node without
// operators, where those calls fail with kFailedPrecondition).
struct AccountControl {
  OperatorAccounts* accounts = nullptr;
  Authenticator* authenticator = nullptr;
};

class AdminApi {
 public:
  // Most rows one Import call may carry.
  static constexpr int kMaxImportBatch = 10000;
  // Asks the national node where a person's records are held (counties).
  using AskWhere = std::function<absl::StatusOr<v1::WhereReply>(const std::string& person)>;

  // `node` must outlive this object; its audit log keeps the entries.
  AdminApi(node::Node* node, AskWhere ask_where, AccountControl accounts = {});

  absl::StatusOr<v1::StatusReply> Status(const Operator& op, const v1::StatusRequest& r);
  absl::StatusOr<v1::PeersReply> Peers(const Operator& op, const v1::PeersRequest& r);
  absl::StatusOr<v1::ClearHoldReply> ClearHold(const Operator& op, const v1::ClearHoldRequest& r);
  absl::StatusOr<v1::WriteReply> Write(const Operator& op, const v1::WriteRequest& r);
  absl::StatusOr<v1::PersonReply> GetPerson(const Operator& op, const v1::PersonRequest& r);
  absl::StatusOr<v1::HistoryReply> PersonHistory(const Operator& op, const v1::PersonRequest& r);
  absl::StatusOr<v1::WhereReplyAdmin> Where(const Operator& op, const v1::WhereRequestAdmin& r);
  absl::StatusOr<v1::AuditReply> Audit(const Operator& op, const v1::AuditRequest& r);
  absl::StatusOr<v1::InquiryListReply> ListInquiries(const Operator& op,
                                                     const v1::InquiryListRequest& r);
  absl::StatusOr<v1::NoticeListReply> ListNotices(const Operator& op,
                                                  const v1::NoticeListRequest& r);
  absl::StatusOr<v1::StatsReply> Stats(const Operator& op, const v1::StatsRequest& r);
  // Up to kMaxStatsQueries queries from one scan of the records.
  static constexpr int kMaxStatsQueries = 130;
  absl::StatusOr<v1::StatsManyReply> StatsMany(const Operator& op, const v1::StatsManyRequest& r);
  // The offline payload of a certificate this node issued (clerk; audited).
  absl::StatusOr<v1::CertificatePayloadReply> CertificatePayload(
      const Operator& op, const v1::CertificatePayloadRequest& r);
  // The signed revocation list; only the national node publishes it (clerk
  // or administrator; audited, it names no person).
  absl::StatusOr<v1::RevocationListReply> RevocationList(const Operator& op,
                                                         const v1::RevocationListRequest& r);
  // Writes a batch of imported rows with one Writer::AppendAll (one fsync).
  // Per-row refusals (kInvalidArgument, unconfirmed findings, custody) are
  // per-row results, never a failed call; a row whose record already holds
  // the same value is skipped as unchanged. Clerk only; one audit entry per
  // batch (action "record.import", the file, line range and person count).
  absl::StatusOr<v1::ImportReply> Import(const Operator& op, const v1::ImportRequest& r);
  // Persons this node holds by name and birth date (storage's name index),
  // each hit checked against the person's current basics. Clerk only; the
  // reason is required; one audit entry for the search and one per person
  // found ("person.search").
  absl::StatusOr<v1::SearchPersonsReply> SearchPersons(const Operator& op,
                                                       const v1::SearchPersonsRequest& r);
  // The fleet view (node/fleet.h) sorted and paged. Whoever may read peers;
  // names no person, so it is not audited. kUnavailable until housekeeping
  // first computed it (within 2 s of start).
  absl::StatusOr<v1::FleetReply> Fleet(const Operator& op, const v1::FleetRequest& r);
  // Every audit entry about one person, oldest first, after verifying the
  // chain; the rows also as CSV. Auditor only; audited
  // ("audit.access_report", the person, the reason).
  absl::StatusOr<v1::AccessReportReply> AccessReport(const Operator& op,
                                                     const v1::AccessReportRequest& r);
  // The node's metrics over the last hours (node/fleet.h MetricsHistory).
  // Whoever may read statistics; no personal data.
  absl::StatusOr<v1::MetricsHistoryReply> MetricsHistory(const Operator& op,
                                                         const v1::MetricsHistoryRequest& r);
  // Every operator account with its lock-out state. Administrators only;
  // names no person and changes nothing, so it is not audited.
  absl::StatusOr<v1::OperatorsReply> ListOperators(const Operator& op,
                                                   const v1::OperatorsRequest& r);
  // One change of one account (disable, enable, reset-password, unlock,
  // enroll-totp), written to the accounts file (admin/operators.h) or the
  // lock-out store at once, so it holds from the operator's next call and
  // across a restart. Administrators only; audited ("operator.disable", ...,
  // purpose "operator NAME" and the reason), refusals included. An
  // administrator cannot disable their own account (kFailedPrecondition):
  // the last one would lock everybody out.
  absl::StatusOr<v1::ManageOperatorReply> ManageOperator(const Operator& op,
                                                         const v1::ManageOperatorRequest& r);
  // An incremental backup of the node's store into the configured folder
  // ([storage] backup_dir; storage/backup.h), while the node keeps writing.
  // Then keeps the newest [storage] backup_keep backups there and removes
  // older ones (the reply names them); a failed removal is logged and put in
  // the reply's purge_error, and the backup still succeeds.
  // Administrators only (manage configuration); audited ("node.backup",
  // purpose "backup" and the reason, plus "(removed N older)" when backups
  // were removed), refusals included. Names no person.
  absl::StatusOr<v1::BackupReply> Backup(const Operator& op, const v1::BackupRequest& r);
  absl::StatusOr<v1::RotateKeyReply> RotateKey(const Operator& op, const v1::RotateKeyRequest& r);
  // Offline bundles (node/bundles.h). Administrators (exchange bundles);
  // audited ("bundle.export" purpose "bundle for NODE" and the reason;
  // "bundle.import" purpose "bundle from NODE"), refusals included. The
  // export streams its bytes to `sink`; r.since_ack, when set, is written to
  // a spool file in the data folder and imported first. The import reads
  // the spooled file at `path` (the transport wrote it, at most
  // kMaxBundleBytes).
  absl::StatusOr<v1::BundleSummary> ExportBundle(const Operator& op,
                                                 const v1::ExportBundleRequest& r,
                                                 const node::BundleSink& sink,
                                                 const node::BundleProgressFn& progress);
  absl::StatusOr<v1::ImportBundleReply> ImportBundle(const Operator& op, const std::string& path);
  // Where the transport spools an uploaded bundle: a new file name in the
  // data folder's bundle-spool/ (created), which the caller removes.
  absl::StatusOr<std::string> NewSpoolFile() const;
  // Whether `op` may exchange bundles (checked before an upload is spooled).
  absl::Status MayExchangeBundles(const Operator& op) const;
  static constexpr uint64_t kMaxBundleBytes = uint64_t{64} << 30;
  // Most persons one search returns; most fleet rows one page holds.
  static constexpr uint32_t kMaxSearchResults = 50;
  static constexpr uint32_t kMaxFleetPage = 500;

 private:
  // Every inquiry and notice this node tracks, in their state at `now`.
  absl::StatusOr<workflows::Tracked> Track(absl::Time now) const;
  // OK unless appends are blocked (kFailedPrecondition saying why).
  absl::Status AppendsAllowed() const;
  // The normalized form of `raw`, or kInvalidArgument naming the field.
  absl::StatusOr<std::string> Person(absl::string_view raw) const;
  // Runs `body` and audits it with its outcome. `reason` is read after
  // `body` runs, so a body may append what it did to the string it refers to.
  template <typename T>
  absl::StatusOr<T> Audited(const Operator& op, Permission permission, const std::string& action,
                            const std::string& person, const std::string& reason,
                            const std::function<absl::StatusOr<T>()>& body);

  // The reply row of one account.
  v1::OperatorInfo InfoOf(const OperatorAccount& account) const;
  absl::StatusOr<v1::ManageOperatorReply> ChangeAccount(const Operator& op,
                                                        const v1::ManageOperatorRequest& r);

  node::Node* const node_;  // Not owned.
  const AccountControl accounts_;
  const AskWhere ask_where_;
  const absl::Time started_;
};

// The rows [offset, offset + limit) of `rows` in the order `sort` (ties by
// code; FLEET_SORT_UNSPECIFIED is by code), largest first if `descending`.
// Only that page is sorted into place. REQUIRES: `sort` is valid.
std::vector<const node::FleetRow*> FleetPage(const std::vector<node::FleetRow>& rows,
                                             v1::FleetSort sort, bool descending, size_t offset,
                                             size_t limit);

}  // namespace tongban::admin
