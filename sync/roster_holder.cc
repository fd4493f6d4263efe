#include "sync/roster_holder.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tongban::sync {
namespace {

// Signed rosters are public: readable by everyone, like `roster sign` writes them.
constexpr unsigned kRosterFileMode = 0644;

}  // namespace

RosterHolder::RosterHolder(std::string path, std::unique_ptr<crypto::PublicKey> root_key,
                           Roster initial)
    : path_(std::move(path)), root_key_(std::move(root_key)), held_{std::move(initial)} {}

absl::StatusOr<std::unique_ptr<RosterHolder>> RosterHolder::Open(
    std::string path, std::unique_ptr<crypto::PublicKey> root_key) {
  if (root_key == nullptr) return absl::InvalidArgumentError("roster holder: no root key");
  absl::StatusOr<std::string> bytes = crypto::ReadSmallFile(path, /*secret=*/false);
  if (!bytes.ok()) return bytes.status();
  v1::SignedRoster signed_roster;
  if (!signed_roster.ParseFromString(*bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": not a signed roster (want the binary SignedRoster that `tongbanctl roster "
                     "sign` writes)"));
  }
  absl::StatusOr<Roster> roster = Roster::Verify(signed_roster, *root_key);
  if (!roster.ok()) return Prefixed(path, roster.status());
  return std::unique_ptr<RosterHolder>(
      new RosterHolder(std::move(path), std::move(root_key), *std::move(roster)));
}

Roster RosterHolder::current() const {
  absl::MutexLock lock(&mu_);
  return held_.back();
}

uint64_t RosterHolder::version() const { return current().version(); }

absl::StatusOr<Roster> RosterHolder::Offer(const v1::SignedRoster& candidate) {
  absl::MutexLock offering(&offer_mu_);
  const Roster now = current();
  // Verified first, so that a forged roster is always reported as forged,
  // whatever version it claims.
  TB_ASSIGN_OR_RETURN(Roster next, Roster::Verify(candidate, *root_key_));
  if (next.version() == now.version() && next.federation() == now.federation()) {
    if (candidate.roster() == now.signed_roster().roster()) {
      return absl::AlreadyExistsError(
          absl::StrCat("roster v", next.version(), " is already the current roster"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("roster v", next.version(),
                     " differs from the current roster of the same version; "
                     "the federation root must sign a new version"));
  }
  TB_RETURN_IF_ERROR(Roster::CheckSuccessor(now, next));
  // Durable before it is used: a restart never falls back to the older one.
  TB_RETURN_IF_ERROR(Prefixed(
      absl::StrCat("cannot keep roster v", next.version()),
      crypto::ReplaceFileAtomically(path_, candidate.SerializeAsString(), kRosterFileMode)));
  {
    absl::MutexLock lock(&mu_);
    held_.push_back(next);
  }
  TB_LOG(INFO) << "roster v" << next.version() << " accepted (was v" << now.version() << ")";
  return next;
}

std::optional<v1::SignedRoster> RosterHolder::SignedIfNewer(uint64_t have_version) const {
  const Roster now = current();
  if (now.version() <= have_version) return std::nullopt;
  return now.signed_roster();
}

absl::Status RosterHolder::CheckPeer(absl::string_view code) const {
  return current().CheckPeer(code);
}

const crypto::PublicKey* RosterHolder::FindSigningKey(absl::string_view code,
                                                      absl::string_view key_id) const {
  // The pointer is into a roster that held_ keeps alive.
  return current().FindSigningKey(code, key_id);
}

bool RosterHolder::WarnIfStale(absl::Time now, absl::Duration max_age) const {
  const Roster roster = current();
  if (!roster.IsStale(now, max_age)) return false;
  TB_LOG(WARNING) << "roster v" << roster.version() << " was issued at "
                  << absl::FormatTime(roster.issued_at()) << ", more than "
                  << absl::FormatDuration(max_age)
                  << " ago; ask the national node for a newer one (the node keeps working)";
  return true;
}

}  // namespace tongban::sync
