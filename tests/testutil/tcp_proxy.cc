#include "tests/testutil/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tongban::testutil {
namespace {

constexpr size_t kCap = size_t{1} << 20;  // bytes buffered per direction
constexpr size_t kChunk = 64 << 10;

// One direction of a connection: chunks read and not yet written, each
// with the time it may be written.
struct Pipe {
  std::deque<std::pair<absl::Time, std::string>> chunks;
  size_t bytes = 0;
  bool eof = false;   // the sender closed its side
  bool shut = false;  // the receiver was told (shutdown SHUT_WR)
  bool Ready(absl::Time now) const { return !chunks.empty() && chunks.front().first <= now; }
};

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

void CloseWithReset(int fd) {
  if (fd < 0) return;
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

// Reads what `from` has into `p`; false once the connection is broken.
bool ReadInto(int from, Pipe* p, absl::Time ready) {
  char buffer[kChunk];
  const ssize_t n = read(from, buffer, sizeof(buffer));
  if (n > 0) {
    p->chunks.emplace_back(ready, std::string(buffer, static_cast<size_t>(n)));
    p->bytes += static_cast<size_t>(n);
    return true;
  }
  if (n == 0) {
    p->eof = true;
    return true;
  }
  return errno == EAGAIN || errno == EINTR;
}

// Writes `p`'s ready chunks to `to`; false once the connection is broken.
bool WriteFrom(int to, Pipe* p, absl::Time now) {
  while (p->Ready(now)) {
    std::string& front = p->chunks.front().second;
    const ssize_t n = send(to, front.data(), front.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    p->bytes -= static_cast<size_t>(n);
    if (static_cast<size_t>(n) < front.size()) {
      front.erase(0, static_cast<size_t>(n));
      return true;
    }
    p->chunks.pop_front();
  }
  if (p->eof && p->chunks.empty() && !p->shut) {
    shutdown(to, SHUT_WR);
    p->shut = true;
  }
  return true;
}

}  // namespace

struct TcpProxy::Conn {
  int client = -1;
  int server = -1;
  Pipe up;    // client -> server
  Pipe down;  // server -> client
  bool broken = false;
  bool Done() const { return broken || (up.shut && down.shut); }
  void Close(bool reset) {
    if (reset) {
      CloseWithReset(client);
      CloseWithReset(server);
    } else {
      close(client);
      close(server);
    }
    client = server = -1;
  }
};

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int target_port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("proxy socket: ", strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("proxy listen: ", why));
  }
  int wake[2];
  if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("proxy pipe: ", strerror(errno)));
  }
  std::unique_ptr<TcpProxy> proxy(
      new TcpProxy(fd, ntohs(addr.sin_port), target_port, wake[0], wake[1]));
  proxy->thread_ = std::thread([p = proxy.get()] { p->Run(); });
  return proxy;
}

TcpProxy::TcpProxy(int listener, int port, int target_port, int wake_read, int wake_write)
    : listener_(listener),
      port_(port),
      target_port_(target_port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  Wake();
  if (thread_.joinable()) thread_.join();
  close(listener_);
  close(wake_read_);
  close(wake_write_);
}

void TcpProxy::SetForward(Flow f) {
  forward_ = f;
  Wake();
}

void TcpProxy::SetBackward(Flow f) {
  backward_ = f;
  Wake();
}

void TcpProxy::SetSlowDelay(absl::Duration d) {
  slow_micros_ = absl::ToInt64Microseconds(d);
  Wake();
}

void TcpProxy::Reset() {
  ++reset_requests_;
  Wake();
}

void TcpProxy::Wake() {
  const char c = 0;
  [[maybe_unused]] const ssize_t n = write(wake_write_, &c, 1);
}

// long-function: one poll loop: the poll set, accepting, then each
// connection's two directions under the flows of the moment.
void TcpProxy::Run() {
  std::vector<std::unique_ptr<Conn>> conns;
  uint64_t resets_done = 0;
  while (!stopping_) {
    if (const uint64_t r = reset_requests_.load(); r != resets_done) {
      resets_done = r;
      for (auto& c : conns) c->Close(/*reset=*/true);
      conns.clear();
    }
    const Flow fwd = forward_.load();
    const Flow bwd = backward_.load();
    const absl::Duration slow = absl::Microseconds(slow_micros_.load());
    absl::Time now = absl::Now();
    std::vector<pollfd> fds = {{listener_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
    absl::Time next = absl::InfiniteFuture();
    auto events = [&](Pipe& in, Flow in_flow, Pipe& out, Flow out_flow) {
      short e = 0;
      if (in_flow != Flow::kHold && in.bytes < kCap && !in.eof) e |= POLLIN;
      if (out_flow != Flow::kHold) {
        if (out.Ready(now) || (out.eof && out.chunks.empty() && !out.shut)) e |= POLLOUT;
        if (!out.chunks.empty() && out.chunks.front().first > now) {
          next = std::min(next, out.chunks.front().first);  // a slow chunk's time
        }
      }
      return e;
    };
    // An fd with nothing to wait for is left out (negative): poll would
    // report a hang-up on it at once, again and again, and a held
    // direction must not notice one until its flow resumes.
    auto entry = [](int fd, short e) { return pollfd{e == 0 ? -1 : fd, e, 0}; };
    for (auto& c : conns) {
      fds.push_back(entry(c->client, events(c->up, fwd, c->down, bwd)));
      fds.push_back(entry(c->server, events(c->down, bwd, c->up, fwd)));
    }
    const size_t polled = conns.size();
    int timeout = -1;
    if (next != absl::InfiniteFuture()) {
      timeout = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(next - now) + 1));
    }
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) break;
    if (fds[1].revents & POLLIN) {
      char drain[64];
      while (read(wake_read_, drain, sizeof(drain)) > 0) {
      }
    }
    if (fds[0].revents & POLLIN) {
      for (int client; (client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) {
        ++accepted_;
        const int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        target.sin_port = htons(static_cast<uint16_t>(target_port_));
        if (server < 0 ||
            connect(server, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
          if (server >= 0) close(server);
          CloseWithReset(client);  // as if the target refused
          continue;
        }
        SetNonBlocking(client);
        SetNonBlocking(server);
        auto c = std::make_unique<Conn>();
        c->client = client;
        c->server = server;
        conns.push_back(std::move(c));
      }
    }
    now = absl::Now();
    for (size_t i = 0; i < polled; ++i) {
      Conn& c = *conns[i];
      const pollfd& cf = fds[2 + 2 * i];
      const pollfd& sf = fds[3 + 2 * i];
      if ((cf.revents | sf.revents) & (POLLERR | POLLNVAL)) {
        c.broken = true;
        continue;
      }
      bool ok = true;
      if (cf.revents & (POLLIN | POLLHUP) && (cf.events & POLLIN)) {
        ok &= ReadInto(c.client, &c.up, fwd == Flow::kSlow ? now + slow : now);
      }
      if (sf.revents & (POLLIN | POLLHUP) && (sf.events & POLLIN)) {
        ok &= ReadInto(c.server, &c.down, bwd == Flow::kSlow ? now + slow : now);
      }
      if (fwd != Flow::kHold) ok &= WriteFrom(c.server, &c.up, now);
      if (bwd != Flow::kHold) ok &= WriteFrom(c.client, &c.down, now);
      if (!ok) c.broken = true;
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(),
                               [](const std::unique_ptr<Conn>& c) {
                                 if (!c->Done()) return false;
                                 c->Close(/*reset=*/c->broken);
                                 return true;
                               }),
                conns.end());
  }
  for (auto& c : conns) c->Close(/*reset=*/true);
}

}  // namespace tongban::testutil
