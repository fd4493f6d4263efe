# The web console: sessions (unit), its HTTPS surface against a running
# county, the message catalogs, and the browser test of the whole story.
tongban_test(console_sessions_test LABEL unit
  SRCS console/sessions_test.cc console/record_words_test.cc DEPS tongban_console)
tongban_daemon_test(console_server_test console/console_server_test.cc)
target_link_libraries(console_server_test PRIVATE PkgConfig::HTTPLIB)
target_compile_definitions(console_server_test PRIVATE TB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

add_test(NAME console_i18n COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/console/i18n_check.py)
set_tests_properties(console_i18n PROPERTIES LABELS unit)

# Headless Chromium against three tongband processes; screenshots of every
# main page land in build/console-screenshots.
add_test(NAME console_browser
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/console/browser_test.py
                 ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/console-screenshots intl)
set_tests_properties(console_browser PROPERTIES LABELS system TIMEOUT 300
                     ENVIRONMENT "TB_SANITIZE=$<IF:$<BOOL:${TB_SANITIZE}>,1,0>"
                     PASS_REGULAR_EXPRESSION "console browser test: passed")
