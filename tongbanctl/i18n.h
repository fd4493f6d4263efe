// tongbanctl's language: Chinese (简体中文) when the locale asks for it,
// English otherwise. The locale is read as POSIX orders it: LC_ALL, then
// LC_MESSAGES, then LANG; a value starting with "zh" (zh_CN.UTF-8, zh_CN,
// zh_SG.GB18030) means Chinese. Translated: the messages and table
// headings of the everyday commands (status, peers, person, inquiry and
// notice lists, audit, record writes, connection errors, the top-level
// errors). Everything else, and every --json reply, stays English.
//
// Use: Tr("english") returns the Chinese text when the locale is Chinese and
// a translation exists, else the English text itself, so an untranslated
// string degrades to English, never to nothing.
//
// Thread safety: the locale is read once; Tr is safe from any thread.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace tongban::cli {

// Whether the environment asks for Chinese (above).
bool ChineseLocale();

// The message in the locale's language.
std::string Tr(absl::string_view english);

}  // namespace tongban::cli
