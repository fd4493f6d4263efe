// The online commands of tongbanctl: each is one call of the operator's own
// node's Admin service (tongbanctl/admin_client.h has the connection flags).
// They print a table or text by default and the reply as JSON with --json.
//
//   status, peers, peers clear-hold       the node and its peers
//   person register|show|history|where    persons and their records
//   register outflow|inflow|return        registrations (流出/流入/返回登记)
//   service record, entitlement set       services and entitlements
//   certificate issue|revoke              electronic certificates
//   inquiry send|reply, notice send|ack   inquiries (协查) and notices (通报)
//   audit                                 the audit trail (auditors)
//
// Record commands take the person's ID as their one positional argument,
// the record's fields as flags, and an optional --id; without it the record
// id is derived from the record's key fields, so that running the same
// command twice updates one record instead of writing a second.
//
// Thread safety: single-threaded, like the tool.
#pragma once

#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddOnlineCommands(std::vector<Command>* commands);

}  // namespace tongban::cli
