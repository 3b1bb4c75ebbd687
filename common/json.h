// JSON text helpers shared by every writer of JSON in rib (canonical job configs,
// the stored job spec, the CLI's JSON output). Pure functions, thread-safe.
#ifndef RIB_COMMON_JSON_H_
#define RIB_COMMON_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

namespace rib {

// `s` as a JSON string literal, quotes included: ", \ and control characters escaped
// (\n \r \t \b \f by name, the rest as \u00XX); other bytes (UTF-8) pass through.
// The canonical job hash depends on this text: never change its output.
std::string JsonQuote(absl::string_view s);

}  // namespace rib

#endif  // RIB_COMMON_JSON_H_
