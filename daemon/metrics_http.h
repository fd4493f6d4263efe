// A tiny HTTP/1.1 server for Prometheus scrapes and liveness probes:
//
//   GET /metrics   200, the registry in the text format 0.0.4
//                  (Content-Type: text/plain; version=0.0.4; charset=utf-8)
//   GET /healthz   200 "ok\n" while the health check returns OK; otherwise
//                  503 "unhealthy: <message>\n"
//   HEAD           as GET, without the body
//   other paths    404;  other methods 405;  a malformed request line 400;
//                  a request head over max_request_bytes 431
//
// Every response closes the connection. Plain POSIX sockets and one thread
// that serves one connection at a time with a deadline per connection, so a
// client that stalls holds the endpoint for at most `io_timeout`; scrapers
// and probes connect one at a time, and nothing here can reach personal
// data. Bind it to loopback or an internal interface: there is no TLS and no
// authentication (what it shows is counters, never personal data).
//
// Thread safety: port() may be called from any thread; Stop() and the
// destructor belong to the owner (not concurrently with each other). The
// server thread calls the registry's Render and the health check.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace tongban::daemon {

struct MetricsHttpOptions {
  // IPv4 or IPv6 literal to bind. "127.0.0.1" keeps it on this host.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free one (see port()).
  int port = 9464;
  // Largest request head (request line and headers) read; larger is 431.
  size_t max_request_bytes = 8192;
  // Deadline for reading a request and writing its response.
  absl::Duration io_timeout = absl::Seconds(5);
};

class MetricsHttpServer {
 public:
  // OK while the node is healthy; the message of an error is shown to the
  // prober, so it must hold no personal data.
  using HealthCheck = std::function<absl::Status()>;

  // Binds, listens and starts the server thread. kInvalidArgument for a bad
  // address or port; kUnavailable naming the address if bind/listen fail
  // (port in use). `registry` is not owned and outlives the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const MetricsHttpOptions& options,
                                                                  const metrics::Registry* registry,
                                                                  HealthCheck health);

  // Stops and joins the thread.
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the chosen one when options.port was 0).
  int port() const { return port_; }

  // Stops the thread (abandoning a connection in progress), joins it and
  // closes the listening socket, so new connections are refused.
  // Idempotent.
  void Stop();

 private:
  MetricsHttpServer(const MetricsHttpOptions& options, const metrics::Registry* registry,
                    HealthCheck health, int listen_fd, int port, int wake_read, int wake_write);
  void Serve();
  void HandleConnection(int fd);
  // The response to a complete request head.
  std::string Respond(const std::string& head) const;

  const MetricsHttpOptions options_;
  const metrics::Registry* const registry_;  // Not owned; outlives this.
  const HealthCheck health_;
  int listen_fd_;  // closed by Stop()
  const int port_;
  const int wake_read_;  // a pipe: Stop() writes, Serve() polls
  const int wake_write_;
  std::thread thread_;  // Serve(); joined by Stop()
};

}  // namespace tongban::daemon
