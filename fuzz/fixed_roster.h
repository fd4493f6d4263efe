// The roster of the fuzz targets' federation (fuzz/session_node.h's three
// nodes, each under its fixed key), signed by the fixed root key: the seed
// generator writes it as the roster target's seed, and targets that check
// signatures against a roster use it verified.
//
// Thread safety: FixedRoster's lists are made once, on first use.
#pragma once

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "fuzz/fixtures.h"
#include "fuzz/session_node.h"
#include "sync/roster.h"

namespace tongban::fuzz {

inline v1::Roster FixedRosterContent(crypto::SuiteId s) {
  v1::Roster r;
  r.set_version(3);
  r.set_issued_at_micros(1796083200000000);
  r.set_federation("fuzz federation");
  for (const char* code : {kNational, kOrigin, kCounty}) {
    v1::NodeEntry* n = r.add_nodes();
    n->set_code(code);
    n->set_name(absl::StrCat("node ", code));
    n->set_role(std::string(code) == kNational ? v1::NodeEntry::ROLE_NATIONAL
                                               : v1::NodeEntry::ROLE_COUNTY);
    n->add_endpoints(absl::StrCat("n", code, ".example.org:7443"));
    n->set_status(v1::NodeEntry::NODE_STATUS_ACTIVE);
    auto key = FixedKey(s, RoleOf(code));
    v1::SigningKey* k = n->add_signing_keys();
    k->set_suite(std::string(crypto::SuiteName(s)));
    k->set_spki_der(key->public_key().SpkiDer());
    k->set_key_id(key->public_key().KeyId());
  }
  r.mutable_nodes(2)->set_status(v1::NodeEntry::NODE_STATUS_SUSPENDED);
  r.mutable_nodes(2)->set_status_reason("audit pending");
  return r;
}

inline v1::SignedRoster FixedSignedRoster(crypto::SuiteId s) {
  absl::StatusOr<v1::SignedRoster> signed_roster =
      sync::SignRoster(FixedRosterContent(s), *FixedKey(s, kRootRole));
  if (!signed_roster.ok()) abort();
  return *std::move(signed_roster);
}

// Verified against the fixed root key; aborts if it does not verify (a
// broken build).
inline const sync::Roster& FixedRoster(crypto::SuiteId s) {
  static const sync::Roster* rosters[2] = {nullptr, nullptr};
  const int i = s == crypto::SuiteId::kIntl ? 0 : 1;
  if (rosters[i] == nullptr) {
    absl::StatusOr<sync::Roster> r =
        sync::Roster::Verify(FixedSignedRoster(s), FixedKey(s, kRootRole)->public_key());
    if (!r.ok()) abort();
    rosters[i] = new sync::Roster(*std::move(r));
  }
  return *rosters[i];
}

}  // namespace tongban::fuzz
