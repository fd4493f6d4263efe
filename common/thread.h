// Starting a thread without an exception crossing our APIs (STYLE.md
// section 3): the std::thread constructor throws std::system_error when the
// system cannot start one (pthread_create's EAGAIN: out of threads, memory
// or address space). Every thread of the node starts through StartThread.
//
// Thread safety: a free function; call it from any thread.
#pragma once

#include <pthread.h>

#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace tongban {

// Runs `fn` on a new thread named `name` (as top, ps and gdb show it; cut to
// 15 characters). Returns the thread, which the caller owns and joins, or
// kResourceExhausted naming `name` if the system cannot start one; `fn` is
// then dropped without having run.
template <typename Fn>
absl::StatusOr<std::thread> StartThread(const std::string& name, Fn fn) {
  try {
    return std::thread([shown = name.substr(0, 15), fn = std::move(fn)]() mutable {
      pthread_setname_np(pthread_self(), shown.c_str());
      fn();
    });
  } catch (const std::system_error& e) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot start thread ", name, ": ", e.what()));
  }
}

}  // namespace tongban
