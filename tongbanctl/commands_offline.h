// The offline commands of tongbanctl: they work on files only and need no
// running node. keys (signing key pairs), pki (the federation CA and node TLS
// certificates) and roster (write, sign, verify and show the federation
// roster). They never print private key material.
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

// Appends the offline commands to `commands`.
void AddOfflineCommands(std::vector<Command>* commands);
// The operator CA and accounts (commands_operator.cc).
void AddOperatorCommands(std::vector<Command>* commands);

// Connection profiles: profile add|use|list|show|remove (commands_profile.cc).
void AddProfileCommands(std::vector<Command>* commands);

// Offline certificates: qr, revocations, verify (commands_certificate.cc).
void AddCertificateCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
