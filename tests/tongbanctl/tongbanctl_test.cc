// Runs the built tongbanctl binary (TB_TONGBANCTL) through the offline
// flow an operator follows, under both suites, and through bad input: the
// exit codes, the one-line errors, and that no private key is ever printed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/crypto/key_file.h"
#include "common/crypto/suite.h"
#include "common/pki/pki.h"
#include "common/version.h"
#include "gtest/gtest.h"
#include "sync/roster.h"
#include "tests/testutil/files.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"

extern char** environ;

namespace tongban {
namespace {

using crypto::SuiteId;

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "exit " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err;
}

class TongbanctlTest : public testing::Test {
 protected:
  // Runs tongbanctl with `args` in the temp dir, capturing stdout and stderr.
  Result Run(const std::vector<std::string>& args) {
    const std::string out_path = dir_.File("stdout.txt");
    const std::string err_path = dir_.File("stderr.txt");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addchdir_np(&actions, dir_.path().c_str());
    std::vector<std::string> argv_storage = {TB_TONGBANCTL};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    Result result;
    const int rc = posix_spawn(&pid, TB_TONGBANCTL, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << TB_TONGBANCTL << ": " << rc;
      return result;
    }
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
      ADD_FAILURE() << "tongbanctl did not exit normally";
      return result;
    }
    result.exit_code = WEXITSTATUS(status);
    result.out = Contents(out_path);
    result.err = Contents(err_path);
    transcript_ += result.out + result.err;
    return result;
  }

  // Runs and expects exit 0 and an empty stderr.
  Result Ok(const std::vector<std::string>& args) {
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r;
    EXPECT_EQ(r.err, "") << absl::StrJoin(args, " ");
    return r;
  }

  // Runs and expects `code` with exactly one "tongbanctl: ..." line on stderr.
  Result Fails(int code, const std::vector<std::string>& args) {
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, code) << absl::StrJoin(args, " ") << "\n" << r;
    EXPECT_TRUE(absl::StartsWith(r.err, "tongbanctl: ")) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
    return r;
  }

  // Every base64 line of every private key file in the temp dir and below.
  std::vector<std::string> PrivateKeyLines(const std::vector<std::string>& key_files) {
    std::vector<std::string> lines;
    for (const std::string& file : key_files) {
      const std::string pem = Contents(dir_.File(file));
      EXPECT_TRUE(absl::StrContains(pem, "PRIVATE KEY")) << file;
      for (absl::string_view line : absl::StrSplit(pem, '\n')) {
        if (!line.empty() && !absl::StartsWith(line, "-----")) lines.emplace_back(line);
      }
    }
    return lines;
  }

  void ExpectNoKeyMaterialPrinted(const std::vector<std::string>& key_files) {
    for (const std::string& line : PrivateKeyLines(key_files)) {
      EXPECT_FALSE(absl::StrContains(transcript_, line)) << "private key printed: " << line;
    }
    EXPECT_FALSE(absl::StrContains(transcript_, "PRIVATE KEY"));
  }

  testutil::ScopedTempDir dir_;
  std::string transcript_;  // Everything tongbanctl printed in this test.
};

class TongbanctlFlowTest : public TongbanctlTest, public testing::WithParamInterface<SuiteId> {
 protected:
  std::string suite() const { return std::string(crypto::SuiteName(GetParam())); }
};

TB_INSTANTIATE_FOR_BOTH_SUITES(TongbanctlFlowTest);

TEST_P(TongbanctlFlowTest, WholeOfflineFlow) {
  // Keys: the federation root and three nodes' signing keys.
  for (const char* name : {"root", "n000000", "n440305", "n620102", "n440305-next"}) {
    const Result r = Ok({"keys", "generate", "--suite", suite(), "--out", name});
    EXPECT_TRUE(absl::StrContains(r.out, "key id ")) << r;
    EXPECT_EQ(ModeOf(dir_.File(absl::StrCat(name, ".key"))), 0600u);
  }
  TB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<crypto::PublicKey> root,
      crypto::ReadPublicKeyFile(crypto::GetSuite(GetParam()), dir_.File("root.pub")));
  const Result json = Ok({"keys", "generate", "--suite", suite(), "--out", "extra", "--json"});
  EXPECT_TRUE(absl::StartsWith(json.out, "{\"suite\":\"" + suite() + "\",\"key_id\":\"")) << json;

  // PKI: the CA, a node certificate, show and verify.
  Ok({"pki", "init", "--out", "ca", "--name", "粤甘通办 CA", "--days", "30"});
  EXPECT_EQ(ModeOf(dir_.File("ca/ca.key")), 0600u);
  Ok({"pki", "issue", "--ca", "ca", "--node", "440305", "--out", "tls", "--dns",
      "tongban.nanshan.example", "--ip", "10.1.2.3"});
  EXPECT_EQ(ModeOf(dir_.File("tls/node.key")), 0600u);
  EXPECT_EQ(Contents(dir_.File("tls/ca.crt")), Contents(dir_.File("ca/ca.crt")));
  const Result shown = Ok({"pki", "show", "tls/node.crt"});
  EXPECT_TRUE(absl::StrContains(shown.out, "node code       440305")) << shown;
  EXPECT_TRUE(absl::StrContains(shown.out, "CN=tongban node 440305")) << shown;
  EXPECT_TRUE(absl::StrContains(shown.out, "issuer          CN=粤甘通办 CA")) << shown;
  EXPECT_TRUE(absl::StrContains(shown.out, "DNS:tongban.nanshan.example, IP:10.1.2.3")) << shown;
  const Result shown_json = Ok({"pki", "show", "tls/node.crt", "--json"});
  EXPECT_TRUE(absl::StrContains(shown_json.out, "\"node_code\":\"440305\"")) << shown_json;
  const Result ca_json = Ok({"pki", "show", "ca/ca.crt", "--json"});
  EXPECT_TRUE(absl::StrContains(ca_json.out, "\"node_code\":null,")) << ca_json;
  EXPECT_TRUE(absl::StrContains(ca_json.out, "\"is_ca\":true")) << ca_json;
  Ok({"pki", "verify", "tls/node.crt", "--ca", "ca/ca.crt"});
  // Issuing again into the same folder never overwrites.
  Fails(2, {"pki", "issue", "--ca", "ca", "--node", "440305", "--out", "tls"});

  // Roster: create, fill in the national node, add two counties, sign.
  Ok({"roster", "create", "--out", "roster.txt", "--federation", "粤甘通办"});
  const Result filled =
      Ok({"roster", "add-node", "--in", "roster.txt", "--code", "000000", "--name", "国家平台",
          "--role", "national", "--endpoint", "national.example:7443", "--signing-pub",
          "n000000.pub", "--suite", suite()});
  EXPECT_TRUE(absl::StartsWith(filled.out, "filled in node 000000")) << filled;
  Ok({"roster", "add-node", "--in", "roster.txt", "--code", "440305", "--name", "深圳市南山区",
      "--role", "county", "--endpoint", "tongban.nanshan.example:7443", "--endpoint",
      "10.1.2.3:7443", "--signing-pub", "n440305.pub", "--suite", suite()});
  Ok({"roster", "add-node", "--in", "roster.txt", "--code", "620102", "--name", "兰州市城关区",
      "--role", "county", "--signing-pub", "n620102.pub", "--suite", suite()});
  // Adding a node twice needs --replace.
  Fails(2, {"roster", "add-node", "--in", "roster.txt", "--code", "620102", "--name", "x", "--role",
            "county", "--signing-pub", "n620102.pub", "--suite", suite()});

  // After 440305 rotates its key, the new one joins its entry and the old
  // one stays listed; the same key twice, or an unknown node, is refused.
  const Result added =
      Ok({"roster", "add-key", "--in", "roster.txt", "--code", "440305", "--signing-pub",
          "n440305-next.pub", "--suite", suite(), "--valid-from-seq", "40004"});
  EXPECT_TRUE(absl::StartsWith(added.out, "added signing key ")) << added;
  Fails(2, {"roster", "add-key", "--in", "roster.txt", "--code", "440305", "--signing-pub",
            "n440305-next.pub", "--suite", suite()});
  Fails(2, {"roster", "add-key", "--in", "roster.txt", "--code", "440306", "--signing-pub",
            "n440305-next.pub", "--suite", suite()});

  const Result signed_v1 = Ok({"roster", "sign", "--in", "roster.txt", "--root-key", "root.key",
                               "--suite", suite(), "--out", "v1.signed"});
  EXPECT_TRUE(absl::StartsWith(signed_v1.out, "signed roster v1 ")) << signed_v1;
  const Result verified =
      Ok({"roster", "verify", "--in", "v1.signed", "--root-pub", "root.pub", "--suite", suite()});
  EXPECT_TRUE(absl::StartsWith(verified.out, "ok: roster v1 of federation \"粤甘通办\", 3 nodes"))
      << verified;
  const Result table = Ok({"roster", "show", "--in", "v1.signed"});
  const std::vector<std::string> lines = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 5u) << table;  // header line, column names, three nodes
  EXPECT_TRUE(absl::StartsWith(lines[1], "CODE    NAME")) << table;
  EXPECT_TRUE(absl::StartsWith(lines[3], "440305  深圳市南山区  county    active")) << table;
  EXPECT_TRUE(absl::StrContains(lines[3], "tongban.nanshan.example:7443,10.1.2.3:7443")) << table;

  // Revoke a county and publish v2.
  Ok({"roster", "set-status", "--in", "roster.txt", "--code", "620102", "--status", "revoked",
      "--reason", "signing key lost"});
  const Result signed_v2 = Ok({"roster", "sign", "--in", "roster.txt", "--root-key", "root.key",
                               "--suite", suite(), "--out", "v2.signed", "--json"});
  EXPECT_TRUE(absl::StartsWith(signed_v2.out, "{\"version\":2,")) << signed_v2;
  Ok({"roster", "verify", "--in", "v2.signed", "--root-pub", "root.pub", "--suite", suite()});
  const Result shown_v2 = Ok({"roster", "show", "--in", "v2.signed", "--root-pub", "root.pub",
                              "--suite", suite(), "--json"});
  EXPECT_TRUE(absl::StrContains(shown_v2.out, "\"signature_verified\":true")) << shown_v2;
  EXPECT_TRUE(absl::StrContains(shown_v2.out,
                                "\"code\":\"620102\",\"name\":\"兰州市城关区\",\"role\":\"county\","
                                "\"status\":\"revoked\",\"status_reason\":\"signing key lost\""))
      << shown_v2;

  // What a node does with the files: v2 replaces v1, and 620102 is refused.
  v1::SignedRoster file_v1;
  v1::SignedRoster file_v2;
  ASSERT_TRUE(file_v1.ParseFromString(Contents(dir_.File("v1.signed"))));
  ASSERT_TRUE(file_v2.ParseFromString(Contents(dir_.File("v2.signed"))));
  TB_ASSERT_OK_AND_ASSIGN(sync::Roster current, sync::Roster::Verify(file_v1, *root));
  TB_EXPECT_OK(current.CheckPeer("620102"));
  EXPECT_EQ(current.Find("440305")->signing_keys_size(), 2);
  TB_ASSERT_OK_AND_ASSIGN(sync::Roster next, sync::Roster::AcceptNewer(current, file_v2, *root));
  EXPECT_EQ(next.CheckPeer("620102").message(),
            "node 620102 is revoked in roster v2: signing key lost");
  EXPECT_EQ(sync::Roster::AcceptNewer(next, file_v1, *root).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // An explicit --version.
  const Result v9 = Ok({"roster", "sign", "--in", "roster.txt", "--root-key", "root.key", "--suite",
                        suite(), "--out", "v9.signed", "--version", "9"});
  EXPECT_TRUE(absl::StartsWith(v9.out, "signed roster v9 ")) << v9;

  ExpectNoKeyMaterialPrinted({"root.key", "n000000.key", "n440305.key", "n620102.key",
                              "n440305-next.key", "ca/ca.key", "tls/node.key"});
}

TEST_P(TongbanctlFlowTest, TamperedSignedRosterIsRefused) {
  Ok({"keys", "generate", "--suite", suite(), "--out", "root"});
  Ok({"keys", "generate", "--suite", suite(), "--out", "national"});
  Ok({"roster", "create", "--out", "roster.txt", "--federation", "test"});
  Ok({"roster", "add-node", "--in", "roster.txt", "--code", "000000", "--name", "国家平台",
      "--role", "national", "--endpoint", "national.example:7443", "--signing-pub", "national.pub",
      "--suite", suite()});
  Ok({"roster", "sign", "--in", "roster.txt", "--root-key", "root.key", "--suite", suite(), "--out",
      "roster.signed"});
  std::string bytes = Contents(dir_.File("roster.signed"));
  const size_t at = bytes.find("national.example");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = 'N';  // Still a well-formed roster; no longer the signed one.
  std::ofstream(dir_.File("tampered.signed"), std::ios::binary) << bytes;
  const Result r = Fails(3, {"roster", "verify", "--in", "tampered.signed", "--root-pub",
                             "root.pub", "--suite", suite()});
  EXPECT_TRUE(absl::StrContains(r.err, "refused")) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "tampered.signed")) << r;
  Fails(3, {"roster", "show", "--in", "tampered.signed", "--root-pub", "root.pub", "--suite",
            suite()});
  // Another root key is refused too.
  Ok({"keys", "generate", "--suite", suite(), "--out", "other"});
  Fails(3, {"roster", "verify", "--in", "roster.signed", "--root-pub", "other.pub", "--suite",
            suite()});
  ExpectNoKeyMaterialPrinted({"root.key", "national.key", "other.key"});
}

TEST_P(TongbanctlFlowTest, WorldReadableKeyFileIsRefused) {
  Ok({"keys", "generate", "--suite", suite(), "--out", "root"});
  Ok({"roster", "create", "--out", "roster.txt", "--federation", "test"});
  ASSERT_EQ(::chmod(dir_.File("root.key").c_str(), 0644), 0);
  const Result r = Fails(3, {"roster", "sign", "--in", "roster.txt", "--root-key", "root.key",
                             "--suite", suite(), "--out", "roster.signed"});
  EXPECT_TRUE(absl::StrContains(r.err, "root.key: mode 0644")) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "chmod 600 root.key")) << r;

  Ok({"pki", "init", "--out", "ca"});
  ASSERT_EQ(::chmod(dir_.File("ca/ca.key").c_str(), 0640), 0);
  Fails(3, {"pki", "issue", "--ca", "ca", "--node", "440305", "--out", "tls"});
  ExpectNoKeyMaterialPrinted({"root.key", "ca/ca.key"});
}

// Private key files handed where something else is expected are refused
// without echoing them.
TEST_P(TongbanctlFlowTest, PrivateKeyIsNeverPrinted) {
  Ok({"keys", "generate", "--suite", suite(), "--out", "root"});
  Ok({"pki", "init", "--out", "ca"});
  Ok({"roster", "create", "--out", "roster.txt", "--federation", "test"});
  Fails(2, {"roster", "add-node", "--in", "roster.txt", "--code", "440305", "--name", "x", "--role",
            "county", "--signing-pub", "root.key", "--suite", suite()});
  Fails(2, {"pki", "show", "root.key"});
  Fails(2, {"pki", "show", "ca/ca.key"});
  Fails(2, {"roster", "show", "--in", "root.key"});
  Fails(2, {"roster", "sign", "--in", "root.key", "--root-key", "root.key", "--suite", suite(),
            "--out", "x.signed"});
  Fails(2, {"roster", "verify", "--in", "root.key", "--root-pub", "root.key", "--suite", suite()});
  ExpectNoKeyMaterialPrinted({"root.key", "ca/ca.key"});
}

TEST_F(TongbanctlTest, BadInputIsExitTwoWithOneLine) {
  Ok({"keys", "generate", "--suite", "intl", "--out", "k"});
  Ok({"roster", "create", "--out", "roster.txt", "--federation", "test"});

  const Result flag = Fails(2, {"roster", "sign", "--in", "roster.txt", "--bogus", "1"});
  EXPECT_TRUE(absl::StrContains(flag.err, "unknown flag --bogus")) << flag;
  Fails(2, {"keys", "generate", "--suite", "rsa", "--out", "x"});
  Fails(2, {"keys", "generate", "--suite", "intl"});
  Fails(2, {"keys", "generate", "--suite", "intl", "--out", "k"});  // exists
  Fails(2, {"keys", "frobnicate"});
  Fails(2, {"frobnicate"});
  Fails(2, {});
  Fails(2, {"pki"});
  Fails(2, {"pki", "show"});
  Fails(2, {"pki", "show", "a.crt", "b.crt"});
  Fails(2, {"pki", "init", "--out", "ca", "--days", "0"});
  Fails(2, {"pki", "show", "missing.crt"});

  for (const char* code : {"44030X", "4403051", "12345", "447100"}) {
    const Result r =
        Fails(2, {"roster", "add-node", "--in", "roster.txt", "--code", code, "--name", "x",
                  "--role", "county", "--signing-pub", "k.pub", "--suite", "intl"});
    EXPECT_TRUE(absl::StrContains(r.err, code)) << r;
  }
  Fails(2, {"pki", "issue", "--ca", "ca", "--node", "44030X", "--out", "tls"});
  Fails(2, {"roster", "add-node", "--in", "roster.txt", "--code", "440305", "--name", "x", "--role",
            "national", "--signing-pub", "k.pub", "--suite", "intl"});
  Fails(2, {"roster", "add-node", "--in", "roster.txt", "--code", "440305", "--name", "x", "--role",
            "county", "--endpoint", "nanshan", "--signing-pub", "k.pub", "--suite", "intl"});
  Fails(2, {"roster", "set-status", "--in", "roster.txt", "--code", "440305", "--status",
            "revoked"});  // not in the roster
  Fails(2, {"roster", "set-status", "--in", "roster.txt", "--code", "000000", "--status", "gone"});

  // A malformed text file is reported with its line and column.
  std::ofstream(dir_.File("bad.txt")) << "version: 1\nfederation: \"x\"\nnodes { code: 1 }\n";
  const Result bad = Fails(2, {"roster", "sign", "--in", "bad.txt", "--root-key", "k.key",
                               "--suite", "intl", "--out", "x.signed"});
  EXPECT_TRUE(absl::StrContains(bad.err, "bad.txt:3:15: ")) << bad;
  std::ofstream(dir_.File("unknown.txt")) << "version: 1\nsurprise: 2\n";
  const Result unknown = Fails(2, {"roster", "sign", "--in", "unknown.txt", "--root-key", "k.key",
                                   "--suite", "intl", "--out", "x.signed"});
  EXPECT_TRUE(absl::StrContains(unknown.err, "unknown.txt:2:")) << unknown;
  EXPECT_TRUE(absl::StrContains(unknown.err, "surprise")) << unknown;

  // The placeholder national node has no key yet: signing names the problem.
  const Result incomplete = Fails(2, {"roster", "sign", "--in", "roster.txt", "--root-key", "k.key",
                                      "--suite", "intl", "--out", "x.signed"});
  EXPECT_TRUE(absl::StrContains(incomplete.err, "roster.txt: node 000000: ")) << incomplete;
}

// Keys that stay home: the county makes its key and a request, the CA signs
// the request and writes only the certificate, which is for the county's key.
TEST_P(TongbanctlFlowTest, NodeKeyStaysWhereTheRequestWasMade) {
  Ok({"pki", "init", "--out", "ca"});
  const Result asked = Ok({"pki", "request", "--node", "440305", "--out", "county", "--dns",
                           "tongban.nanshan.example", "--ip", "10.1.2.3"});
  EXPECT_EQ(ModeOf(dir_.File("county/node.key")), 0600u);
  EXPECT_EQ(ModeOf(dir_.File("county/node.csr")), 0644u);
  TB_ASSERT_OK_AND_ASSIGN(pki::CertificateRequest request,
                          pki::ReadCertificateRequestFile(dir_.File("county/node.csr")));
  // The fingerprint read out on the phone is the request's.
  EXPECT_TRUE(absl::StrContains(asked.out, "request SHA-256 " + request.Sha256Fingerprint()))
      << asked;
  EXPECT_TRUE(absl::StrContains(asked.out,
                                "URI:urn:tongban:node:440305, "
                                "DNS:tongban.nanshan.example, IP:10.1.2.3"))
      << asked;

  const Result signed_cert = Ok({"pki", "sign", "--ca", "ca", "--request", "county/node.csr",
                                 "--out", "440305.crt", "--days", "400"});
  EXPECT_TRUE(absl::StrContains(signed_cert.out, request.Sha256Fingerprint())) << signed_cert;
  EXPECT_TRUE(absl::StrContains(signed_cert.out, "certifies node 440305")) << signed_cert;
  EXPECT_TRUE(absl::StrContains(signed_cert.out, "(400 days)")) << signed_cert;
  EXPECT_EQ(ModeOf(dir_.File("440305.crt")), 0644u);
  Ok({"pki", "verify", "440305.crt", "--ca", "ca/ca.crt"});
  TB_ASSERT_OK_AND_ASSIGN(pki::Certificate cert, pki::ReadCertificateFile(dir_.File("440305.crt")));
  TB_ASSERT_OK_AND_ASSIGN(pki::TlsKey key, pki::ReadTlsKeyFile(dir_.File("county/node.key")));
  EXPECT_EQ(cert.SpkiDer(), key.SpkiDer());
  EXPECT_EQ(cert.SanDnsNames(), std::vector<std::string>{"tongban.nanshan.example"});
  EXPECT_EQ(cert.SanIpAddresses(), std::vector<std::string>{"10.1.2.3"});
  // The CA wrote the certificate and nothing else; no key was printed.
  EXPECT_FALSE(std::ifstream(dir_.File("440305.key")).good());
  ExpectNoKeyMaterialPrinted({"county/node.key", "ca/ca.key"});
  // Never overwrites: not the key and request, not the certificate.
  Fails(2, {"pki", "request", "--node", "440305", "--out", "county"});
  const std::string before = Contents(dir_.File("440305.crt"));
  Fails(2, {"pki", "sign", "--ca", "ca", "--request", "county/node.csr", "--out", "440305.crt"});
  EXPECT_EQ(Contents(dir_.File("440305.crt")), before);
}

TEST_P(TongbanctlFlowTest, OperatorKeyStaysWithTheOperator) {
  Ok({"operator", "init", "--out", "ops", "--county", "440305"});
  Ok({"pki", "request", "--operator", "li.na", "--county", "440305", "--role", "clerk", "--out",
      "li"});
  EXPECT_EQ(ModeOf(dir_.File("li/li.na.key")), 0600u);
  const Result signed_cert = Ok({"pki", "sign", "--operator-ca", "ops", "--request", "li/li.na.csr",
                                 "--out", "li/li.na.crt"});
  EXPECT_TRUE(absl::StrContains(signed_cert.out, "certifies operator li.na (clerk) of node 440305"))
      << signed_cert;
  TB_ASSERT_OK_AND_ASSIGN(pki::Certificate cert,
                          pki::ReadCertificateFile(dir_.File("li/li.na.crt")));
  TB_ASSERT_OK_AND_ASSIGN(pki::Certificate ca, pki::ReadCertificateFile(dir_.File("ops/ca.crt")));
  TB_ASSERT_OK_AND_ASSIGN(pki::OperatorIdentity who,
                          pki::VerifyOperatorCertificate(cert, ca, absl::Now()));
  EXPECT_EQ(who, (pki::OperatorIdentity{"440305", "li.na", "clerk"}));
  TB_ASSERT_OK_AND_ASSIGN(pki::TlsKey key, pki::ReadTlsKeyFile(dir_.File("li/li.na.key")));
  EXPECT_EQ(cert.SpkiDer(), key.SpkiDer());
  ExpectNoKeyMaterialPrinted({"li/li.na.key", "ops/ca.key"});

  // An account of another role refuses a request for this one.
  Ok({"operator", "add", "--dir", "ops", "--name", "wang.wei", "--role", "auditor", "--suite",
      suite()});
  Ok({"pki", "request", "--operator", "wang.wei", "--county", "440305", "--role", "administrator",
      "--out", "wang"});
  const Result role = Fails(2, {"pki", "sign", "--operator-ca", "ops", "--request",
                                "wang/wang.wei.csr", "--out", "wang/wang.wei.crt"});
  EXPECT_TRUE(absl::StrContains(role.err,
                                "wang/wang.wei.csr: request asks for role administrator "
                                "but the account wang.wei"))
      << role;
  EXPECT_FALSE(std::ifstream(dir_.File("wang/wang.wei.crt")).good());
  // Another county's operator CA refuses it.
  Ok({"operator", "init", "--out", "ops2", "--county", "620102"});
  const Result county = Fails(2, {"pki", "sign", "--operator-ca", "ops2", "--request",
                                  "li/li.na.csr", "--out", "other.crt"});
  EXPECT_TRUE(absl::StrContains(county.err, "operator CA of node 620102")) << county;
  EXPECT_FALSE(std::ifstream(dir_.File("other.crt")).good());
}

TEST_F(TongbanctlTest, PkiSignRefusesABadRequestAndWritesNothing) {
  Ok({"pki", "init", "--out", "ca"});
  Ok({"operator", "init", "--out", "ops", "--county", "440305"});
  Ok({"pki", "request", "--node", "440305", "--out", "county"});
  Ok({"pki", "request", "--operator", "li.na", "--county", "440305", "--role", "clerk", "--out",
      "li"});
  testutil::WriteFile(dir_.File("garbage.csr"), "hello\n", 0644);
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--ca", "ca", "--request", "garbage.csr"}, "garbage.csr: not one PEM certificate request"},
      {{"--ca", "ca", "--request", "li/li.na.csr"},
       "li/li.na.csr: request asks for URI \"urn:tongban:operator:440305:li.na\""},
      {{"--operator-ca", "ops", "--request", "county/node.csr"},
       "county/node.csr: request asks for URI \"urn:tongban:node:440305\""},
      {{"--ca", "ca", "--operator-ca", "ops", "--request", "county/node.csr"}, "either --ca"},
      {{"--ca", "ca", "--request", "missing.csr"}, "missing.csr"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"pki", "sign"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"--out", "out.crt"});
    const Result r = Run(args);
    EXPECT_NE(r.exit_code, 0) << r;
    EXPECT_TRUE(absl::StrContains(r.err, c.says)) << absl::StrJoin(args, " ") << "\n" << r;
    EXPECT_FALSE(std::ifstream(dir_.File("out.crt")).good()) << absl::StrJoin(args, " ");
  }
  // A request names a node or an operator, and what the county asks is
  // checked before any file is made.
  Fails(2, {"pki", "request", "--node", "44030X", "--out", "bad"});
  Fails(2, {"pki", "request", "--node", "440305", "--operator", "x", "--out", "bad"});
  Fails(2, {"pki", "request", "--node", "440305", "--dns", "bad_name!", "--out", "bad"});
  Fails(2, {"pki", "request", "--operator", "li.na", "--county", "440305", "--role", "root",
            "--out", "bad"});
  EXPECT_FALSE(std::ifstream(dir_.File("bad/node.key")).good());
  EXPECT_FALSE(std::ifstream(dir_.File("bad/li.na.key")).good());
}

TEST_F(TongbanctlTest, EveryCommandHasHelpWithAnExample) {
  const Result top = Ok({"--help"});
  EXPECT_TRUE(absl::StrContains(top.out, "Exit codes:")) << top;
  for (const char* code :
       {"  0  success", "  1  other failure", "  2  bad input", "  3  refused"}) {
    EXPECT_TRUE(absl::StrContains(top.out, code)) << code;
  }
  const std::vector<std::vector<std::string>> commands = {
      {"pki", "request"},     {"pki", "sign"},          {"keys", "generate"}, {"pki", "init"},
      {"pki", "issue"},       {"pki", "show"},          {"pki", "verify"},    {"roster", "create"},
      {"roster", "add-node"}, {"roster", "set-status"}, {"roster", "sign"},   {"roster", "verify"},
      {"roster", "show"},     {"backup", "create"},     {"backup", "list"},   {"backup", "verify"}};
  for (const auto& command : commands) {
    const Result r = Ok({command[0], command[1], "--help"});
    const std::string name = absl::StrCat(command[0], " ", command[1]);
    EXPECT_TRUE(absl::StartsWith(r.out, "Usage: tongbanctl " + name)) << r;
    EXPECT_TRUE(absl::StrContains(r.out, "Examples:\n  tongbanctl " + name)) << r;
    EXPECT_TRUE(absl::StrContains(top.out, name)) << name;
  }
  EXPECT_TRUE(absl::StrContains(Ok({"roster", "--help"}).out, "set-status"));
}

// --version names the version and the commit the binary was built from.
TEST_F(TongbanctlTest, VersionNamesTheCommit) {
  const Result r = Ok({"--version"});
  EXPECT_EQ(r.out, absl::StrCat("tongbanctl ", Version(), " (commit ", Commit(), ")\n"));
  EXPECT_NE(std::string(Commit()), "");
}

// Runs `script` with bash (or zsh) and returns what it printed; "" and a
// failure when the shell is missing or fails.
std::string Shell(const std::string& shell, const std::string& script) {
  const std::string command = absl::StrCat(shell, " -c '", script, "' 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << shell << " failed: " << out;
  return out;
}

// The completion scripts come from the command table and complete groups,
// commands, flags and flag values in bash and zsh.
TEST_F(TongbanctlTest, CompletionCompletesGroupsCommandsFlagsAndValues) {
  testutil::WriteFile(dir_.File("bash"), Ok({"completion", "bash"}).out, 0644);
  testutil::WriteFile(dir_.File("zsh"), Ok({"completion", "zsh"}).out, 0644);
  Shell("bash", absl::StrCat("bash -n ", dir_.File("bash")));
  // COMPREPLY for the words typed so far.
  auto bash = [&](const std::string& words) {
    return Shell("bash", absl::StrCat("source ", dir_.File("bash"), "; COMP_WORDS=(", words,
                                      "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tongbanctl; "
                                      "echo ${COMPREPLY[@]}"));
  };
  EXPECT_EQ(bash("tongbanctl ro"), "roster\n");
  EXPECT_EQ(bash("tongbanctl pro"), "profile\n");
  EXPECT_EQ(bash("tongbanctl roster si"), "sign\n");
  EXPECT_EQ(bash("tongbanctl roster sign --ro"), "--root-key\n");
  EXPECT_EQ(bash("tongbanctl keys generate --suite \"\""), "intl gm\n");
  EXPECT_EQ(bash("tongbanctl completion \"\""), "bash zsh\n");
  const std::string status_flags = bash("tongbanctl status --");
  for (const char* flag : {"--node", "--profile", "--password-file", "--json", "--help"}) {
    EXPECT_TRUE(absl::StrContains(status_flags, flag)) << status_flags;
  }
  // A group with a command of its own and subcommands: peers, peers clear-hold.
  EXPECT_EQ(bash("tongbanctl peers cl"), "clear-hold\n");
  EXPECT_TRUE(absl::StrContains(bash("tongbanctl peers --"), "--node"));
  // Profile names come from the profiles file.
  const std::string xdg = dir_.File("xdg");
  testutil::WriteFile(dir_.File("profiles.conf"), "[nanshan]\nnode = \"x:1\"\n", 0600);
  EXPECT_EQ(Shell("bash",
                  absl::StrCat("mkdir -p ", xdg, "/tongban && cp ", dir_.File("profiles.conf"), " ",
                               xdg, "/tongban/ && XDG_CONFIG_HOME=", xdg, " && source ",
                               dir_.File("bash"), " && COMP_WORDS=(tongbanctl status --profile n)",
                               " && COMP_CWORD=3 && _tongbanctl && echo ${COMPREPLY[@]}")),
            "nanshan\n");

  // zsh: the same answers, with compadd and _files stubbed to print.
  if (::system("command -v zsh >/dev/null") != 0) GTEST_SKIP() << "zsh not installed";
  Shell("zsh", absl::StrCat("zsh -n ", dir_.File("zsh")));
  auto zsh = [&](const std::string& words) {
    return Shell("zsh", absl::StrCat("compadd() { [[ $1 == -- ]] && shift; print -l -- $@ }; "
                                     "_files() { print FILES }; compdef() { : }; source ",
                                     dir_.File("zsh"), "; words=(", words,
                                     "); CURRENT=${#words}; _tongbanctl"));
  };
  EXPECT_TRUE(absl::StrContains(zsh("tongbanctl \"\""), "\nroster\n"));
  EXPECT_TRUE(absl::StrContains(zsh("tongbanctl roster \"\""), "sign\n"));
  EXPECT_TRUE(absl::StrContains(zsh("tongbanctl roster sign --"), "--root-key\n"));
  EXPECT_FALSE(absl::StrContains(zsh("tongbanctl roster sign --"), "--suite\n--suite"));
  EXPECT_EQ(zsh("tongbanctl keys generate --suite \"\""), "intl\ngm\n");
  EXPECT_EQ(zsh("tongbanctl keys generate --out \"\""), "FILES\n");
}

// Profiles: add, list, use, show, remove; a profile chosen by
// TONGBAN_PROFILE that does not exist is named in the error.
TEST_F(TongbanctlTest, ProfilesAreSavedChosenAndListed) {
  const std::string xdg = dir_.File("xdg");
  ::setenv("XDG_CONFIG_HOME", xdg.c_str(), 1);
  testutil::WriteFile(dir_.File("ca.crt"), "x", 0644);
  testutil::WriteFile(dir_.File("me.crt"), "x", 0644);
  testutil::WriteFile(dir_.File("me.key"), "x", 0600);
  testutil::WriteFile(dir_.File("me.password"), "pw\n", 0600);
  EXPECT_EQ(Ok({"profile", "list"}).out, "(no profiles; tongbanctl profile add)\n");
  Ok({"profile", "add", "nanshan", "--node", "127.0.0.1:7444", "--ca", "ca.crt", "--cert", "me.crt",
      "--key", "me.key", "--password-file", "me.password"});
  Ok({"profile", "add", "chengguan", "--node", "127.0.0.1:8444", "--ca", "ca.crt", "--cert",
      "me.crt", "--key", "me.key", "--totp-prompt"});
  const std::string file = xdg + "/tongban/profiles.conf";
  EXPECT_EQ(ModeOf(file), 0600u);
  const std::string text = Contents(file);
  EXPECT_TRUE(absl::StrContains(text, "current = \"nanshan\"")) << text;  // the first one
  EXPECT_TRUE(absl::StrContains(text, absl::StrCat("ca = \"", dir_.File("ca.crt"), "\"")))
      << text;  // made absolute
  EXPECT_TRUE(absl::StrContains(text, "totp = \"prompt\"")) << text;
  const Result list = Ok({"profile", "list"});
  EXPECT_TRUE(absl::StrContains(list.out, "*  nanshan    127.0.0.1:7444")) << list;
  Ok({"profile", "use", "chengguan"});
  EXPECT_TRUE(absl::StrContains(Ok({"profile", "show"}).out, "node           127.0.0.1:8444"));
  // Existing names need --replace; a key file others can read is refused.
  Fails(2, {"profile", "add", "nanshan", "--node", "x:1", "--ca", "ca.crt", "--cert", "me.crt",
            "--key", "me.key", "--password-file", "me.password"});
  ::chmod(dir_.File("me.key").c_str(), 0644);
  Fails(3, {"profile", "add", "other", "--node", "x:1", "--ca", "ca.crt", "--cert", "me.crt",
            "--key", "me.key", "--password-file", "me.password"});
  // An online command takes its connection from the profile: here it reads
  // the profile's key, which others can now read, and refuses it.
  ::setenv("TONGBAN_PROFILE", "nanshan", 1);
  const Result from_profile = Fails(3, {"status"});
  EXPECT_TRUE(absl::StrContains(from_profile.err, dir_.File("me.key") + ": mode 0644"))
      << from_profile;
  // A flag overrides the profile.
  ::chmod(dir_.File("me.key").c_str(), 0600);
  const Result flag = Fails(2, {"status", "--ca", "me.password"});
  EXPECT_TRUE(absl::StrContains(flag.err, "me.password: not a certificate")) << flag;
  ::setenv("TONGBAN_PROFILE", "nowhere", 1);
  const Result missing = Fails(2, {"status"});
  EXPECT_TRUE(absl::StrContains(missing.err, "no profile \"nowhere\" in " + file)) << missing;
  ::unsetenv("TONGBAN_PROFILE");
  Ok({"profile", "remove", "chengguan"});
  EXPECT_FALSE(absl::StrContains(Contents(file), "chengguan"));
  EXPECT_FALSE(absl::StrContains(Contents(file), "current ="));
  ::unsetenv("XDG_CONFIG_HOME");
}

// The language follows the locale: LC_ALL over LC_MESSAGES over LANG.
TEST_F(TongbanctlTest, ChineseWhenTheLocaleAsksForIt) {
  ::setenv("XDG_CONFIG_HOME", dir_.File("xdg").c_str(), 1);
  ::setenv("LANG", "zh_CN.UTF-8", 1);
  ::unsetenv("LC_ALL");
  ::unsetenv("LC_MESSAGES");
  EXPECT_EQ(Ok({"profile", "list"}).out, "（无连接配置；tongbanctl profile add）\n");
  ::setenv("LC_ALL", "C.UTF-8", 1);
  EXPECT_EQ(Ok({"profile", "list"}).out, "(no profiles; tongbanctl profile add)\n");
  ::unsetenv("LC_ALL");
  // Nothing listens on a port just released: the error says what to check.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string node = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  ::close(fd);
  Ok({"operator", "init", "--out", "ops", "--county", "620102"});
  Ok({"operator", "add", "--dir", "ops", "--name", "li", "--role", "clerk", "--suite", "intl"});
  const std::vector<std::string> connect = {
      "status",         "--node",     node,    "--ca",       "ops/ca.crt",
      "--cert",         "ops/li.crt", "--key", "ops/li.key", "--password-file",
      "ops/li.password"};
  Result zh = Fails(1, connect);
  EXPECT_TRUE(absl::StrContains(zh.err, absl::StrCat(node, " 上没有服务在监听"))) << zh;
  ::unsetenv("LANG");
  Result en = Fails(1, connect);
  EXPECT_TRUE(absl::StrContains(
      en.err, absl::StrCat("nothing listens on ", node, ": is tongband running there")))
      << en;
  ::unsetenv("XDG_CONFIG_HOME");
}

// The backup commands: help, completion from the table, and the offline
// ones run in the tongband the environment names (a missing one is one clear
// error, exit 1).
TEST_F(TongbanctlTest, BackupCommandsHaveHelpCompletionAndFindTongband) {
  const Result restore = Ok({"restore", "--help"});
  EXPECT_TRUE(absl::StartsWith(restore.out, "Usage: tongbanctl restore --from DIR")) << restore;
  EXPECT_TRUE(absl::StrContains(restore.out, "Examples:\n  tongbanctl restore ")) << restore;
  EXPECT_TRUE(absl::StrContains(restore.out, "db.before-restore-")) << restore;
  EXPECT_TRUE(absl::StrContains(Ok({"backup", "--help"}).out, "backup verify"));
  testutil::WriteFile(dir_.File("bash"), Ok({"completion", "bash"}).out, 0644);
  auto bash = [&](const std::string& words) {
    return Shell("bash", absl::StrCat("source ", dir_.File("bash"), "; COMP_WORDS=(", words,
                                      "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _tongbanctl; "
                                      "echo ${COMPREPLY[@]}"));
  };
  EXPECT_EQ(bash("tongbanctl backup \"\""), "create list verify\n");
  const std::string restore_flags = bash("tongbanctl restore --");
  for (const char* flag : {"--from", "--id", "--data-dir", "--storage-key"}) {
    EXPECT_TRUE(absl::StrContains(restore_flags, flag)) << restore_flags;
  }
  EXPECT_TRUE(absl::StrContains(bash("tongbanctl backup verify --st"), "--storage-key"));
  // Bad usage is caught before tongband runs.
  Fails(2, {"backup", "list", "--dir"});
  setenv("TONGBAND", dir_.File("no-tongband").c_str(), 1);
  const Result missing = Fails(1, {"backup", "list", "--dir", dir_.path()});
  unsetenv("TONGBAND");
  EXPECT_TRUE(absl::StrContains(missing.err, "cannot run tongband")) << missing;
}

// The man page (deploy/man/tongbanctl.1) lists every command --help lists.
TEST_F(TongbanctlTest, ManPageListsEveryCommand) {
  const std::string page = Contents(std::string(TB_SOURCE_DIR) + "/deploy/man/tongbanctl.1");
  ASSERT_FALSE(page.empty());
  const std::string help = Ok({"--help"}).out;
  int listed = 0;
  bool in_commands = false;
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    if (absl::StrContains(line, "commands (")) in_commands = true;
    if (absl::StartsWith(line, "Exit codes")) in_commands = false;
    if (!in_commands || !absl::StartsWith(line, "  ")) continue;
    const std::vector<std::string> words = absl::StrSplit(line.substr(2), "  ");
    std::string name = words.front();
    absl::StrReplaceAll({{"-", "\\-"}}, &name);
    EXPECT_TRUE(absl::StrContains(page, absl::StrCat("\n.B ", name, "\n"))) << name;
    ++listed;
  }
  EXPECT_GT(listed, 40);
}

}  // namespace
}  // namespace tongban
