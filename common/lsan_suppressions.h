// Leaks LeakSanitizer must not report in our programs, for sanitizer builds
// (make test SANITIZE=1). Include it in exactly one file of a program: the
// one with main().
//
// libcares: gRPC resolves a host name (not an address literal) through
// c-ares, which keeps a few bytes of its configuration for the process's
// life (10 bytes, allocated in libcares.so.2 itself, seen when tongbanctl
// connects to "localhost"). LeakSanitizer's report of it on stderr turned
// a command's one-line error into eleven lines.
#pragma once

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TB_LSAN_ACTIVE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TB_LSAN_ACTIVE 1
#endif

#ifdef TB_LSAN_ACTIVE
extern "C" const char* __lsan_default_suppressions() { return "leak:libcares.so\n"; }
// Without this LeakSanitizer lists the suppressions it used on stderr.
extern "C" const char* __lsan_default_options() { return "print_suppressions=0"; }
#endif
