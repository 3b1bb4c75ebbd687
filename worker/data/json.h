// Internal: a minimal JSON reader for the small mapping files datasets ship (ObjectNet's
// mappings/*.json, class-name lists). Objects keep their key order, which the reference
// ObjectNet protocol depends on.
#ifndef RIB_WORKER_DATA_JSON_H_
#define RIB_WORKER_DATA_JSON_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace rib::data::internal {

struct JsonValue {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* Get(const std::string& key) const {
    for (const auto& [k, v] : object)
      if (k == key) return &v;
    return nullptr;
  }
};

// INVALID_ARGUMENT with the byte offset on malformed input.
absl::StatusOr<JsonValue> ParseJson(const std::string& text);
// Reads and parses a file; NOT_FOUND when missing, INVALID_ARGUMENT naming the file.
absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path);

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_JSON_H_
