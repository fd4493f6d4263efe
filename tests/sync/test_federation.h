// A federation of nodes in one process for sync tests: each node has its
// signing key, encrypted store and writer; each session gets a batch
// verifier of its own; the verifiers
// look keys up among the federation's nodes (the roster's role). Optional
// TLS identities come from a federation CA made for the test.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/pki/pki.h"
#include "gtest/gtest.h"
#include "storage/audit_log.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "sync/session.h"
#include "sync/verify.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::testutil {

inline constexpr char kNational[] = "000000";

struct FederationNode {
  std::unique_ptr<crypto::PrivateKey> key;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<storage::Writer> writer;
  std::unique_ptr<storage::AuditLog> audit;  // peers' reads of personal data
  std::string tls_cert_pem;                  // set by IssueTls
  std::string tls_key_pem;
  storage::StoreOptions store_options;  // to reopen the same store
  // The node's own clock (its writer, audit log and sessions); null: the
  // federation's.
  const Clock* clock = nullptr;
};

// Waits until `predicate` holds, woken by every durable change at `node`;
// false after `timeout`.
inline bool WaitFor(FederationNode& node, const std::function<bool()>& predicate,
                    absl::Duration timeout = absl::Seconds(30)) {
  absl::Mutex mu;
  bool changed = false;
  const int id = node.writer->AddListener([&] {
    absl::MutexLock lock(&mu);
    changed = true;
  });
  const absl::Time deadline = absl::Now() + timeout;
  bool met = predicate();
  while (!met && absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu);
      mu.AwaitWithDeadline(absl::Condition(&changed), deadline);
      changed = false;
    }
    met = predicate();
  }
  node.writer->RemoveListener(id);
  return met;
}

class TestFederation {
 public:
  TestFederation(crypto::SuiteId suite, const Clock* clock) : suite_(suite), clock_(clock) {}

  // A node; `clock`, if set, is its own (a clock skewed from the others').
  // `faults`, if set, is the disk under the node's store (kept across
  // Restart); not owned.
  FederationNode& Add(const std::string& code, const Clock* clock = nullptr,
                      const storage::FaultInjection* faults = nullptr) {
    const crypto::Suite& suite = crypto::GetSuite(suite_);
    FederationNode& n = nodes_[code];
    n.clock = clock;
    n.key = *suite.GenerateKey();
    storage::StoreOptions so;
    so.path = dir_.File(code);
    so.suite = suite_;
    so.faults = faults;
    so.storage_key = *crypto::RandomBytes(suite.symmetric_key_size());
    n.store_options = so;
    Open(code, n);
    return n;
  }

  // A batch verifier that looks keys up among the federation's nodes (the
  // roster's role). A verifier holds a hasher: one per thread.
  std::unique_ptr<sync::BatchVerifier> NewVerifier() {
    return std::make_unique<sync::BatchVerifier>(
        crypto::GetSuite(suite_), [this](absl::string_view origin, absl::string_view key_id) {
          auto it = nodes_.find(std::string(origin));
          if (it == nodes_.end()) return static_cast<const crypto::PublicKey*>(nullptr);
          const crypto::PublicKey& pub = it->second.key->public_key();
          return pub.KeyId() == key_id ? &pub : nullptr;
        });
  }

  FederationNode& at(const std::string& code) { return nodes_.at(code); }

  // Stops the node (its writer finishes and signs what it has) and starts it
  // again on the same folder and keys.
  void Restart(const std::string& code) {
    FederationNode& n = nodes_.at(code);
    n.audit.reset();
    n.writer.reset();
    n.store.reset();
    Open(code, n);
  }

  // `adjust`, if set, changes the options (self is set first).
  std::unique_ptr<sync::Session> OpenSession(
      const std::string& self, const std::string& peer,
      const std::function<void(sync::SessionOptions&)>& adjust = nullptr) {
    FederationNode& n = nodes_.at(self);
    sync::SessionOptions options;
    options.self = self;
    options.audit = n.audit.get();
    if (adjust) adjust(options);
    // Each session its own verifier: sessions of one node run on several
    // threads over gRPC, and a verifier is not thread-safe.
    return std::make_unique<sync::Session>(n.store.get(), n.writer.get(), NewVerifier(), ClockOf(n),
                                           options, peer);
  }

  // Runs one session between `a` and `b`, both ends in this thread, until
  // neither has anything to send and everything received is durable.
  // `resyncs`, if set, counts the Resync messages sent. `between`, if set,
  // sees each round's messages before they are delivered (to a, to b), and
  // may act meanwhile (write, run other sessions).
  using Between = std::function<void(const std::vector<v1::SyncMessage>& to_a,
                                     const std::vector<v1::SyncMessage>& to_b)>;
  void Sync(const std::string& a, const std::string& b,
            const std::function<void(sync::SessionOptions&)>& adjust = nullptr,
            int* resyncs = nullptr, const Between& between = nullptr) {
    for (const std::string& n : {a, b}) {
      FederationNode& node = nodes_.at(n);
      ASSERT_TRUE(
          node.writer->WaitForCheckpoint(node.writer->stats().last_seq, absl::Seconds(30)).ok());
    }
    std::unique_ptr<sync::Session> sa = OpenSession(a, b, adjust);
    std::unique_ptr<sync::Session> sb = OpenSession(b, a, adjust);
    auto started_a = sa->Start();
    auto started_b = sb->Start();
    ASSERT_TRUE(started_a.ok() && started_b.ok());
    std::vector<v1::SyncMessage> to_b = *std::move(started_a);
    std::vector<v1::SyncMessage> to_a = *std::move(started_b);
    for (int round = 0; round < 10000; ++round) {
      std::vector<v1::SyncMessage> next_a, next_b;
      if (between) between(to_a, to_b);
      for (const auto& m : to_b) {
        const absl::Status s = sb->OnMessage(m, &next_a);
        ASSERT_TRUE(s.ok()) << b << " received from " << a << ": " << s;
      }
      for (const auto& m : to_a) {
        const absl::Status s = sa->OnMessage(m, &next_b);
        ASSERT_TRUE(s.ok()) << a << " received from " << b << ": " << s;
      }
      if (resyncs != nullptr) {
        for (const auto* sent : {&next_a, &next_b}) {
          for (const v1::SyncMessage& m : *sent) *resyncs += m.has_resync() ? 1 : 0;
        }
      }
      auto from_a = sa->NextBatch();
      auto from_b = sb->NextBatch();
      ASSERT_TRUE(from_a.ok()) << a << ": " << from_a.status();
      ASSERT_TRUE(from_b.ok()) << b << ": " << from_b.status();
      if (from_a->has_value()) next_b.push_back(**from_a);
      if (from_b->has_value()) next_a.push_back(**from_b);
      if (next_a.empty() && next_b.empty()) {
        // Nothing to send until what they received is durable.
        ASSERT_TRUE(sa->FinishApplying(&next_b).ok());
        ASSERT_TRUE(sb->FinishApplying(&next_a).ok());
      }
      if (next_a.empty() && next_b.empty()) return;
      to_a = std::move(next_a);
      to_b = std::move(next_b);
    }
    FAIL() << "session " << a << "-" << b << " did not settle";
  }

  // A federation CA, made on first use, and a certificate for `code` (with
  // IP SAN 127.0.0.1 so that tests can dial loopback). Dated by the real
  // clock: TLS checks validity against it, whatever clock the nodes use.
  void IssueTls(const std::string& code) {
    if (!ca_.has_value()) {
      pki::CaOptions ca;
      ca.now = absl::Now();
      ca_ = *pki::CreateCa(ca);
    }
    FederationNode& n = nodes_.at(code);
    pki::NodeCertOptions o;
    o.node_code = code;
    o.ip_addresses = {"127.0.0.1"};
    o.now = absl::Now();
    auto issued = pki::IssueNodeCertificate(ca_->key, ca_->cert, o);
    ASSERT_TRUE(issued.ok()) << issued.status();
    n.tls_cert_pem = issued->cert.Pem();
    n.tls_key_pem = *issued->key.PrivatePem();
  }
  std::string ca_pem() const { return ca_->cert.Pem(); }

  // The record kinds `node` holds about `person`.
  std::set<int> Kinds(const std::string& node, const std::string& person) {
    std::set<int> kinds;
    auto records = nodes_.at(node).store->ListRecords(person);
    EXPECT_TRUE(records.ok()) << records.status();
    for (const auto& [key, state] : *records) kinds.insert(key.first);
    return kinds;
  }

 private:
  const Clock* ClockOf(const FederationNode& n) const {
    return n.clock != nullptr ? n.clock : clock_;
  }
  void Open(const std::string& code, FederationNode& n) {
    auto store = storage::Store::Open(n.store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    n.store = *std::move(store);
    storage::WriterOptions wo;
    wo.node = code;
    wo.relay = code == kNational;
    auto writer = storage::Writer::Open(n.store.get(), n.key.get(), wo, ClockOf(n));
    ASSERT_TRUE(writer.ok()) << writer.status();
    n.writer = *std::move(writer);
    storage::AuditLogOptions ao;
    ao.node_code = code;
    auto audit = storage::AuditLog::Open(n.store.get(), n.key.get(), ClockOf(n), ao);
    ASSERT_TRUE(audit.ok()) << audit.status();
    n.audit = *std::move(audit);
  }

  const crypto::SuiteId suite_;
  const Clock* const clock_;
  ScopedTempDir dir_;
  std::map<std::string, FederationNode> nodes_;
  std::optional<pki::KeyAndCertificate> ca_;
};

}  // namespace tongban::testutil
