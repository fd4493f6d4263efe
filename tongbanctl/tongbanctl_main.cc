// tongbanctl's entry point; everything else is in tongbanctl/tongbanctl.h.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/lsan_suppressions.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/tongbanctl.h"

int main(int argc, char** argv) {
  tongban::cli::QuietGrpcLogs();
  std::vector<std::string> args(argv + 1, argv + argc);
  const int rc = tongban::cli::RunTongbanctl(args, std::cout, std::cerr);
  // Everything is said; end without running static destructors. gRPC's own
  // threads (resolver, handshaker, timers) can outlive the last channel, and
  // destroying the statics they use under them crashed an AddressSanitizer
  // build of tongbanctl on such a thread after it printed its error (1 run
  // in 8 of daemon_test), or had LeakSanitizer report the OpenSSL objects
  // they still held. Shutting gRPC down first (grpc_shutdown_blocking) left
  // more such reports, not fewer.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(rc);
}
