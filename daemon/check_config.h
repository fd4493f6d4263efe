// tongband --check-config: after the configuration parses, every file and
// folder it names is opened the way the daemon opens it, and every problem
// is reported (not only the first), each naming the file:
//
//   PERMISSION_DENIED: /etc/tongban/tls/node.key: cannot open key file: Permission denied
//
// What is checked, as the user running the check:
//   - federation.root_public_key parses; federation.roster verifies against
//     it; a county or province replaces the roster with newer ones from the
//     national node, so the roster's folder must be writable;
//   - federation.ca, certificate and private_key read and parse; the key is
//     mode 0600 (refused if group or others can read it);
//   - node.data_dir is a folder this user can write; signing.key in it reads
//     as a key of the suite (0600); storage.key, if present, reads (else it
//     is created at first start); every file of the database, if present,
//     can be read and written;
//   - storage.backup_dir, or the nearest folder above it that exists, is a
//     folder this user can write (backups create it);
//   - admin.operator_ca parses and admin.operators reads as an accounts
//     file (0600).
// The unit (deploy/tongband.service) runs this as ExecStartPre, as the
// daemon's user; run by root, tongband --check-config checks as the user
// the unit runs as (tongband_main.cc).
//
// Thread safety: a free function.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "node/config.h"

namespace tongban::daemon {

// Every problem found; empty when the daemon could open everything.
std::vector<absl::Status> CheckConfigFiles(const node::Config& config);

}  // namespace tongban::daemon
