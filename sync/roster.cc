#include "sync/roster.h"

#include <arpa/inet.h>

#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/ids/region.h"
#include "common/status_macros.h"

namespace tongban::sync {

struct Roster::Data {
  v1::SignedRoster signed_roster;
  v1::Roster roster;
  absl::flat_hash_map<std::string, int> index;  // code -> position in nodes
  // "<code>/<key_id>" -> the parsed signing key.
  absl::flat_hash_map<std::string, std::unique_ptr<crypto::PublicKey>> keys;
};

namespace {

absl::Status Invalid(absl::string_view node, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("node ", node, ": ", why));
}

std::string KeyIndex(absl::string_view code, absl::string_view key_id) {
  return absl::StrCat(code, "/", key_id);
}

// A host name: labels of letters, digits and '-', separated by single dots.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(host[i]);
    if (c == '.') {
      if (label == 0 || i + 1 == host.size()) return false;
      label = 0;
    } else if (absl::ascii_isalnum(c) || c == '-') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool IsNationalCode(absl::string_view code) { return code == "000000"; }
bool IsProvinceCode(absl::string_view code) {
  return code.size() == 6 && code.substr(2) == "0000" && !IsNationalCode(code);
}

v1::NodeEntry::Role RoleForCode(absl::string_view code) {
  if (IsNationalCode(code)) return v1::NodeEntry::ROLE_NATIONAL;
  if (IsProvinceCode(code)) return v1::NodeEntry::ROLE_PROVINCE;
  return v1::NodeEntry::ROLE_COUNTY;
}

// How node codes are checked. The region table compiled into this build is
// the authority when a roster is signed; a node that receives a roster only
// checks the codes' form, so that a county created after this build was
// made never makes an older node reject the whole roster (DESIGN.md section
// 3: configuration must never stop the network).
enum class CodeCheck { kRegionTable, kFormatOnly };

absl::Status CheckCode(const std::string& code, CodeCheck check) {
  if (check == CodeCheck::kRegionTable) return ids::ValidateNodeCode(code);
  if (code.size() != 6 || !absl::c_all_of(code, [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError("not six digits");
  }
  return absl::OkStatus();
}

// Validates one entry; with `keys`, also keeps its parsed signing keys.
absl::Status ValidateEntry(
    const v1::NodeEntry& node, CodeCheck check,
    absl::flat_hash_map<std::string, std::unique_ptr<crypto::PublicKey>>* keys) {
  const std::string& code = node.code();
  absl::Status valid = CheckCode(code, check);
  if (!valid.ok()) return Prefixed(absl::StrCat("node \"", code, "\""), valid);
  if (node.name().empty()) return Invalid(code, "name is empty");
  const v1::NodeEntry::Role want = RoleForCode(code);
  if (node.role() != want) {
    return Invalid(code,
                   absl::StrCat("role is ", v1::NodeEntry::Role_Name(node.role()),
                                " but a code like this one is ", v1::NodeEntry::Role_Name(want)));
  }
  if (node.status() == v1::NodeEntry::NODE_STATUS_UNSPECIFIED ||
      !v1::NodeEntry::NodeStatus_IsValid(node.status())) {
    return Invalid(code, "status is not set (ACTIVE, SUSPENDED or REVOKED)");
  }
  for (const std::string& endpoint : node.endpoints()) {
    absl::Status s = ValidateEndpoint(endpoint);
    if (!s.ok()) return Invalid(code, std::string(s.message()));
  }
  if (want == v1::NodeEntry::ROLE_NATIONAL && node.endpoints().empty()) {
    return Invalid(code, "the national node needs at least one endpoint: every node dials it");
  }
  if (node.signing_keys().empty()) return Invalid(code, "has no signing key");
  absl::flat_hash_set<std::string> key_ids;
  absl::flat_hash_set<std::pair<std::string, uint64_t>> starts;
  for (const v1::SigningKey& key : node.signing_keys()) {
    absl::StatusOr<crypto::SuiteId> suite = crypto::ParseSuiteId(key.suite());
    if (!suite.ok()) {
      return Invalid(code,
                     absl::StrCat("signing key ", key.key_id(), ": ", suite.status().message()));
    }
    absl::StatusOr<std::unique_ptr<crypto::PublicKey>> parsed =
        crypto::GetSuite(*suite).PublicKeyFromSpkiDer(key.spki_der());
    if (!parsed.ok()) {
      return Invalid(code, absl::StrCat("signing key ", key.key_id(), ": spki_der is not a ",
                                        key.suite(), " public key: ", parsed.status().message()));
    }
    const std::string actual = (*parsed)->KeyId();
    if (key.key_id() != actual) {
      return Invalid(code, absl::StrCat("signing key id \"", key.key_id(),
                                        "\" does not match its key, whose id is ", actual));
    }
    if (!key_ids.insert(actual).second) {
      return Invalid(code, absl::StrCat("signing key ", actual, " is listed twice"));
    }
    if (!starts.insert({key.suite(), key.valid_from_seq()}).second) {
      return Invalid(code, absl::StrCat("two ", key.suite(), " signing keys are valid from seq ",
                                        key.valid_from_seq()));
    }
    if (keys != nullptr) (*keys)[KeyIndex(code, actual)] = *std::move(parsed);
  }
  return absl::OkStatus();
}

// Validates the whole roster; fills `index` and `keys` when they are given.
absl::Status ValidateInto(
    const v1::Roster& roster, CodeCheck check, absl::flat_hash_map<std::string, int>* index,
    absl::flat_hash_map<std::string, std::unique_ptr<crypto::PublicKey>>* keys) {
  if (roster.version() < 1) {
    return absl::InvalidArgumentError("roster version is 0; versions start at 1");
  }
  if (roster.federation().empty()) {
    return absl::InvalidArgumentError("roster has no federation name");
  }
  absl::flat_hash_map<std::string, int> local_index;
  if (index == nullptr) index = &local_index;
  int national = 0;
  for (int i = 0; i < roster.nodes_size(); ++i) {
    const v1::NodeEntry& node = roster.nodes(i);
    TB_RETURN_IF_ERROR(ValidateEntry(node, check, keys));
    if (!index->emplace(node.code(), i).second) {
      return Invalid(node.code(), "is listed twice");
    }
    if (node.role() == v1::NodeEntry::ROLE_NATIONAL) ++national;
  }
  if (national != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster has ", national, " national nodes (000000); it needs exactly one"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEndpoint(absl::string_view endpoint) {
  auto bad = [endpoint](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint \"", endpoint, "\" is not host:port: ", why));
  };
  const size_t colon = endpoint.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  absl::string_view host = endpoint.substr(0, colon);
  absl::string_view port_text = endpoint.substr(colon + 1);
  uint32_t port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !absl::c_all_of(port_text,
                      [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
    return bad("the port must be 1-65535");
  }
  if (host.empty()) return bad("the host is empty");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("an IPv6 host is [address]");
    const std::string v6(host.substr(1, host.size() - 2));
    unsigned char buf[16];
    if (::inet_pton(AF_INET6, v6.c_str(), buf) != 1) return bad("not an IPv6 address");
    return absl::OkStatus();
  }
  if (absl::c_all_of(host, [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
      })) {
    const std::string v4(host);
    unsigned char buf[4];
    if (::inet_pton(AF_INET, v4.c_str(), buf) != 1) return bad("not an IPv4 address");
    return absl::OkStatus();
  }
  if (!IsHostName(host)) {
    return bad("the host is not a name, an IPv4 address or an [IPv6] address");
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeEntry(const v1::NodeEntry& node) {
  return ValidateEntry(node, CodeCheck::kRegionTable, nullptr);
}

absl::Status ValidateRosterContent(const v1::Roster& roster) {
  return ValidateInto(roster, CodeCheck::kRegionTable, nullptr, nullptr);
}

absl::StatusOr<v1::SignedRoster> SignRoster(const v1::Roster& roster,
                                            const crypto::PrivateKey& root_key) {
  TB_RETURN_IF_ERROR(ValidateRosterContent(roster));
  v1::SignedRoster out;
  if (!roster.SerializeToString(out.mutable_roster())) {
    return absl::InternalError("cannot serialize the roster");
  }
  TB_ASSIGN_OR_RETURN(std::string signature, root_key.NewSigner()->Sign(out.roster()));
  out.set_signature(std::move(signature));
  out.set_suite(std::string(crypto::SuiteName(root_key.suite())));
  out.set_key_id(root_key.public_key().KeyId());
  return out;
}

absl::StatusOr<Roster> Roster::Verify(const v1::SignedRoster& signed_roster,
                                      const crypto::PublicKey& root_key) {
  absl::StatusOr<crypto::SuiteId> suite = crypto::ParseSuiteId(signed_roster.suite());
  if (!suite.ok()) return Prefixed("signed roster", suite.status());
  if (*suite != root_key.suite()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signed roster is signed under suite ", signed_roster.suite(),
        " but the federation root key is a ", crypto::SuiteName(root_key.suite()), " key"));
  }
  const std::string root_id = root_key.KeyId();
  if (signed_roster.key_id() != root_id) {
    return absl::InvalidArgumentError(absl::StrCat("signed roster names signing key \"",
                                                   signed_roster.key_id(),
                                                   "\" but the federation root key is ", root_id));
  }
  const crypto::Suite& s = crypto::GetSuite(*suite);
  absl::Status verified =
      s.NewVerifier(root_key)->Verify(signed_roster.roster(), signed_roster.signature());
  if (!verified.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("signed roster: the signature by federation root key ", root_id,
                     " does not verify: ", verified.message()));
  }
  auto data = std::make_shared<Data>();
  if (!data->roster.ParseFromString(signed_roster.roster())) {
    return absl::InvalidArgumentError("signed roster: the signed bytes are not a Roster");
  }
  absl::Status valid =
      ValidateInto(data->roster, CodeCheck::kFormatOnly, &data->index, &data->keys);
  if (!valid.ok()) return Prefixed(absl::StrCat("roster v", data->roster.version()), valid);
  data->signed_roster = signed_roster;
  return Roster(std::move(data));
}

absl::StatusOr<Roster> Roster::AcceptNewer(const Roster& current, const v1::SignedRoster& candidate,
                                           const crypto::PublicKey& root_key) {
  TB_ASSIGN_OR_RETURN(Roster next, Verify(candidate, root_key));
  TB_RETURN_IF_ERROR(CheckSuccessor(current, next));
  return next;
}

absl::Status Roster::CheckSuccessor(const Roster& current, const Roster& next) {
  if (next.federation() != current.federation()) {
    return absl::InvalidArgumentError(absl::StrCat("roster v", next.version(),
                                                   " is for federation \"", next.federation(),
                                                   "\", not \"", current.federation(), "\""));
  }
  if (next.version() <= current.version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster v", next.version(), " is not newer than the current roster v", current.version()));
  }
  return absl::OkStatus();
}

uint64_t Roster::version() const { return data_->roster.version(); }
const std::string& Roster::federation() const { return data_->roster.federation(); }
absl::Time Roster::issued_at() const {
  return absl::FromUnixMicros(data_->roster.issued_at_micros());
}
const v1::Roster& Roster::roster() const { return data_->roster; }
const v1::SignedRoster& Roster::signed_roster() const { return data_->signed_roster; }

const v1::NodeEntry* Roster::Find(absl::string_view code) const {
  auto it = data_->index.find(code);
  return it == data_->index.end() ? nullptr : &data_->roster.nodes(it->second);
}

absl::Status Roster::CheckPeer(absl::string_view code) const {
  const v1::NodeEntry* node = Find(code);
  if (node == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("node ", code, " is not in roster v", version()));
  }
  const std::string reason =
      node->status_reason().empty() ? "(no reason given)" : node->status_reason();
  switch (node->status()) {
    case v1::NodeEntry::NODE_STATUS_ACTIVE: return absl::OkStatus();
    case v1::NodeEntry::NODE_STATUS_SUSPENDED:
      return absl::PermissionDeniedError(
          absl::StrCat("node ", code, " is suspended in roster v", version(), ": ", reason));
    case v1::NodeEntry::NODE_STATUS_REVOKED:
      return absl::PermissionDeniedError(
          absl::StrCat("node ", code, " is revoked in roster v", version(), ": ", reason));
    default:
      // Validation refuses any other status; refuse rather than trust it.
      return absl::PermissionDeniedError(
          absl::StrCat("node ", code, " has no valid status in roster v", version()));
  }
}

const crypto::PublicKey* Roster::FindSigningKey(absl::string_view code,
                                                absl::string_view key_id) const {
  auto it = data_->keys.find(KeyIndex(code, key_id));
  return it == data_->keys.end() ? nullptr : it->second.get();
}

bool Roster::IsStale(absl::Time now, absl::Duration max_age) const {
  return now - issued_at() > max_age;
}

}  // namespace tongban::sync
