// The tongband configuration file: a small subset of TOML that people edit
// by hand, read into a typed Config.
//
//   # comment                     (also after a value)
//   [section]
//   key = "string"                strings are double-quoted, with \" \\ \n \t
//   key = 42                      integers
//   key = true                    booleans
//   key = "30s"                   durations: an integer and s, m, h or d
//
// Sections [deadlines.XX0000] (a province code) may repeat the day counts
// of [deadlines] for one province.
//
// Every key belongs to a section and has one type (kSchema in config.cc, and
// deploy/tongband.*.conf documents each). Unknown sections and keys, a key
// given twice, a value of the wrong type or out of range, and a missing
// required key are errors of the form
//
//   /etc/tongban/tongband.conf:12: sync.retry_max: "5x" is not a duration (e.g. "30s", "5m")
//
// (file, line, key, what is wrong), kInvalidArgument; nothing is applied
// from a file with an error. Relative paths in the file are taken relative
// to the file's folder, so a federation folder can be moved as a whole.
//
// Thread safety: free functions; Config is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "records/deadline_rules.h"

namespace tongban::node {

enum class NodeRole { kCounty, kProvince, kNational };

// "county", "province", "national".
absl::string_view NodeRoleName(NodeRole role);

struct Config {
  // [node]
  std::string code;                   // required: 6-digit node code
  NodeRole role = NodeRole::kCounty;  // must fit the code
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string data_dir = "/var/lib/tongban";  // keys and database
  std::string national = "000000";

  // [federation]: the files of tongbanctl pki and roster.
  std::string roster;           // required: signed roster (tongbanctl roster sign)
  std::string root_public_key;  // required: federation root public key
  std::string ca;               // required: federation CA certificate (PEM)
  std::string certificate;      // required: this node's certificate (PEM)
  std::string private_key;      // required: its TLS key (PEM, mode 0600)

  // [storage]
  // Where the Admin call Backup (tongbanctl backup create) writes backups.
  // Empty in the file: data_dir/backups, the one folder besides data_dir's
  // files the hardened unit lets the daemon write (ProtectSystem=strict).
  // Never taken from a request. The storage key is never written there.
  std::string backup_dir;
  // After each backup the node keeps the newest `backup_keep` backups there
  // and removes the older ones (files still used by a kept backup stay).
  // 0: keep every backup. At most 1000.
  uint32_t backup_keep = 7;
  // The store's memory in MiB: memtables of every column family together,
  // and the block cache for reads (storage::StoreOptions). The defaults
  // suit a county; the national node's sample configuration doubles and
  // more (it applies every county's log).
  uint32_t write_buffer_mib = 48;
  uint32_t cache_mib = 32;
  // The free space, in MiB, the data folder's filesystem must keep: below
  // it the node refuses writes and peers' batches (reads go on) until space
  // returns (node/node.h, Disk space). 0: refuse only when the disk is full.
  uint32_t min_free_mib = 512;

  // [peer]
  std::string peer_listen = "0.0.0.0:7443";
  // gRPC's memory quota for the peer server's transport buffers, in MiB (0:
  // none). gRPC 1.51 assembles a message whole before refusing one over the
  // 4 MiB limit; past the quota it resets streams instead of buffering on.
  uint32_t transport_memory_mib = 1024;
  // Threads that run every peer session's work (sync/transport.h): the
  // server keeps none per session, so this does not grow with the peers.
  uint32_t session_workers = 8;

  // [admin]
  std::string admin_listen = "127.0.0.1:7444";
  std::string operator_ca;        // operators' CA certificate; empty: Admin is off
  std::string operators;          // the operator accounts file (admin/operators.h)
  uint32_t lockout_failures = 5;  // failed logins before lock-out
  absl::Duration lockout_period = absl::Minutes(15);

  // [metrics]
  std::string metrics_listen;  // empty: no metrics endpoint

  // [console]: the web console (console/server.h), HTTPS with the
  // operators' client certificates; needs [admin] operator_ca.
  std::string console_listen;  // empty: no console
  // Its pages and scripts (installed from console/assets).
  std::string console_assets = "/usr/share/tongban/console";
  // Debian's libjs-bootstrap5 and libjs-chart.js install under here.
  std::string console_javascript = "/usr/share/javascript";
  // A session ends after this long unused, and this long after sign-in.
  absl::Duration console_session_idle = absl::Minutes(15);
  absl::Duration console_session_lifetime = absl::Hours(8);
  // Threads serving connections; a connection holds one while it reads a
  // request (at most console_read_timeout) or waits between requests
  // (keep-alive, at most console_keep_alive).
  uint32_t console_workers = 64;
  absl::Duration console_read_timeout = absl::Seconds(5);
  absl::Duration console_keep_alive = absl::Seconds(2);

  // [analytics]: the national node's mirror into PostgreSQL
  // (analytics/mirror.h). National role only.
  std::string analytics_connection;                  // libpq connection string; empty: off
  uint32_t analytics_batch_size = 5000;              // events per transaction, 1..100000
  uint32_t analytics_hash_partitions = 8;            // per month (0: none, for Citus)
  absl::Duration analytics_poll = absl::Seconds(1);  // how often it looks for new events

  // [sync]
  uint32_t credit = 4;             // batches a peer may have in flight to us
  uint32_t batch_events = 1024;    // 1..1024
  uint32_t batch_bytes = 1 << 20;  // 64 KiB..1 MiB
  absl::Duration retry_initial = absl::Seconds(1);
  absl::Duration retry_max = absl::Minutes(5);
  absl::Duration idle_close = absl::Seconds(60);
  absl::Duration retention = absl::Hours(24 * 180);
  // How far ahead of this node's clock a peer's stamp is adopted.
  absl::Duration max_clock_ahead = kDefaultMaxClockAhead;

  // [deadlines], [deadlines.XX0000]
  records::Deadlines deadlines;

  // [log]
  std::string log_level = "info";  // debug, info, warning, error
};

// Parses `text`, read from `path` (used in messages and to resolve relative
// paths).
absl::StatusOr<Config> ParseConfig(absl::string_view text, const std::string& path);

// Reads and parses the file at `path`.
absl::StatusOr<Config> LoadConfig(const std::string& path);

}  // namespace tongban::node
