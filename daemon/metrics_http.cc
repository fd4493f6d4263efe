#include "daemon/metrics_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/thread.h"

namespace tongban::daemon {
namespace {

std::string Errno(absl::string_view what) { return absl::StrCat(what, ": ", std::strerror(errno)); }

absl::string_view Reason(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

std::string Response(int code, absl::string_view content_type, absl::string_view body,
                     bool with_body, absl::string_view extra_headers = "") {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", code, " ", Reason(code), "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n", extra_headers, "\r\n");
  if (with_body) out.append(body.data(), body.size());
  return out;
}

std::string Plain(int code, absl::string_view body, bool with_body = true,
                  absl::string_view extra_headers = "") {
  return Response(code, "text/plain; charset=utf-8", body, with_body, extra_headers);
}

// Milliseconds left until `deadline`, at least 0.
int MillisUntil(absl::Time deadline) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
}

// The end of the request head ("\r\n\r\n", or "\n\n" from lenient clients),
// or npos.
size_t HeadEnd(absl::string_view data) {
  const size_t crlf = data.find("\r\n\r\n");
  const size_t lf = data.find("\n\n");
  return std::min(crlf, lf);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const MetricsHttpOptions& options, const metrics::Registry* registry, HealthCheck health) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics HTTP port ", options.port, " is not in 0 to 65535"));
  }
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, options.address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(options.port));
    addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, options.address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(options.port));
    addr_len = sizeof(sockaddr_in6);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("metrics HTTP address \"", options.address,
                                                   "\" is not an IPv4 or IPv6 literal"));
  }
  const std::string where = absl::StrCat("metrics HTTP ", options.address, ":", options.port);
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(Errno(where + ": socket"));
  const int one = 1;
  int wake[2] = {-1, -1};
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 || listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0 ||
      pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    const std::string err = Errno(where);
    close(fd);
    return absl::UnavailableError(err);
  }
  const int port = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(options, registry, std::move(health), fd, port, wake[0], wake[1]));
  absl::StatusOr<std::thread> thread =
      StartThread("tb-metrics-http", [s = server.get()] { s->Serve(); });
  if (!thread.ok()) return Prefixed(where, thread.status());
  server->thread_ = *std::move(thread);
  TB_LOG(INFO) << "metrics HTTP serving on " << options.address << ":" << port;
  return server;
}

MetricsHttpServer::MetricsHttpServer(const MetricsHttpOptions& options,
                                     const metrics::Registry* registry, HealthCheck health,
                                     int listen_fd, int port, int wake_read, int wake_write)
    : options_(options),
      registry_(registry),
      health_(std::move(health)),
      listen_fd_(listen_fd),
      port_(port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

MetricsHttpServer::~MetricsHttpServer() {
  Stop();
  close(wake_read_);
  close(wake_write_);
}

void MetricsHttpServer::Stop() {
  if (thread_.joinable()) {
    const char byte = 1;
    // The pipe stays readable once written, so every poll in Serve() sees it.
    while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

void MetricsHttpServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      TB_LOG(ERROR) << "metrics HTTP stopped: " << Errno("poll");
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        TB_LOG(WARNING) << "metrics HTTP: " << Errno("accept");
        // Out of descriptors: wait a little (or for Stop) instead of spinning.
        pollfd wait = {wake_read_, POLLIN, 0};
        poll(&wait, 1, 100);
      }
      continue;
    }
    HandleConnection(fd);
    close(fd);
  }
}

void MetricsHttpServer::HandleConnection(int fd) {
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  std::string data;
  std::string response;
  char buf[4096];
  while (true) {
    const size_t end = HeadEnd(data);
    if (end != std::string::npos && end <= options_.max_request_bytes) {
      response = Respond(data.substr(0, end));
      break;
    }
    if (data.size() > options_.max_request_bytes) {
      response = Plain(431, "request head too large\n");
      break;
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    const int ready = poll(fds, 2, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || fds[1].revents != 0) return;  // timed out, failed or stopping
    const size_t want = std::min(sizeof(buf), options_.max_request_bytes + 4 - data.size());
    const ssize_t n = recv(fd, buf, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // closed before a whole request head
    data.append(buf, static_cast<size_t>(n));
  }
  size_t sent = 0;
  while (sent < response.size()) {
    pollfd out = {fd, POLLOUT, 0};
    const int ready = poll(&out, 1, MillisUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    const ssize_t n =
        send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
}

std::string MetricsHttpServer::Respond(const std::string& head) const {
  absl::string_view line(head);
  line = line.substr(0, line.find('\n'));
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[0].empty() || !absl::StartsWith(parts[1], "/") ||
      (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) {
    return Plain(400, "bad request line\n");
  }
  const absl::string_view method = parts[0];
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return Plain(405, "only GET and HEAD\n", true, "Allow: GET, HEAD\r\n");
  }
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path == "/metrics") {
    return Response(200, metrics::kTextContentType, registry_->Render(), !head_only);
  }
  if (path == "/healthz") {
    const absl::Status health = health_ ? health_() : absl::OkStatus();
    if (health.ok()) return Plain(200, "ok\n", !head_only);
    return Plain(503, absl::StrCat("unhealthy: ", health.message(), "\n"), !head_only);
  }
  return Plain(404, "not found\n", !head_only);
}

}  // namespace tongban::daemon
