// Writes the seed corpora of the fuzz targets that need signed or
// structured inputs (fuzz/corpus/<target>/), from the fixed keys of
// fuzz/fixtures.h: valid inputs like those the tests use, so each target
// starts from the inside of its format. Run by hand after a format change:
//   build-fuzz/fuzz/tongban_fuzz_seeds fuzz/corpus
// (the config and import CSV seeds are files copied from deploy/ and the
// tests, by hand).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/cosignature.h"
#include "fuzz/fixed_roster.h"
#include "fuzz/fixtures.h"
#include "fuzz/session_node.h"
#include "sync/roster.h"
#include "tests/testutil/records.h"
#include "tongban/v1/admin.pb.h"
#include "tongban/v1/exchange.pb.h"
#include "tongban/v1/stats.pb.h"
#include "workflows/certificate_payload.h"

namespace tongban::fuzz {
namespace {

std::string out_dir;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(out_dir + "/" + target);
  std::ofstream f(out_dir + "/" + target + "/" + name, std::ios::binary);
  f << bytes;
  if (!f) abort();
}

template <typename T>
T Must(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::cerr << v.status() << "\n";
    abort();
  }
  return *std::move(v);
}

const char* Name(crypto::SuiteId s) { return s == crypto::SuiteId::kIntl ? "intl" : "gm"; }

merkle::Checkpoint SampleCheckpoint(crypto::SuiteId s, const crypto::PrivateKey& key) {
  merkle::Checkpoint c;
  c.suite = s;
  c.origin = kOrigin;
  c.epoch = 1;
  c.tree_size = 42;
  c.root.fill(0xab);
  c.time_micros = 1796083200000000;
  c.key_id = key.public_key().KeyId();
  return c;
}

void Checkpoints(crypto::SuiteId s) {
  auto origin = FixedKey(s, kOriginRole);
  auto witness = FixedKey(s, kWitnessRole);
  const merkle::Checkpoint c = SampleCheckpoint(s, *origin);
  Write("checkpoint", Name(s), merkle::EncodeCheckpoint(c));
  std::unique_ptr<crypto::Signer> signer = origin->NewSigner();
  merkle::SignedCheckpoint sc = Must(merkle::SignCheckpoint(c, *signer));
  merkle::Cosignature cs =
      Must(merkle::Cosign(sc.body, kNational, absl::FromUnixSeconds(1796083300), *witness));
  v1::CosignedCheckpoint m;
  m.mutable_checkpoint()->set_body(sc.body);
  m.mutable_checkpoint()->set_signature(sc.signature);
  m.mutable_cosignature()->set_witness(cs.witness);
  m.mutable_cosignature()->set_key_id(cs.key_id);
  m.mutable_cosignature()->set_cosigned_at_micros(cs.time_micros);
  m.mutable_cosignature()->set_signature(cs.signature);
  Write("cosignature", Name(s), m.SerializeAsString());
}

void Roster(crypto::SuiteId s) {
  Write("roster", Name(s), FixedSignedRoster(s).SerializeAsString());
}

// A national revocation list of three entries, signed with the national
// node's fixed key (the revocations target's raw seed).
void Revocations(crypto::SuiteId s) {
  std::vector<workflows::RevokedCertificate> entries = {
      {kOrigin, "HY-620102-2026-000123", workflows::RevocationReason::kRevoked},
      {kOrigin, "HY-620102-2026-000124", workflows::RevocationReason::kSuperseded},
      {kCounty, "JZ-440305-2026-000007", workflows::RevocationReason::kRevoked}};
  // The first byte picks the suite and raw bytes (fuzz/revocations_fuzzer.cc).
  Write("revocations", Name(s),
        std::string(1, s == crypto::SuiteId::kIntl ? '\0' : '\1') +
            Must(workflows::SignRevocationList(std::move(entries), kNational,
                                               absl::FromUnixSeconds(1796083200),
                                               *FixedKey(s, kNationalRole))));
}

void Certificates(crypto::SuiteId s) {
  v1::Certificate cert;
  cert.set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  cert.set_number("HY-620102-2026-000123");
  cert.set_issuer(kOrigin);
  *cert.mutable_valid_from() = testutil::Day(2026, 11, 30);
  *cert.mutable_valid_to() = testutil::Day(2027, 11, 29);
  (*cert.mutable_attested_facts())["marital_status"] = "married";
  (*cert.mutable_attested_facts())["children"] = "1";
  auto key = FixedKey(s, kOriginRole);
  const std::string person = testutil::MakeId(kOrigin, "19900101", 2);
  const std::string bytes = Must(
      workflows::SignCertificatePayload(cert, person, absl::FromUnixSeconds(1796083200), *key));
  Write("certificate", absl::StrCat(Name(s), "-binary"), bytes);
  Write("certificate", absl::StrCat(Name(s), "-text"), workflows::CertificateText(bytes));
}

// What an origin sends the national node in one session (everything it
// holds about two persons): the session target's input format.
void Session(crypto::SuiteId s) {
  TempDir dir;
  FakeClock clock;
  SessionNode origin(s, kOrigin, dir, &clock);
  SessionNode national(s, kNational, dir, &clock);
  const std::string p = testutil::MakeId(kOrigin, "19900101", 2);
  const std::string q = testutil::MakeId(kOrigin, "19910101", 4);
  for (const storage::RecordChange& c :
       {testutil::Basics(p, "P"), testutil::Basics(q, "Q"), testutil::Outflow(p, kCounty),
        testutil::Service(p, kOrigin, "svc-1"), testutil::Entitlement(q)}) {
    Must(origin.writer()->Append(c));
  }
  if (!origin.writer()->WaitForCheckpoint(5, absl::Seconds(30)).ok()) abort();
  auto from = origin.OpenSession(kNational);
  auto to = national.OpenSession(kOrigin);
  std::vector<v1::SyncMessage> to_national = Must(from->Start());
  std::vector<v1::SyncMessage> to_origin = Must(to->Start());
  std::string seed(1, s == crypto::SuiteId::kIntl ? '\0' : '\1');
  for (int round = 0; round < 1000; ++round) {
    std::vector<v1::SyncMessage> next_n, next_o;
    for (const auto& m : to_national) {
      AppendMessage(&seed, m.SerializeAsString());
      if (!to->OnMessage(m, &next_o).ok()) abort();
    }
    for (const auto& m : to_origin) {
      if (!from->OnMessage(m, &next_n).ok()) abort();
    }
    auto a = Must(from->NextBatch());
    auto b = Must(to->NextBatch());
    if (a.has_value()) next_n.push_back(*a);
    if (b.has_value()) next_o.push_back(*b);
    if (next_n.empty() && next_o.empty()) {
      if (!from->FinishApplying(&next_n).ok() || !to->FinishApplying(&next_o).ok()) abort();
    }
    if (next_n.empty() && next_o.empty()) break;
    to_national = std::move(next_n);
    to_origin = std::move(next_o);
  }
  Write("session", Name(s), seed);
}

// The ledger target's input (FuzzedDataProvider): from, to and year as
// backslash-ended strings, then a StatsReply like ledger_test's.
void Ledger() {
  v1::StatsReply june;
  june.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
  june.set_period("2026-06");
  for (v1::Date* d : {june.mutable_first_day(), june.mutable_last_day(), june.mutable_as_of()}) {
    d->set_year(2026);
    d->set_month(6);
    d->set_day(30);
  }
  june.set_scope(kNational);
  june.set_computed_by(kNational);
  v1::StatsRow* nation = june.add_rows();
  nation->set_scope(kNational);
  nation->set_level(v1::STATS_SCOPE_LEVEL_NATION);
  nation->mutable_feedback()->set_numerator(1);
  nation->mutable_feedback()->set_denominator(3);
  nation->set_records_in_conflict(2);
  v1::StatsRow* county = june.add_rows();
  county->set_scope(kOrigin);
  county->set_level(v1::STATS_SCOPE_LEVEL_COUNTY);
  county->mutable_certificate_coverage()->set_numerator(2);
  county->mutable_certificate_coverage()->set_denominator(3);
  v1::StatsFlow* flow = county->add_flows();
  flow->set_month("2026-06");
  flow->set_origin(kCounty);
  flow->set_residence(kOrigin);
  flow->set_inflows(4);
  flow->set_outflows(1);
  Write("ledger", "june", "2025-10\\x2026-09\\x2026\\x" + june.SerializeAsString());
  Write("ledger", "reversed", "2026-09\\x2025-10\\x19\\x");
}

// Programs for the log model: random bytes from fixed seeds (the target
// reads any bytes as a program).
void LogPrograms() {
  std::mt19937 rng(17);
  for (int i = 0; i < 4; ++i) {
    std::string p(24 + 8 * i, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    Write("log_model", absl::StrCat("program-", i), p);
  }
}

// fuzz_admin: a valid request of each call it makes, as the target reads
// it (the request, then the call's number, then the role's: 0 clerk, 1
// administrator, 2 auditor).
v1::WriteRequest WriteOf(const storage::RecordChange& c) {
  v1::WriteRequest w = testutil::WriteRequestOf(c);
  w.set_reason("fuzz seed");
  return w;
}

void AdminRequests() {
  const std::string id = testutil::MakeId(testutil::kOrigin, "19900101", 2);
  auto admin = [](const std::string& name, const google::protobuf::Message& m, int call, int role) {
    Write("admin", name,
          m.SerializeAsString() + std::string(1, static_cast<char>(call)) +
              std::string(1, static_cast<char>(role)));
  };
  v1::StatusRequest status;
  admin("status", status, 0, 1);
  admin("peers", v1::PeersRequest(), 1, 1);
  v1::ClearHoldRequest hold;
  hold.set_peer(testutil::kResidence);
  admin("clear-hold", hold, 2, 1);
  admin("write-basics", WriteOf(testutil::Basics(id, "Zhang San")), 3, 0);
  admin("write-inflow", WriteOf(testutil::Inflow(id, testutil::kResidence, "2026-01")), 3, 0);
  v1::PersonRequest person;
  person.set_person(id);
  person.set_reason("fuzz seed");
  admin("person", person, 4, 0);
  admin("history", person, 5, 0);
  v1::WhereRequestAdmin where;
  where.set_person(id);
  where.set_reason("fuzz seed");
  admin("where", where, 6, 0);
  v1::AuditRequest audit;
  audit.set_person(id);
  audit.set_limit(10);
  admin("audit", audit, 7, 2);
  admin("inquiries", v1::InquiryListRequest(), 8, 0);
  admin("notices", v1::NoticeListRequest(), 9, 0);
  v1::StatsRequest stats;
  stats.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
  stats.set_period("2026-11");
  admin("stats", stats, 10, 0);
  v1::StatsManyRequest many;
  *many.add_requests() = stats;
  stats.set_period_kind(v1::STATS_PERIOD_KIND_STATISTICAL_YEAR);
  stats.set_period("2026");
  *many.add_requests() = stats;
  admin("stats-many", many, 11, 0);
  v1::CertificatePayloadRequest certificate;
  certificate.set_person(id);
  certificate.set_number("TB-620102-0001");
  certificate.set_reason("fuzz seed");
  admin("certificate", certificate, 12, 0);
  admin("revocations", v1::RevocationListRequest(), 13, 0);
  v1::ImportRequest import;
  import.set_file("persons.csv");
  import.set_first_line(2);
  import.set_last_line(2);
  *import.add_rows() =
      WriteOf(testutil::Basics(testutil::MakeId(testutil::kOrigin, "19850505", 3), "Li Si"));
  admin("import", import, 14, 1);
  v1::SearchPersonsRequest search;
  search.set_name("Zhang San");
  search.set_reason("fuzz seed");
  admin("search", search, 15, 0);
  admin("fleet", v1::FleetRequest(), 16, 1);
  admin("access-report", v1::AccessReportRequest(), 17, 2);
  admin("metrics-history", v1::MetricsHistoryRequest(), 18, 1);
  admin("operators", v1::OperatorsRequest(), 19, 1);
}

}  // namespace
}  // namespace tongban::fuzz

int main(int argc, char** argv) {
  using namespace tongban;
  if (argc != 2) {
    std::cerr << "usage: tongban_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  fuzz::out_dir = argv[1];
  for (crypto::SuiteId s : {crypto::SuiteId::kIntl, crypto::SuiteId::kGm}) {
    fuzz::Checkpoints(s);
    fuzz::Roster(s);
    fuzz::Revocations(s);
    fuzz::Certificates(s);
    fuzz::Session(s);
  }
  fuzz::LogPrograms();
  fuzz::Ledger();
  fuzz::AdminRequests();
  return 0;
}
