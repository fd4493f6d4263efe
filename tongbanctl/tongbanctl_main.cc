// tongbanctl's entry point; everything else is in tongbanctl/tongbanctl.h.
#include <iostream>
#include <string>
#include <vector>

#include "common/lsan_suppressions.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/tongbanctl.h"

int main(int argc, char** argv) {
  tongban::cli::QuietGrpcLogs();
  tongban::cli::GrpcLifetime grpc;  // shut down, threads stopped, before main returns
  std::vector<std::string> args(argv + 1, argv + argc);
  return tongban::cli::RunTongbanctl(args, std::cout, std::cerr);
}
