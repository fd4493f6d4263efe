# tongbanctl_test runs the built tongbanctl binary, so it needs the binary's
# path and the binary built first.
tongban_test(tongbanctl_test LABEL unit SRCS tongbanctl/tongbanctl_test.cc
             DEPS tongban_formats tongban_accounts tongban_version)
target_compile_definitions(tongbanctl_test PRIVATE TB_TONGBANCTL="$<TARGET_FILE:tongbanctl>")
add_dependencies(tongbanctl_test tongbanctl)
target_compile_definitions(tongbanctl_test PRIVATE TB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
