# Node tests (paths relative to tests/). tongbanctl_test runs the built
# tongbanctl binary, so it needs the binary's path and the binary built first.
tongban_test(tongbanctl_test LABEL unit SRCS node/tongbanctl_test.cc DEPS tongban_node)
target_compile_definitions(tongbanctl_test PRIVATE TB_TONGBANCTL="$<TARGET_FILE:tongbanctl>")
add_dependencies(tongbanctl_test tongbanctl)
tongban_test(config_test LABEL unit SRCS node/config_test.cc DEPS tongban_node)
# Metrics over HTTP: a real loopback server (127.0.0.1:0).
tongban_test(metrics_http_test LABEL unit SRCS node/metrics_http_test.cc DEPS tongban_node)
# Operator access: TOTP, roles and accounts, authentication.
tongban_test(operator_auth_test LABEL unit
  SRCS node/totp_test.cc node/operators_test.cc node/auth_test.cc DEPS tongban_node)
# Tests of running daemons, on a federation made by the setup script, with
# tongbanctl's Admin client and binary (tests/node/daemon_fixture.h).
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
tongban_daemon_test(daemon_test node/daemon_test.cc)
# Statistics: a hand-counted federation (sessions in one process, no network).
tongban_test(stats_test LABEL unit SRCS node/stats_test.cc DEPS tongban_node)
# Inquiry and notice deadlines with a fake clock; checks on the write path.
tongban_test(workflow_test LABEL unit SRCS node/workflow_test.cc DEPS tongban_node)
# Offline certificates: payload, text form, revocation list, every verdict.
tongban_test(certificate_payload_test LABEL unit SRCS node/certificate_payload_test.cc
             DEPS tongban_node)
# Offline certificates end to end: issue, payload, QR, offline verify, the
# national revocation list.
tongban_daemon_test(certificate_daemon_test node/certificate_daemon_test.cc)
# tongbanctl import against a running county.
tongban_daemon_test(import_daemon_test node/import_daemon_test.cc)
# Bulk import: the CSV parser and its findings (node/cli/import.h).
tongban_test(import_test LABEL unit SRCS node/import_test.cc DEPS tongban_import)
# Ledger export: the CSV of statistics replies (node/cli/ledger.h).
tongban_test(ledger_test LABEL unit SRCS node/ledger_test.cc DEPS tongban_ledger)
# tongbanctl ledger export against the national node and a county.
tongban_daemon_test(ledger_daemon_test node/ledger_daemon_test.cc)
target_link_libraries(ledger_daemon_test PRIVATE tongban_csv)  # decodes the GB18030 export
