// The JSON value type of rib and its one writer (the one reader is json_reader.h).
// Every JSON text rib writes goes through WriteJson: canonical job configs (the job
// hash depends on their bytes), the stored job spec, rib-run's results, safetensors
// headers' strings.
//
// Thread-safety: the functions are pure and thread-safe. A JsonValue owns its children
// and is an ordinary value type.
#ifndef RIB_COMMON_JSON_H_
#define RIB_COMMON_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace rib {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;  // kBool
  double number = 0;     // kNumber: the literal's nearest double
  // kString: the decoded value. kNumber: the literal as written ("-1.50e3").
  std::string text;
  std::vector<JsonValue> array;  // kArray
  // kObject, in document order (some files, ObjectNet's, depend on it); keys are unique.
  std::vector<std::pair<std::string, JsonValue>> object;

  // The member named `key` of an object; nullptr when absent or not an object.
  const JsonValue* Get(absl::string_view key) const;

  // ---- Building values to write ----
  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  // Written as FormatCanonicalNumber(v); a non-finite value is written as null (JSON
  // has no NaN or infinity).
  static JsonValue Number(double v);
  static JsonValue Int(int64_t v);
  // A number written exactly as `literal` ("0.912500"); the caller makes it valid JSON.
  static JsonValue NumberLiteral(std::string literal);
  static JsonValue String(absl::string_view s);
  static JsonValue Array(std::vector<JsonValue> items = {});
  static JsonValue Object();
  static JsonValue StringArray(const std::vector<std::string>& items);
  static JsonValue NumberArray(const std::vector<double>& items);

  // Object: sets member `key` (replacing one of the same name, else appending).
  JsonValue& Set(absl::string_view key, JsonValue value);
  // Array: appends.
  JsonValue& Append(JsonValue value);
};

// "null", "a boolean", "a number", "a string", "an array", "an object": for messages
// such as "expected an object, got an array".
const char* JsonTypeName(JsonValue::Type type);

struct JsonWriteOptions {
  // Members of every object in byte order of their keys (canonical JSON); otherwise in
  // the order they were set. Default: false.
  bool sort_keys = false;
  // 0 = compact, no whitespace at all (canonical JSON); N = one member or element per
  // line, nested N spaces deeper. Default: 0.
  int indent = 0;
};

// The one JSON writer. Strings go through JsonQuote.
std::string WriteJson(const JsonValue& value, const JsonWriteOptions& options = {});

// `s` as a JSON string literal, quotes included: ", \ and control characters escaped
// (\n \r \t \b \f by name, the rest as \u00XX); other bytes (UTF-8) pass through.
// The canonical job hash depends on this text: never change its output.
std::string JsonQuote(absl::string_view s);

// Shortest decimal text that reads back as exactly `value` ("0.1", "1", "1e-05"):
// the one number format of canonical JSON and canonical method params.
// "nan"/"inf"/"-inf" for non-finite values (never produced by a validated spec).
// The canonical job hash depends on this text: never change its output.
std::string FormatCanonicalNumber(double value);

}  // namespace rib

#endif  // RIB_COMMON_JSON_H_
