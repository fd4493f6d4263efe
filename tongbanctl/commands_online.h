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

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tongbanctl/tongbanctl.h"

namespace tongban::cli {

void AddOnlineCommands(std::vector<Command>* commands);

// For online commands in other files (commands_operator.cc):
// `m` as JSON on io.out (--json).
absl::Status PrintJson(const google::protobuf::Message& m, Io& io);
// Rows as aligned columns; with `header` the first row is the header, in
// the locale's language (tongbanctl/i18n.h).
void PrintTable(std::vector<std::vector<std::string>> rows, Io& io, bool header = true);
// A time in China Standard Time with its zone, "-" for 0.
std::string When(int64_t micros);
// The connection flags followed by `own`.
std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> own);
// A command whose details are its own flags, the connection help and
// examples, taking exactly `positional` positional arguments.
Command Online(std::string group, std::string name, std::string summary, std::string usage,
               std::string own_help, std::string examples, std::vector<FlagSpec> flags,
               size_t positional, std::function<absl::Status(const Args&, Io&)> run);

}  // namespace tongban::cli
