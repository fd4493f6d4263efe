// TcpProxy: a fault-injecting TCP proxy for system tests. It listens on a
// loopback port of its own and forwards every connection to a target port,
// each direction through a flow the test sets at any moment:
//
//   kPass   bytes go through at once;
//   kHold   a partition: nothing is read from the sender or written to the
//           receiver (bytes wait in the kernel's buffers and the proxy's,
//           as on a link whose packets vanish) until the flow changes; no
//           FIN, no reset, so each end sees only silence;
//   kSlow   every chunk is delivered `slow_delay` after it was read.
//
// Reset() ends every open connection with a TCP reset (new ones are still
// accepted). Forward is client -> target, backward target -> client, so a
// one-way partition holds one of them.
//
// One thread does all the work (poll); each direction buffers at most 1 MiB
// before it stops reading.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tongban::testutil {

class TcpProxy {
 public:
  enum class Flow { kPass, kHold, kSlow };

  // Listens on 127.0.0.1 (an ephemeral port) and forwards to
  // 127.0.0.1:`target_port`.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int target_port);
  ~TcpProxy();  // closes every connection and the listener
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void SetForward(Flow f);
  void SetBackward(Flow f);
  void Set(Flow both) {
    SetForward(both);
    SetBackward(both);
  }
  void SetSlowDelay(absl::Duration d);
  // Resets every open connection.
  void Reset();
  // Connections accepted so far.
  uint64_t accepted() const { return accepted_.load(); }

 private:
  struct Conn;
  TcpProxy(int listener, int port, int target_port, int wake_read, int wake_write);
  void Run();
  void Wake();

  const int listener_;
  const int port_;
  const int target_port_;
  const int wake_read_;
  const int wake_write_;
  std::atomic<Flow> forward_{Flow::kPass};
  std::atomic<Flow> backward_{Flow::kPass};
  std::atomic<int64_t> slow_micros_{50000};
  std::atomic<uint64_t> reset_requests_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tongban::testutil
