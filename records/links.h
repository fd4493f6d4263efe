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
//   inflow by W             W is a residence; the inflow's origin is linked as
//                           origin; the previous residence named in it
//                           receives the event. Residences are ordered by
//                           their registrations' stamps (hybrid clock, then
//                           node code), never by arrival: an inflow ends every
//                           residence registered before it, and is itself
//                           ended by any registered after it, so every node
//                           derives the same links in any order. An ended
//                           residence keeps receiving within the retention
//                           window, then stops.
//   return, returned home   every residence registered before it ends; the
//                           return is kept on the origin's link for
//                           registrations that arrive later
//   return, departed (by W) W's residence registered before it ends
//   inquiry / notice W->X   W is linked as counterpart unless already linked;
//                           X receives the event
//   inquiry_reply/receipt   the inquiry's / notice's county receives it
//
// Stamps as times. A link's start and end are the stamps of the events that
// make them, and registrations are ordered by stamp; a stamp further ahead
// than the applying node's clock plus the skew it tolerates ([sync]
// max_clock_ahead: the `horizon`) counts as the horizon. A county whose
// clock runs years ahead (or lies) so cannot date its registration after
// every real later one (which would end the later residence's link at
// once: cut its window) nor end another county's link years ahead (which
// would keep it receiving: extend its window). Stamps within the tolerance
// are taken as they are, so every node derives the same links from them;
// only an event beyond it is dated by when each node applied it (and is
// counted and shown as such, sync/session.h). Wall-clock time orders
// nothing else (DESIGN.md section 5).
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tongban/v1/event.pb.h"
#include "tongban/v1/records.pb.h"
#include "tongban/v1/store.pb.h"

namespace tongban::records {

using Links = std::map<std::string, v1::PersonLink>;  // node code -> link

struct LinkEffect {
  Links changed;                          // links created or ended by the event
  std::vector<std::string> counterparts;  // receive this event without a link
};

// The effect of `body` (whose payload is `value`) on the person's `links`.
// Links end at the physical time of the event that ends them, its stamp
// taken as no later than `horizon_micros` (the file comment).
LinkEffect DeriveLinks(const v1::EventBody& body, const v1::RecordValue& value, const Links& links,
                       int64_t horizon_micros = std::numeric_limits<int64_t>::max());

// `stamp`, or the horizon if it is further ahead (logical counter kept).
v1::Hlc StampAsTime(const v1::Hlc& stamp, int64_t horizon_micros);

// The audience of an event written by `writer`: every node linked to the
// person whose link is active or ended less than `retention` ago, the
// counterparts, and the national node; never the writer itself. Sorted,
// unique.
std::vector<std::string> DeriveAudience(absl::string_view writer, absl::string_view national,
                                        const Links& links,
                                        const std::vector<std::string>& counterparts,
                                        int64_t now_micros, absl::Duration retention);

}  // namespace tongban::records
