tongban_test(storage_test LABEL unit
  SRCS storage/keys_test.cc storage/store_test.cc storage/writer_test.cc
       storage/fault_injection_test.cc
       storage/apply_remote_test.cc storage/audit_log_test.cc storage/refusal_audit_test.cc
  DEPS tongban_storage)
# Backups (storage/backup.h): made while the writer appends, listed without
# the key, verified, restored; both suites.
tongban_test(backup_test LABEL unit SRCS storage/backup_test.cc DEPS tongban_storage)
