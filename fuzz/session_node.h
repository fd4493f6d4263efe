// One node of a federation in fixed keys, for the session fuzz target and
// its seed generator: a real store in a folder of its own, its writer and
// the sessions it opens (wired as tests/sync/test_federation.h wires them,
// without GoogleTest). Every node's key is FixedKey(suite, role), so the
// batches a seed holds verify in every run.
//
// Thread safety: as Session: one thread drives a node's sessions.
#pragma once

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "fuzz/fixtures.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/session.h"
#include "sync/verify.h"

namespace tongban::fuzz {

inline constexpr char kNational[] = "000000";
inline constexpr char kOrigin[] = "620102";
inline constexpr char kCounty[] = "440305";

inline char RoleOf(absl::string_view code) {
  if (code == kNational) return kNationalRole;
  if (code == kOrigin) return kOriginRole;
  return 'c';
}

class SessionNode {
 public:
  // Opens the node `code` in `dir`/`code`; aborts on failure (a fresh folder
  // must open).
  SessionNode(crypto::SuiteId suite, const std::string& code, const TempDir& dir,
              const Clock* clock)
      : suite_(suite), code_(code), clock_(clock) {
    for (const char* c : {kNational, kOrigin, kCounty}) keys_[c] = FixedKey(suite, RoleOf(c));
    storage::StoreOptions so;
    so.path = dir.File(code);
    so.suite = suite;
    so.storage_key = FixedStorageKey(crypto::GetSuite(suite).symmetric_key_size());
    auto store = storage::Store::Open(so);
    if (!store.ok()) abort();
    store_ = *std::move(store);
    storage::WriterOptions wo;
    wo.node = code;
    wo.relay = code == kNational;
    auto writer = storage::Writer::Open(store_.get(), keys_.at(code).get(), wo, clock);
    if (!writer.ok()) abort();
    writer_ = *std::move(writer);
  }
  ~SessionNode() {
    writer_.reset();  // stops before the store closes
    store_.reset();
  }

  std::unique_ptr<sync::Session> OpenSession(const std::string& peer) {
    sync::SessionOptions options;
    options.self = code_;
    auto verifier = std::make_unique<sync::BatchVerifier>(
        crypto::GetSuite(suite_), [this](absl::string_view origin, absl::string_view key_id) {
          auto it = keys_.find(std::string(origin));
          if (it == keys_.end()) return static_cast<const crypto::PublicKey*>(nullptr);
          const crypto::PublicKey& pub = it->second->public_key();
          return pub.KeyId() == key_id ? &pub : nullptr;
        });
    return std::make_unique<sync::Session>(store_.get(), writer_.get(), std::move(verifier), clock_,
                                           options, peer);
  }

  storage::Writer* writer() { return writer_.get(); }
  storage::Store* store() { return store_.get(); }

 private:
  const crypto::SuiteId suite_;
  const std::string code_;
  const Clock* const clock_;
  std::map<std::string, std::unique_ptr<crypto::PrivateKey>> keys_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Writer> writer_;
};

// The session fuzz input: a suite byte, then messages, each a 16-bit
// little-endian length and that many bytes of a serialized SyncMessage.
inline void AppendMessage(std::string* out, const std::string& bytes) {
  out->push_back(static_cast<char>(bytes.size() & 0xff));
  out->push_back(static_cast<char>(bytes.size() >> 8));
  out->append(bytes);
}

}  // namespace tongban::fuzz
