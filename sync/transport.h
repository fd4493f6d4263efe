// The Exchange service over gRPC with mutual TLS: a server for peers that
// dial us, and a connection to a peer we dial. Each stream runs one Session
// (sync/session.h); this file only moves its messages. The unary calls
// (Where, Witness, GetRoster) pass the request to the answer the server was
// given (sync/where.h, sync/witness.h, sync/roster_holder.h) after the same
// admission as sessions.
//
// Identity: a peer's node code is read from the URI SAN
// ("urn:tongban:node:<code>") of its certificate, which TLS verified against
// the federation CA; never from a message. The server refuses a peer that
// the PeerCheck refuses (not in the roster, suspended, revoked) before it
// reads anything, with the check's status (PERMISSION_DENIED and why). The
// client checks that the server is the node it meant to reach.
//
// Threads: the server (the national node holds a standing session from
// every county) runs its streams on gRPC's callback API: no thread is kept
// per stream; each stream's work runs on a shared executor of
// Options::workers threads, only when something concerns it (a message, a
// completed write, a durable write for its peer as the writer's
// DurableChange says, the input account resuming, Stop). An idle session
// costs no CPU and the node's thread count does not grow with its sessions.
// The client (a county dials its handful of peers) keeps gRPC's synchronous
// API: one thread drives the session and one reads, per stream.
//
// What a peer can make the node hold (issue #14): Sync is read as bytes,
// so every message's size is known before it is parsed, and the reader asks
// the session's InputAccount (sync/input_account.h) before each read: while
// the peer's unprocessed input is at its credit nothing more is read, and
// gRPC's flow control slows the peer. Bytes that do not parse end the
// session as a rejection (Session::OnUnparsable), said in a Goodbye. A
// message over kMaxMessageBytes is refused by gRPC, which in 1.51 does so
// only once it has received the message whole (its max receive size is
// checked after the message is assembled, not from the length prefix).
//
// Both servers also answer the standard gRPC health check and server
// reflection.
//
// This header does not include gRPC (it costs seconds per includer).
//
// Thread safety: ExchangeServer and PeerConnection may be stopped from any
// thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "storage/writer.h"
#include "sync/session.h"

namespace tongban::sync {

// PEM texts: the federation CA certificate, this node's certificate and its
// TLS private key (pki::IssueNodeCertificate).
struct TlsIdentity {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// OK to hold a session with `peer`, or the refusal to send it.
using PeerCheck = std::function<absl::Status(const std::string& peer)>;
// The Session for an authenticated, admitted peer.
using SessionFactory = std::function<std::unique_ptr<Session>(const std::string& peer)>;
// Answers a where-query from an admitted peer (sync/where.h).
using WhereAnswer = std::function<absl::StatusOr<v1::WhereReply>(const std::string& asker,
                                                                 const std::string& person)>;
// Answers a witness request from an admitted peer (sync/witness.h:
// Witness::Answer).
using WitnessAnswer = std::function<absl::StatusOr<v1::WitnessReply>(
    const std::string& asker, const v1::WitnessRequest& request)>;
// The asker's own log after its position (FetchOwnLog): the next batch, or
// nullopt when nothing more is held.
using OwnLogAnswer = std::function<absl::StatusOr<std::optional<v1::Batch>>(
    const std::string& asker, const v1::OwnLogRequest& request)>;
// Countersigns the asker's restart record (CountersignRestart).
using RestartAnswer = std::function<absl::StatusOr<v1::CosignedRestart>(
    const std::string& asker, const v1::SignedRestart& restart)>;
// The current signed roster if its version is greater than `have_version`,
// else nullopt (sync/roster_holder.h: RosterHolder::SignedIfNewer).
using RosterAnswer = std::function<std::optional<v1::SignedRoster>(uint64_t have_version)>;

class ExchangeServer {
 public:
  struct Options {
    std::string address = "127.0.0.1:0";  // port 0: the system picks one
    TlsIdentity tls;
    PeerCheck check;
    SessionFactory sessions;
    storage::Writer* writer = nullptr;  // wakes sessions on new data; not owned
    // The national node's answer to where-queries; unset elsewhere (the
    // query is then refused with FAILED_PRECONDITION).
    WhereAnswer where;
    // The national node's witness; unset elsewhere (Witness is then refused
    // with FAILED_PRECONDITION).
    WitnessAnswer witness;
    // The national node serves each node its own log back; unset elsewhere
    // (FetchOwnLog is then refused with FAILED_PRECONDITION).
    OwnLogAnswer own_log;
    // The national node countersigns restart records; unset elsewhere
    // (CountersignRestart is then refused with FAILED_PRECONDITION).
    RestartAnswer restart;
    // Serves the current roster (the national node); unset: GetRoster is
    // refused with FAILED_PRECONDITION.
    RosterAnswer roster;
    // Told of every admitted Sync session: the peer's code and the PEM of the
    // certificate it presented (the fleet view shows its expiry); may be
    // unset. Must be quick.
    std::function<void(const std::string& peer, const std::string& cert_pem)> admitted;
    // gRPC's memory quota for the server's transport buffers (0: none): the
    // only bound gRPC 1.51 puts on a message it is still assembling, which
    // it refuses for its size only once it holds it whole.
    uint64_t transport_memory_bytes = 0;
    // Threads of the executor that runs every session's work (none is kept
    // per session). More than the cores: a session may wait for the writer.
    size_t workers = 8;
  };
  static absl::StatusOr<std::unique_ptr<ExchangeServer>> Start(Options options);
  ~ExchangeServer();  // Stop()

  int port() const;
  // Sessions held now (admitted and not yet finished).
  size_t sessions() const;
  // What the sessions held with `peer` did: how often their work ran (each
  // run is a wake: a message, a completed write, a durable write that
  // concerns the peer) and how many messages they read; idle when none has
  // work queued, running or a write outstanding.
  struct Activity {
    size_t sessions = 0;
    uint64_t runs = 0;
    uint64_t messages = 0;
    bool idle = true;
  };
  Activity ActivityOf(const std::string& peer) const;
  // The gRPC health status of "tongban.v1.Exchange" and "": SERVING from
  // Start; the node sets NOT_SERVING while it is not ready (node/node.h).
  void SetServing(bool serving);
  // Ends every session and stops listening. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit ExchangeServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class PeerConnection {
 public:
  struct Options {
    std::string peer;    // the node we mean to reach
    std::string target;  // host:port from the roster
    TlsIdentity tls;
    std::unique_ptr<Session> session;
    storage::Writer* writer = nullptr;  // not owned
  };
  // Dials and runs the session on a thread of its own until Stop(), the
  // stream ends or an error.
  static std::unique_ptr<PeerConnection> Start(Options options);
  ~PeerConnection();  // Stop()

  // Half-closes the session, waits for it to end and returns how it ended:
  // OK after a clean close, or the first error (the server's refusal, a
  // rejected batch, a broken connection).
  absl::Status Stop();
  // The same, without waiting: nullopt while the session runs.
  std::optional<absl::Status> result() const;

 private:
  struct Impl;
  explicit PeerConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Asks the node at `target` (which must present `peer`'s certificate) which
// nodes hold records about `person`.
absl::StatusOr<v1::WhereReply> AskWhere(const std::string& peer, const std::string& target,
                                        const TlsIdentity& tls, const std::string& person);

// Asks the witness at `target` (which must present `peer`'s certificate) for
// its cosigned checkpoints of the logs in `request`
// (WitnessChecker::Request); check the reply with WitnessChecker::Check.
// The call, connection and TLS handshake included, fails with
// kDeadlineExceeded after `timeout` (a witness that accepts the connection
// but never answers).
absl::StatusOr<v1::WitnessReply> AskWitness(const std::string& peer, const std::string& target,
                                            const TlsIdentity& tls,
                                            const v1::WitnessRequest& request,
                                            absl::Duration timeout = absl::Seconds(30));

// Asks the national node at `target` (which must present `peer`'s
// certificate) for the next batch of the asker's own log after `request`'s
// position: nullopt when it holds nothing more. The batch is unverified
// (sync/verify.h). kDeadlineExceeded after `timeout`.
absl::StatusOr<std::optional<v1::Batch>> FetchOwnLog(const std::string& peer,
                                                     const std::string& target,
                                                     const TlsIdentity& tls,
                                                     const v1::OwnLogRequest& request,
                                                     absl::Duration timeout);

// Asks the national node at `target` (which must present `peer`'s
// certificate) to countersign this node's restart record. The reply is
// unverified (merkle::VerifyRestartCosignature).
absl::StatusOr<v1::CosignedRestart> CountersignRestart(const std::string& peer,
                                                       const std::string& target,
                                                       const TlsIdentity& tls,
                                                       const v1::SignedRestart& restart,
                                                       absl::Duration timeout);

// Asks the node at `target` (which must present `peer`'s certificate) for
// the current roster: nullopt when it holds none newer than `have_version`.
// The result is unverified: hand it to RosterHolder::Offer.
absl::StatusOr<std::optional<v1::SignedRoster>> FetchRoster(const std::string& peer,
                                                            const std::string& target,
                                                            const TlsIdentity& tls,
                                                            uint64_t have_version);

}  // namespace tongban::sync
