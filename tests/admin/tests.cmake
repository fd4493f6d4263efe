# Operator access: TOTP, roles and accounts, authentication.
tongban_test(operator_auth_test LABEL unit
  SRCS admin/totp_test.cc admin/operators_test.cc admin/auth_test.cc DEPS tongban_admin)
