// The one JSON reader in rib: a strict RFC 8259 parser into a small value tree, used for
// safetensors headers and the mapping files datasets ship (ObjectNet's mappings/*.json).
//
// Strict on purpose, since its input may be hostile (a downloaded weights file): no
// trailing commas, no comments, no duplicate object keys, no leading zeros, no bare
// control characters in strings, only the escapes RFC 8259 defines, \u escapes must form
// valid UTF-16 (surrogates paired), containers nest at most kJsonMaxDepth deep, and
// nothing but whitespace may follow the value. Bytes >= 0x80 in strings are passed
// through as they are (not checked to be UTF-8).
//
// Numbers keep their literal text, so a caller can read an int64 (a safetensors offset)
// exactly; `number` holds the nearest double as well (±inf when out of range).
//
// Thread-safety: the functions are pure and thread-safe. JsonValue (common/json.h) is
// the value type the reader returns and the writer takes.
#ifndef RIB_COMMON_JSON_READER_H_
#define RIB_COMMON_JSON_READER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/json.h"

namespace rib {

// Containers (arrays and objects) may nest this deep; one more is INVALID_ARGUMENT.
// It bounds the parser's recursion on hostile input.
inline constexpr int kJsonMaxDepth = 64;

// Parses one JSON document. INVALID_ARGUMENT on malformed input, naming the byte offset
// and the problem ("malformed JSON at byte 12: duplicate key \"w\"").
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

// Reads a whole file and parses it. NOT_FOUND when the file is missing; INVALID_ARGUMENT
// naming the file when it is a directory or malformed; INTERNAL on other I/O errors.
absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path);

}  // namespace rib

#endif  // RIB_COMMON_JSON_READER_H_
