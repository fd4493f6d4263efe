# The domain workflows (paths relative to tests/).
# Statistics: a hand-counted federation (sessions in one process, no network).
tongban_test(stats_test LABEL unit SRCS workflows/stats_test.cc DEPS tongban_workflows tongban_sync)
# Inquiry and notice deadlines with a fake clock; checks on the write path.
tongban_test(workflow_test LABEL unit SRCS workflows/deadlines_test.cc
             DEPS tongban_workflows tongban_sync)
# Offline certificates: payload, text form, revocation list, every verdict.
tongban_test(certificate_payload_test LABEL unit SRCS workflows/certificate_payload_test.cc
             DEPS tongban_formats)
# Bulk import: the CSV parser and its findings (workflows/import_csv.h).
tongban_test(import_test LABEL unit SRCS workflows/import_csv_test.cc DEPS tongban_formats)
# Ledger export: the CSV of statistics replies (workflows/ledger.h).
tongban_test(ledger_test LABEL unit SRCS workflows/ledger_test.cc DEPS tongban_formats)
# Which version of a record counts: one record with two heads, applied in
# different orders on three nodes (issue 12).
tongban_test(current_value_test LABEL unit SRCS workflows/current_value_test.cc
             DEPS tongban_workflows)
# The statistics counters against the scan: a story with corrections,
# retractions, late replies and restarts, and random event orders.
tongban_test(stats_counters_test LABEL unit SRCS workflows/stats_counters_test.cc
             DEPS tongban_workflows tongban_sync)
