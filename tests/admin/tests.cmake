# Operator access: TOTP, roles and accounts, authentication.
tongban_test(operator_auth_test LABEL unit
  SRCS admin/totp_test.cc admin/operators_test.cc admin/auth_test.cc DEPS tongban_admin)
# The fleet view's order, pages and counts by state (issue 21).
tongban_test(fleet_test LABEL unit SRCS admin/fleet_test.cc DEPS tongban_admin)
