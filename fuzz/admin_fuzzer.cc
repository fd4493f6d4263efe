// The Admin requests (issue #17): every request message an operator's
// client can send, decoded from the input and handed to the AdminApi of a
// real county node (node::Node in this process, of a one-county federation
// made by tests/testutil/nation.h, its national node never started) under
// the role the input picks. A request, however malformed, must come back as
// a reply or a status: no crash, no ASan or UBSan finding, no hang
// (libFuzzer's timeout). The node keeps what the accepted requests wrote
// from one input to the next, as a node in service does.
//
// Input: the request's wire bytes, then a byte that picks the call and a
// last byte that picks the role (FuzzedDataProvider takes numbers from the
// end); fuzz/make_seeds.cc writes a valid request of each call.
//
// Left out: Backup and RotateKey (they write files and keys, not decode
// more), the bundle streams (their file format has fuzz_bundle) and
// ManageOperator (no account file here; tests/admin covers its checks).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "admin/admin.h"
#include "common/clock.h"
#include "fuzz/fixtures.h"
#include "fuzzer/FuzzedDataProvider.h"
#include "node/config.h"
#include "node/node.h"
#include "tests/testutil/nation.h"

namespace tongban::fuzz {
namespace {

struct AdminNode {
  TempDir dir;
  std::unique_ptr<node::Node> node;
  std::unique_ptr<admin::AdminApi> api;
};

AdminNode* Get() {
  static AdminNode* const node = [] {
    auto* n = new AdminNode;
    testutil::NationOptions o;
    o.dir = n->dir.File("nation");
    o.counties = 0;
    o.batches = 0;
    o.inflow_every = 0;
    o.national_port = 1;  // never listening: the county's dials fail and back off
    absl::StatusOr<testutil::Nation> nation = testutil::MakeNation(o);
    if (!nation.ok()) abort();
    absl::StatusOr<node::Config> config = node::LoadConfig(nation->real_config);
    if (!config.ok()) abort();
    absl::StatusOr<std::unique_ptr<node::Node>> started = node::Node::Start(*config, RealClock());
    if (!started.ok()) abort();
    n->node = *std::move(started);
    n->api = std::make_unique<admin::AdminApi>(n->node.get(), [](const std::string&) {
      return absl::StatusOr<v1::WhereReply>(absl::UnavailableError("no national node here"));
    });
    return n;
  }();
  return node;
}

// Decodes the rest of the input as a Request and calls `call` with it.
template <typename Request, typename Call>
void Try(FuzzedDataProvider& in, Call call) {
  Request request;
  if (!request.ParseFromString(in.ConsumeRemainingBytesAsString())) return;
  (void)call(request);
}

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban;
  using namespace tongban::fuzz;
  (void)kQuiet;
  AdminNode* n = Get();
  admin::AdminApi& api = *n->api;
  FuzzedDataProvider in(data, size);
  admin::AuthenticatedOperator op;
  op.county = n->node->config().code;
  op.name = "fuzz";
  op.role = in.PickValueInArray(
      {admin::Role::kClerk, admin::Role::kAdministrator, admin::Role::kAuditor});
  auto with = [&](auto method) {
    return [&, method](const auto& r) { return (api.*method)(op, r); };
  };
  switch (in.ConsumeIntegralInRange<int>(0, 19)) {
    case 0: Try<v1::StatusRequest>(in, with(&admin::AdminApi::Status)); break;
    case 1: Try<v1::PeersRequest>(in, with(&admin::AdminApi::Peers)); break;
    case 2: Try<v1::ClearHoldRequest>(in, with(&admin::AdminApi::ClearHold)); break;
    case 3: Try<v1::WriteRequest>(in, with(&admin::AdminApi::Write)); break;
    case 4: Try<v1::PersonRequest>(in, with(&admin::AdminApi::GetPerson)); break;
    case 5: Try<v1::PersonRequest>(in, with(&admin::AdminApi::PersonHistory)); break;
    case 6: Try<v1::WhereRequestAdmin>(in, with(&admin::AdminApi::Where)); break;
    case 7: Try<v1::AuditRequest>(in, with(&admin::AdminApi::Audit)); break;
    case 8: Try<v1::InquiryListRequest>(in, with(&admin::AdminApi::ListInquiries)); break;
    case 9: Try<v1::NoticeListRequest>(in, with(&admin::AdminApi::ListNotices)); break;
    case 10: Try<v1::StatsRequest>(in, with(&admin::AdminApi::Stats)); break;
    case 11: Try<v1::StatsManyRequest>(in, with(&admin::AdminApi::StatsMany)); break;
    case 12:
      Try<v1::CertificatePayloadRequest>(in, with(&admin::AdminApi::CertificatePayload));
      break;
    case 13: Try<v1::RevocationListRequest>(in, with(&admin::AdminApi::RevocationList)); break;
    case 14: Try<v1::ImportRequest>(in, with(&admin::AdminApi::Import)); break;
    case 15: Try<v1::SearchPersonsRequest>(in, with(&admin::AdminApi::SearchPersons)); break;
    case 16: Try<v1::FleetRequest>(in, with(&admin::AdminApi::Fleet)); break;
    case 17: Try<v1::AccessReportRequest>(in, with(&admin::AdminApi::AccessReport)); break;
    case 18: Try<v1::MetricsHistoryRequest>(in, with(&admin::AdminApi::MetricsHistory)); break;
    default: Try<v1::OperatorsRequest>(in, with(&admin::AdminApi::ListOperators)); break;
  }
  return 0;
}
