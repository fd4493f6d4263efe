// make demo (node core): one county node, under each crypto suite, keeps a
// person's records in its verifiable log. Prints what happens at each step
// and checks it: checkpoints signed, proofs verified, files encrypted.
//
// usage: tongban_core_demo [WORK_DIR]   (default: a new folder under /tmp,
// removed at the end)
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/hex.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "node/local_node.h"
#include "records/validate.h"

namespace tongban {
namespace {

void Say(const std::string& line) { std::printf("%s\n", line.c_str()); }

v1::Date Day(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

std::string Show(const storage::Appended& a, v1::RecordKind kind) {
  return absl::StrCat("  event ", a.id.origin(), "/", a.id.epoch(), "/", a.id.seq(), "  ",
                      records::KindName(kind), " of ", ids::MaskId(a.person), "  -> audience [",
                      absl::StrJoin(a.audience, ", "), "]");
}

bool Check(bool ok, const std::string& what) {
  Say(absl::StrCat(ok ? "  ok: " : "  FAILED: ", what));
  return ok;
}

// long-function: the demo's script, read top to bottom as the story it
// prints; splitting it would scatter the story.
bool RunSuite(crypto::SuiteId suite_id, const std::string& dir) {
  const crypto::Suite& suite = crypto::GetSuite(suite_id);
  Say(absl::StrCat("\n=== County 620102 (Lanzhou Chengguan), suite '", suite.name(), "' ==="));
  node::LocalNodeOptions options;
  options.data_dir = dir;
  options.suite = suite_id;
  options.writer.node = "620102";
  auto node = node::LocalNode::Open(options, RealClock());
  if (!node.ok()) {
    Say(absl::StrCat("cannot start: ", node.status().ToString()));
    return false;
  }
  storage::Writer* writer = (*node)->writer();
  Say(absl::StrCat("Node started: signing key ", (*node)->signing_key().public_key().KeyId(),
                   ", storage encrypted with ",
                   suite_id == crypto::SuiteId::kIntl ? "AES-256-CTR" : "SM4-CTR"));
  bool ok = true;
  const std::string first17 = "62010219900101002";
  const std::string person = first17 + ids::CheckCharacter(first17);

  Say("\n1. The clerk registers the person's basics (个人基本信息).");
  storage::RecordChange basics;
  basics.person = person;
  basics.kind = v1::RECORD_KIND_PERSON_BASICS;
  basics.record_id = "basics";
  auto* pb = basics.value.mutable_person_basics();
  pb->set_name("Demo Person");
  pb->set_sex(v1::SEX_FEMALE);
  *pb->mutable_birth_date() = Day(1990, 1, 1);
  pb->set_hukou_region("620102");
  pb->set_hukou_address("1 Demo Road, Chengguan");
  auto a1 = writer->Append(basics);
  ok &= Check(a1.ok(), a1.ok() ? Show(*a1, basics.kind) : a1.status().ToString());

  Say("\n2. A typo in an ID is caught: wrong check character, then an impossible date.");
  storage::RecordChange typo = basics;
  typo.person = first17 + (ids::CheckCharacter(first17) == '1' ? '2' : '1');
  const absl::Status graded = writer->Append(typo).status();
  Say(absl::StrCat("  refused until confirmed: ", graded.ToString()));
  ok &= Check(absl::IsFailedPrecondition(graded), "graded finding needs confirmation");
  storage::RecordChange bad_date = basics;
  *bad_date.value.mutable_person_basics()->mutable_birth_date() = Day(1990, 2, 30);
  const absl::Status invalid = writer->Append(bad_date).status();
  Say(absl::StrCat("  rejected: ", invalid.ToString()));
  ok &= Check(absl::IsInvalidArgument(invalid), "nothing stored for bad input");

  Say("\n3. The person leaves for Shenzhen Nanshan (440305): outflow registration.");
  storage::RecordChange outflow;
  outflow.person = person;
  outflow.kind = v1::RECORD_KIND_OUTFLOW;
  outflow.record_id = "outflow-2026";
  outflow.value.mutable_outflow()->set_destination_county("440305");
  *outflow.value.mutable_outflow()->mutable_left_on() = Day(2026, 3, 1);
  outflow.value.mutable_outflow()->set_reason("work");
  auto a2 = writer->Append(outflow);
  ok &= Check(a2.ok(), a2.ok() ? Show(*a2, outflow.kind) : a2.status().ToString());

  Say("\n4. The origin issues an electronic certificate (电子婚育证明), then corrects it.");
  storage::RecordChange cert;
  cert.person = person;
  cert.kind = v1::RECORD_KIND_CERTIFICATE;
  cert.record_id = "cert-0001";
  auto* c = cert.value.mutable_certificate();
  c->set_type(v1::CERTIFICATE_TYPE_MARRIAGE_FERTILITY);
  c->set_number("620102-2026-0001");
  c->set_issuer("620102");
  *c->mutable_valid_from() = Day(2026, 2, 20);
  *c->mutable_valid_to() = Day(2029, 2, 19);
  (*c->mutable_attested_facts())["marital_status"] = "unmarried";
  auto a3 = writer->Append(cert);
  ok &= Check(a3.ok(), a3.ok() ? Show(*a3, cert.kind) : a3.status().ToString());
  (*c->mutable_attested_facts())["marital_status"] = "married";
  cert.purpose = v1::PURPOSE_CORRECTION;
  auto a4 = writer->Append(cert);
  ok &= Check(a4.ok(),
              a4.ok() ? Show(*a4, cert.kind) + " (supersedes the first)" : a4.status().ToString());

  if (!ok) return false;
  const uint64_t last = a4->id.seq();
  ok &= Check(writer->WaitForCheckpoint(last, absl::Seconds(10)).ok(),
              absl::StrCat("a signed checkpoint covers seq ", last));

  Say("\n5. Anyone holding the county's public key can check the log.");
  storage::Store* store = (*node)->store();
  auto latest = store->LatestCheckpoint(writer->log());
  if (!latest.ok() || !latest->has_value()) return Check(false, "checkpoint stored");
  Say("  latest checkpoint, exactly as signed:");
  for (absl::string_view line : absl::StrSplit((*latest)->body(), '\n')) {
    if (!line.empty()) Say(absl::StrCat("    | ", line));
  }
  auto cp = merkle::VerifyCheckpoint({(*latest)->body(), (*latest)->signature()}, suite,
                                     (*node)->signing_key().public_key());
  ok &= Check(cp.ok(), absl::StrCat(suite.name(), " signature verifies"));
  if (!cp.ok()) return false;
  std::unique_ptr<crypto::Hasher> h = suite.NewHasher();
  auto body = store->GetEvent(writer->log(), a2->id.seq());
  auto proof = merkle::InclusionProof(*h, a2->id.seq() - 1, cp->tree_size,
                                      store->NodeReaderFor(writer->log()));
  ok &= Check(body.ok() && proof.ok() &&
                  merkle::VerifyInclusion(*h, a2->id.seq() - 1, cp->tree_size,
                                          merkle::LeafHash(*h, *body), *proof, cp->root)
                      .ok(),
              absl::StrCat("inclusion proof of the outflow (", proof.ok() ? proof->size() : 0,
                           " hashes) matches the signed root"));
  auto old_cp = store->GetCheckpoint(writer->log(), 1);
  if (old_cp.ok() && old_cp->has_value()) {
    auto first = merkle::ParseCheckpoint((*old_cp)->body());
    auto cproof =
        merkle::ConsistencyProof(*h, 1, cp->tree_size, store->NodeReaderFor(writer->log()));
    ok &= Check(
        first.ok() && cproof.ok() &&
            merkle::VerifyConsistency(*h, 1, cp->tree_size, first->root, cp->root, *cproof).ok(),
        absl::StrCat("consistency proof: the log at size ", cp->tree_size,
                     " extends the log at size 1"));
  }

  Say("\n6. Encryption at rest: the database files never hold the ID or the name.");
  TB_LOG(INFO) << "flushing memtables so SST files exist too";
  ok &= Check(store->Flush().ok(), "memtables flushed to SST files");
  std::string all;
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/db")) {
    if (!e.is_regular_file()) continue;
    ++files;
    std::ifstream in(e.path(), std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ok &= Check(all.find(person) == std::string::npos && all.find("Demo Person") == std::string::npos,
              absl::StrCat("searched ", files, " files (", all.size(), " bytes): no ID, no name"));
  const storage::WriterStats stats = writer->stats();
  Say(absl::StrCat("\nLog: ", stats.last_seq, " events, ", stats.commits, " durable batches, ",
                   stats.checkpoints, " checkpoints signed."));
  return ok;
}

}  // namespace
}  // namespace tongban

int main(int argc, char** argv) {
  using namespace tongban;
  SetMinLogLevel(LogLevel::kWarning);
  std::string root;
  bool remove = false;
  if (argc > 1) {
    root = argv[1];
  } else {
    char tmpl[] = "/tmp/tongban-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    root = tmpl;
    remove = true;
  }
  Say("Tongban node core demo: a county keeps a person's records in a signed,");
  Say("verifiable, encrypted log. (The federation demo with sync between counties");
  Say("comes with the peer-sync and operator work.)");
  bool ok = RunSuite(crypto::SuiteId::kIntl, root + "/intl") &&
            RunSuite(crypto::SuiteId::kGm, root + "/gm");
  if (remove) std::filesystem::remove_all(root);
  Say(ok ? "\nDemo finished: every check passed." : "\nDemo FAILED.");
  return ok ? 0 : 1;
}
