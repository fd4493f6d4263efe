// RosterHolder is a node's current roster (DESIGN.md section 3): what peer
// checks and key lookups read, what the national node serves
// (Exchange.GetRoster), and what a newer signed roster replaces.
//
// The roster is kept in one file, the binary SignedRoster that `tongbanctl
// roster sign` writes. Offer() accepts a candidate only if it is correctly
// signed by the federation root key, names the same federation and is
// strictly newer; it then replaces the file atomically (temporary file,
// fsync, rename, folder fsync) before the new roster is used, so a crash
// leaves the old roster or the new one and a restarted node never goes back.
//
// A roster that has grown old is only reported (WarnIfStale): expiring
// configuration must never stop the network.
//
// Every roster accepted stays in memory for the holder's lifetime (rosters
// are small and versions rare), so a key pointer handed out by
// FindSigningKey stays valid even after a newer roster replaced the one it
// came from.
//
// Wiring (the daemon):
//   PeerCheck check = [&h](const std::string& peer) { return h.CheckPeer(peer); };
//   KeyLookup keys  = [&h](absl::string_view code, absl::string_view key_id) {
//                       return h.FindSigningKey(code, key_id); };
//   ExchangeServer::Options::roster = [&h](uint64_t have) { return h.SignedIfNewer(have); };
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/crypto/suite.h"
#include "sync/roster.h"
#include "tongban/v1/roster.pb.h"

namespace tongban::sync {

class RosterHolder {
 public:
  // Reads and verifies the signed roster in `path` against `root_key` (the
  // federation root public key). kNotFound if the file is missing,
  // kInvalidArgument naming the file if it does not parse or verify.
  static absl::StatusOr<std::unique_ptr<RosterHolder>> Open(
      std::string path, std::unique_ptr<crypto::PublicKey> root_key);

  RosterHolder(const RosterHolder&) = delete;
  RosterHolder& operator=(const RosterHolder&) = delete;

  // The roster in use (a cheap copy sharing the parsed roster).
  Roster current() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t version() const ABSL_LOCKS_EXCLUDED(mu_);

  // Accepts `candidate` if it is newer, persists it, and returns it. Errors,
  // each with its own code so callers and tests can tell them apart:
  //   kInvalidArgument     forged: a bad signature, another root key or
  //                        suite, invalid content, another federation
  //   kAlreadyExists       the version held, byte for byte (harmless)
  //   kFailedPrecondition  an older version, or another roster under the
  //                        version held
  //   file errors          the roster could not be persisted: nothing changed
  absl::StatusOr<Roster> Offer(const v1::SignedRoster& candidate) ABSL_LOCKS_EXCLUDED(mu_);

  // The current signed roster if its version is greater than `have_version`,
  // else nullopt: the answer to Exchange.GetRoster.
  std::optional<v1::SignedRoster> SignedIfNewer(uint64_t have_version) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Roster::CheckPeer against the current roster.
  absl::Status CheckPeer(absl::string_view code) const ABSL_LOCKS_EXCLUDED(mu_);
  // Roster::FindSigningKey against the current roster; the pointer lives as
  // long as this holder.
  const crypto::PublicKey* FindSigningKey(absl::string_view code, absl::string_view key_id) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // True, and a WARNING logged, when the current roster was issued more than
  // `max_age` before `now`. Nothing else happens: a stale roster keeps
  // working.
  bool WarnIfStale(absl::Time now, absl::Duration max_age) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  RosterHolder(std::string path, std::unique_ptr<crypto::PublicKey> root_key, Roster initial);

  const std::string path_;
  const std::unique_ptr<const crypto::PublicKey> root_key_;
  absl::Mutex offer_mu_;  // one Offer at a time: verify, persist, swap
  mutable absl::Mutex mu_;
  std::vector<Roster> held_ ABSL_GUARDED_BY(mu_);  // every roster accepted; the last is current
};

}  // namespace tongban::sync
