// Fuzzes every SyncMessage a session accepts (sync/session.h), through the
// batch verifier (sync/verify.h) and the session's state machine, with a
// real store and writer underneath in a fresh folder: the national node
// receives from a county (620102) whatever the input holds. The input
// (fuzz/session_node.h): a suite byte, then length-prefixed messages; bytes
// that do not parse are handed to OnUnparsable, as the transport does.
// After each message the session is asked for what it would send, as the
// transport's writer does. No message may crash the node, and the session
// must end with a status, never an abort.
#include <cstdint>

#include "fuzz/session_node.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tongban;
  if (size < 1) return 0;
  const crypto::SuiteId suite = fuzz::SuiteOf(data[0]);
  fuzz::TempDir dir;
  FakeClock clock;
  fuzz::SessionNode national(suite, fuzz::kNational, dir, &clock);
  std::unique_ptr<sync::Session> session = national.OpenSession(fuzz::kOrigin);
  if (!session->Start().ok()) abort();
  size_t at = 1;
  std::vector<v1::SyncMessage> out;
  absl::Status result;
  for (int n = 0; n < 64 && at + 2 <= size && result.ok(); ++n) {
    const size_t len = std::min<size_t>(data[at] | (size_t{data[at + 1]} << 8), size - at - 2);
    at += 2;
    v1::SyncMessage m;
    if (!m.ParseFromArray(data + at, static_cast<int>(len))) {
      result = session->OnUnparsable(len);
      break;
    }
    at += len;
    result = session->OnMessage(m, &out);
    for (int i = 0; i < 8 && result.ok(); ++i) {
      absl::StatusOr<std::optional<v1::SyncMessage>> next = session->NextBatch();
      if (!next.ok()) result = next.status();
      if (!next.ok() || !next->has_value()) break;
    }
    clock.Advance(absl::Seconds(1));
  }
  if (result.ok()) result = session->FinishApplying(&out);
  session->Ended(result);
  return 0;
}
