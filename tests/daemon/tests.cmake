# Metrics over HTTP: a real loopback server (127.0.0.1:0).
tongban_test(metrics_http_test LABEL unit SRCS daemon/metrics_http_test.cc DEPS tongban_daemon)
# Tests of running daemons, on a federation made by the setup script, with
# tongbanctl's Admin client and binary (tests/daemon/daemon_fixture.h).
function(tongban_daemon_test name)
  tongban_test(${name} LABEL integration SRCS ${ARGN}
               DEPS tongban_daemon tongban_admin_client tongban_proto_grpc)
  target_compile_definitions(${name} PRIVATE
    TB_TONGBANCTL="$<TARGET_FILE:tongbanctl>"
    TB_TONGBAND="$<TARGET_FILE:tongband>"
    TB_BUILD_DIR="${CMAKE_BINARY_DIR}"
    TB_SETUP_SCRIPT="${CMAKE_SOURCE_DIR}/tools/federation-setup.sh")
  add_dependencies(${name} tongbanctl tongband)
endfunction()
# The daemon end to end: operator roles, audit, lock-out, health,
# reflection and metrics.
tongban_daemon_test(daemon_test daemon/daemon_test.cc)
# Offline certificates end to end: issue, payload, QR, offline verify, the
# national revocation list.
tongban_daemon_test(certificate_daemon_test daemon/certificate_daemon_test.cc)
# Operator accounts managed on a running county: list, disable, enable,
# reset-password, unlock, enroll-totp, an offline add; lock-out across a
# restart.
tongban_daemon_test(accounts_daemon_test daemon/accounts_daemon_test.cc)
target_link_libraries(accounts_daemon_test PRIVATE tongban_accounts)  # TOTP codes
# A county restarted while its national node hangs: the Admin service
# answers during the witness check, writes are refused (exit 3) until it ends.
tongban_daemon_test(witness_start_daemon_test daemon/witness_start_daemon_test.cc)
# A county restored from a backup fetches its own log back from the
# national node before it takes writes again.
tongban_daemon_test(restore_daemon_test daemon/restore_daemon_test.cc)
# tongbanctl import against a running county.
tongban_daemon_test(import_daemon_test daemon/import_daemon_test.cc)
# tongbanctl ledger export against the national node and a county.
tongban_daemon_test(ledger_daemon_test daemon/ledger_daemon_test.cc)
target_link_libraries(ledger_daemon_test PRIVATE tongban_formats)  # decodes the GB18030 export
target_link_libraries(daemon_test PRIVATE tongban_version)  # tongban_build_info
# The fleet view at the national node: versions from Hello, the certificate
# TLS verified, the newest checkpoint, tongbanctl fleet and the state gauges.
tongban_daemon_test(fleet_daemon_test daemon/fleet_daemon_test.cc)
target_link_libraries(fleet_daemon_test PRIVATE tongban_version)  # Version()
# A simulated nation (issue #21): a few hundred simulated counties' sessions
# against the tongband binary as the national node, with one real county.
tongban_test(nation_test LABEL integration SRCS daemon/nation_test.cc
             DEPS tongban_nation_sim tongban_node)
target_compile_definitions(nation_test PRIVATE TB_TONGBAND="$<TARGET_FILE:tongband>")
add_dependencies(nation_test tongband)
# Certificate expiry: the metric of every certificate the node uses, and
# tongbanctl status's warning on a county restarted with a 10-day certificate.
tongban_daemon_test(cert_expiry_daemon_test daemon/cert_expiry_daemon_test.cc)
# Backups of a running county through tongbanctl: create (administrators;
# a clerk is refused), then list, verify and restore offline (tongband
# backup-tool), wrong and missing storage keys, a running daemon refused.
tongban_daemon_test(backup_daemon_test daemon/backup_daemon_test.cc)
tongban_daemon_test(key_rotation_daemon_test daemon/key_rotation_daemon_test.cc)
# Offline exchange by bundles between two counties that never open a
# session, every refusal, a replay and missing prerequisites.
tongban_daemon_test(bundle_daemon_test daemon/bundle_daemon_test.cc)
