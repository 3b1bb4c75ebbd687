#include "worker/data/json.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::data::internal {
namespace {

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    RIB_ASSIGN_OR_RETURN(JsonValue v, Value(0));
    Skip();
    if (pos_ != s_.size()) return Error("trailing characters");
    return v;
  }

 private:
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON: ", what, " at byte ", pos_));
  }
  void Skip() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
      ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<JsonValue> Value(int depth) {
    if (depth > 64) return Error("nesting too deep");
    Skip();
    if (pos_ >= s_.size()) return Error("unexpected end");
    JsonValue v;
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      v.type = JsonValue::Type::kObject;
      if (Eat('}')) return v;
      do {
        Skip();
        RIB_ASSIGN_OR_RETURN(std::string key, String());
        if (!Eat(':')) return Error("expected ':'");
        RIB_ASSIGN_OR_RETURN(JsonValue item, Value(depth + 1));
        v.object.emplace_back(std::move(key), std::move(item));
      } while (Eat(','));
      if (!Eat('}')) return Error("expected '}'");
    } else if (c == '[') {
      ++pos_;
      v.type = JsonValue::Type::kArray;
      if (Eat(']')) return v;
      do {
        RIB_ASSIGN_OR_RETURN(JsonValue item, Value(depth + 1));
        v.array.push_back(std::move(item));
      } while (Eat(','));
      if (!Eat(']')) return Error("expected ']'");
    } else if (c == '"') {
      v.type = JsonValue::Type::kString;
      RIB_ASSIGN_OR_RETURN(v.str, String());
    } else if (s_.compare(pos_, 4, "true") == 0) {
      pos_ += 4;
      v.type = JsonValue::Type::kBool;
      v.boolean = true;
    } else if (s_.compare(pos_, 5, "false") == 0) {
      pos_ += 5;
      v.type = JsonValue::Type::kBool;
    } else if (s_.compare(pos_, 4, "null") == 0) {
      pos_ += 4;
    } else {
      const char* begin = s_.c_str() + pos_;
      char* end = nullptr;
      v.number = std::strtod(begin, &end);
      if (end == begin) return Error("unexpected character");
      pos_ += end - begin;
      v.type = JsonValue::Type::kNumber;
    }
    return v;
  }

  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  absl::StatusOr<uint32_t> Hex4() {
    if (pos_ + 4 > s_.size()) return Error("bad \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= h - '0';
      else if (h >= 'a' && h <= 'f')
        v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F')
        v |= h - 'A' + 10;
      else
        return Error("bad \\u escape");
    }
    return v;
  }

  absl::StatusOr<std::string> String() {
    if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected string");
    ++pos_;
    std::string out;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) break;
      c = s_[pos_++];
      switch (c) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          RIB_ASSIGN_OR_RETURN(uint32_t cp, Hex4());
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(pos_, 2, "\\u") == 0) {
            pos_ += 2;
            RIB_ASSIGN_OR_RETURN(uint32_t lo, Hex4());
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          out += c;
      }
    }
    if (pos_ >= s_.size()) return Error("unterminated string");
    ++pos_;
    return out;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<JsonValue> ParseJson(const std::string& text) {
  return Parser(text).ParseDocument();
}

absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("file not found: ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto v = ParseJson(ss.str());
  if (!v.ok()) return Annotate(v.status(), path);
  return v;
}

}  // namespace rib::data::internal
