// The federation roster (花名册) as the node uses it: parse and verify a
// SignedRoster against the federation root key, check its content, and
// answer "may this peer take part?" (DESIGN.md section 3). The format is
// proto/tongban/v1/roster.proto; `tongbanctl roster` writes and signs it.
//
// Verification order: the signature over the exact `roster` bytes is checked
// before those bytes are parsed; then the content is validated (below). A
// roster is accepted only when it is correctly signed and newer than the one
// held. A roster that has grown old is only reported (IsStale): expiring
// configuration must never stop the network. A node holds its current
// roster in a RosterHolder (sync/roster_holder.h).
//
// Content rules (ValidateRosterContent):
//   - version >= 1; federation non-empty;
//   - every node code appears once and, when a roster is signed, passes
//     ids::ValidateNodeCode against this build's region table; a node that
//     receives a roster only checks that codes are six digits, so a county
//     created after its build never makes it reject the whole roster;
//   - the role follows from the code: "000000" is ROLE_NATIONAL (exactly one
//     per roster), "XX0000" ROLE_PROVINCE, any other code ROLE_COUNTY;
//   - name non-empty, status set (ACTIVE, SUSPENDED or REVOKED);
//   - endpoints are "host:port" (host a name, IPv4 or [IPv6], port 1-65535);
//     a node may list none (it only dials out), except the national node;
//   - at least one signing key; each names its suite ("intl" or "gm"), its
//     spki_der parses as a key of that suite, key_id equals that key's
//     crypto KeyId(), key ids are unique within the node, and no two keys of
//     one suite share a valid_from_seq.
//
// Errors: a bad signature, wrong key id or suite, unparseable bytes or
// invalid content is kInvalidArgument naming the node and field; a roster
// that is not newer is kFailedPrecondition naming both versions; a peer that
// may not take part is kPermissionDenied.
//
// Thread safety: Roster is immutable; copies share one parsed roster and are
// safe to use from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "tongban/v1/roster.pb.h"

namespace tongban::sync {

// OK iff `roster` follows every content rule above; otherwise
// kInvalidArgument naming the first problem ("node 440305: endpoint
// \"x\": ...").
absl::Status ValidateRosterContent(const v1::Roster& roster);

// The rules that concern one node entry alone (everything above except
// uniqueness and "exactly one national node").
absl::Status ValidateNodeEntry(const v1::NodeEntry& node);

// "host:port" with a non-empty host name, IPv4 or bracketed IPv6 host and a
// port in 1..65535; kInvalidArgument naming the value otherwise.
absl::Status ValidateEndpoint(absl::string_view endpoint);

// Validates `roster`, serializes it and signs the bytes with `root_key`.
absl::StatusOr<v1::SignedRoster> SignRoster(const v1::Roster& roster,
                                            const crypto::PrivateKey& root_key);

class Roster {
 public:
  // Verifies `signed_roster` against the federation root public key: the
  // suite and key_id must be the root key's and the signature must cover
  // the `roster` bytes; then parses and validates the content.
  static absl::StatusOr<Roster> Verify(const v1::SignedRoster& signed_roster,
                                       const crypto::PublicKey& root_key);

  // Verifies `candidate` as above and accepts it only if its version is
  // strictly greater than `current`'s and it names the same federation.
  // A bad signature or content is kInvalidArgument (checked first, so a
  // forged roster is always reported as such); an older or equal version is
  // kFailedPrecondition ("roster v6 is not newer than the current roster
  // v7").
  static absl::StatusOr<Roster> AcceptNewer(const Roster& current,
                                            const v1::SignedRoster& candidate,
                                            const crypto::PublicKey& root_key);

  // The version and federation checks of AcceptNewer, for a `next` that is
  // already verified: kInvalidArgument for another federation,
  // kFailedPrecondition for a version not greater than `current`'s.
  static absl::Status CheckSuccessor(const Roster& current, const Roster& next);

  uint64_t version() const;
  const std::string& federation() const;
  absl::Time issued_at() const;
  const v1::Roster& roster() const;
  // The signed form, as verified, for passing the roster on to peers.
  const v1::SignedRoster& signed_roster() const;

  // The entry for `code`, or nullptr. The pointer lives as long as this
  // Roster or any copy of it.
  const v1::NodeEntry* Find(absl::string_view code) const;

  // OK if `code` is in the roster and active. Otherwise kPermissionDenied:
  //   "node 440305 is suspended in roster v7: <reason>"
  //   "node 440305 is revoked in roster v7: <reason>"
  //   "node 440306 is not in roster v7"
  absl::Status CheckPeer(absl::string_view code) const;

  // The signing key `key_id` of node `code` (whatever the node's status:
  // a revoked node's keys still verify its history), or nullptr. The pointer
  // lives as long as this Roster or any copy of it.
  const crypto::PublicKey* FindSigningKey(absl::string_view code, absl::string_view key_id) const;

  // True when the roster was issued more than `max_age` before `now`. Only a
  // warning: a stale roster keeps working.
  bool IsStale(absl::Time now, absl::Duration max_age) const;

 private:
  struct Data;
  explicit Roster(std::shared_ptr<const Data> data) : data_(std::move(data)) {}
  std::shared_ptr<const Data> data_;  // Never null.
};

}  // namespace tongban::sync
