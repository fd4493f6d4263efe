// Who is linked to a person, and so who receives the person's events
// (DESIGN.md section 6). Pure functions of the events, so every node that
// applies the same events derives the same links; the writer and (later) the
// sync applier both call them.
//
// Rules, by the record an event writes (upserts only; a retraction changes
// no link):
//   person_basics by W      W is linked as origin
//   outflow by W to X       W is origin; X receives the event (X links itself
//                           by its own inflow registration)
//   inflow by W             W is the current residence; the inflow's origin is
//                           linked as origin; every other active residence
//                           ends (it keeps receiving within the retention
//                           window, then stops); the previous residence
//                           named in it receives the event
//   return, returned home   every residence ends
//   return, departed (by W) W's residence ends
//   inquiry / notice W->X   W is linked as counterpart unless already linked;
//                           X receives the event
//   inquiry_reply/receipt   the inquiry's / notice's county receives it
//
// Thread safety: free functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"

namespace tongban::storage {

using Links = std::map<std::string, v1::PersonLink>;  // node code -> link

struct LinkEffect {
  Links changed;                         // links created or ended by the event
  std::vector<std::string> counterparts;  // receive this event without a link
};

// The effect of `body` (whose payload is `value`) on the person's `links`.
// `now_micros` stamps ended links.
LinkEffect DeriveLinks(const v1::EventBody& body, const v1::RecordValue& value,
                       const Links& links, int64_t now_micros);

// The audience of an event written by `writer`: every node linked to the
// person whose link is active or ended less than `retention` ago, the
// counterparts, and the national node; never the writer itself. Sorted,
// unique.
std::vector<std::string> DeriveAudience(absl::string_view writer,
                                        absl::string_view national,
                                        const Links& links,
                                        const std::vector<std::string>& counterparts,
                                        int64_t now_micros, absl::Duration retention);

}  // namespace tongban::storage
