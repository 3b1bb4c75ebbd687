#include "common/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace rib {

const JsonValue* JsonValue::Get(absl::string_view key) const {
  for (const auto& [k, v] : object) {
    if (k == key) return &v;
  }
  return nullptr;
}

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type = Type::kBool;
  v.boolean = b;
  return v;
}

JsonValue JsonValue::Number(double d) {
  if (!std::isfinite(d)) return Null();
  JsonValue v;
  v.type = Type::kNumber;
  v.number = d;
  v.text = FormatCanonicalNumber(d);
  return v;
}

JsonValue JsonValue::Int(int64_t i) {
  JsonValue v;
  v.type = Type::kNumber;
  v.number = static_cast<double>(i);
  v.text = absl::StrCat(i);
  return v;
}

JsonValue JsonValue::NumberLiteral(std::string literal) {
  JsonValue v;
  v.type = Type::kNumber;
  v.number = std::strtod(literal.c_str(), nullptr);
  v.text = std::move(literal);
  return v;
}

JsonValue JsonValue::String(absl::string_view s) {
  JsonValue v;
  v.type = Type::kString;
  v.text = std::string(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type = Type::kArray;
  v.array = std::move(items);
  return v;
}

JsonValue JsonValue::Object() {
  JsonValue v;
  v.type = Type::kObject;
  return v;
}

JsonValue JsonValue::StringArray(const std::vector<std::string>& items) {
  JsonValue v = Array();
  for (const std::string& s : items) v.array.push_back(String(s));
  return v;
}

JsonValue JsonValue::NumberArray(const std::vector<double>& items) {
  JsonValue v = Array();
  for (double d : items) v.array.push_back(Number(d));
  return v;
}

JsonValue& JsonValue::Set(absl::string_view key, JsonValue value) {
  type = Type::kObject;
  for (auto& [k, v] : object) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  object.emplace_back(std::string(key), std::move(value));
  return *this;
}

JsonValue& JsonValue::Append(JsonValue value) {
  type = Type::kArray;
  array.push_back(std::move(value));
  return *this;
}

const char* JsonTypeName(JsonValue::Type type) {
  switch (type) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "a boolean";
    case JsonValue::Type::kNumber:
      return "a number";
    case JsonValue::Type::kString:
      return "a string";
    case JsonValue::Type::kArray:
      return "an array";
    case JsonValue::Type::kObject:
      return "an object";
  }
  return "a value";
}

namespace {

void Write(const JsonValue& v, const JsonWriteOptions& options, int depth,
           std::string* out) {
  const auto newline = [&](int level) {
    if (options.indent <= 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(options.indent * level), ' ');
  };
  switch (v.type) {
    case JsonValue::Type::kNull:
      out->append("null");
      return;
    case JsonValue::Type::kBool:
      out->append(v.boolean ? "true" : "false");
      return;
    case JsonValue::Type::kNumber:
      if (!v.text.empty()) {
        out->append(v.text);
      } else if (std::isfinite(v.number)) {
        out->append(FormatCanonicalNumber(v.number));
      } else {
        out->append("null");
      }
      return;
    case JsonValue::Type::kString:
      out->append(JsonQuote(v.text));
      return;
    case JsonValue::Type::kArray:
      if (v.array.empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i > 0) out->push_back(',');
        newline(depth + 1);
        Write(v.array[i], options, depth + 1, out);
      }
      newline(depth);
      out->push_back(']');
      return;
    case JsonValue::Type::kObject: {
      if (v.object.empty()) {
        out->append("{}");
        return;
      }
      std::vector<const std::pair<std::string, JsonValue>*> members;
      for (const auto& m : v.object) members.push_back(&m);
      if (options.sort_keys) {
        std::stable_sort(
            members.begin(), members.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
      }
      out->push_back('{');
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out->push_back(',');
        newline(depth + 1);
        out->append(JsonQuote(members[i]->first));
        out->append(options.indent > 0 ? ": " : ":");
        Write(members[i]->second, options, depth + 1, out);
      }
      newline(depth);
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string WriteJson(const JsonValue& value, const JsonWriteOptions& options) {
  std::string out;
  Write(value, options, 0, &out);
  return out;
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

std::string FormatCanonicalNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0) return "0";  // also -0
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

}  // namespace rib
