// Loopback ports for tests that must name their ports before anything
// listens (a roster lists every node's endpoint).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <random>

#include "absl/time/clock.h"

namespace tongban::testutil {

// The first of `count` consecutive loopback ports that are free now, probed
// by binding each; -1 if 50 random blocks were all taken. Another process
// may still take one before the test binds it: callers keep the window short.
inline int FreePortBlock(int count) {
  std::mt19937 rng(static_cast<uint32_t>(getpid() * 7919 + absl::ToUnixNanos(absl::Now())));
  for (int attempt = 0; attempt < 50; ++attempt) {
    const int base = 20000 + static_cast<int>(rng() % 20000) * 2;
    bool free = true;
    for (int p = base; p < base + count && free; ++p) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(p));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
    }
    if (free) return base;
  }
  return -1;
}

}  // namespace tongban::testutil
