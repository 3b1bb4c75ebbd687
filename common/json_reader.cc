#include "common/json_reader.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib {
namespace {

// Recursive descent over the text. Each Parse* returns false with error_ set, and pos_
// left where the problem is, so the message can point at it.
class Parser {
 public:
  explicit Parser(absl::string_view text) : s_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue value;
    SkipSpace();
    if (!ParseValue(value, 0)) return Error();
    SkipSpace();
    if (pos_ != s_.size()) {
      error_ = "unexpected text after the JSON value";
      return Error();
    }
    return value;
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON at byte ", pos_, ": ", error_));
  }
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                                s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Literal(absl::string_view word) {
    if (s_.substr(pos_, word.size()) != word) {
      return Fail(absl::StrCat("invalid literal (expected '", word, "')"));
    }
    pos_ += word.size();
    return true;
  }

  // `depth` counts the containers around this value.
  bool ParseValue(JsonValue& out, int depth) {
    if (pos_ >= s_.size()) return Fail("unexpected end of input");
    const char c = s_[pos_];
    switch (c) {
      case '{':
        return ParseObject(out, depth);
      case '[':
        return ParseArray(out, depth);
      case '"':
        out.type = JsonValue::Type::kString;
        return ParseString(out.text);
      case 't':
        out.type = JsonValue::Type::kBool;
        out.boolean = true;
        return Literal("true");
      case 'f':
        out.type = JsonValue::Type::kBool;
        out.boolean = false;
        return Literal("false");
      case 'n':
        out.type = JsonValue::Type::kNull;
        return Literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Fail(absl::StrCat("unexpected character ", Quoted(c)));
    }
  }

  bool ParseObject(JsonValue& out, int depth) {
    if (depth >= kJsonMaxDepth) {
      return Fail(absl::StrCat("nesting deeper than ", kJsonMaxDepth, " levels"));
    }
    out.type = JsonValue::Type::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    std::set<std::string> seen;
    while (true) {
      SkipSpace();
      // Also where a trailing comma ends up: "{"a":1,}".
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a string key");
      std::string key;
      if (!ParseString(key)) return false;
      if (!seen.insert(key).second)
        return Fail(absl::StrCat("duplicate key \"", key, "\""));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipSpace();
      JsonValue value;
      if (!ParseValue(value, depth + 1)) return false;
      out.object.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ >= s_.size()) return Fail("unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  bool ParseArray(JsonValue& out, int depth) {
    if (depth >= kJsonMaxDepth) {
      return Fail(absl::StrCat("nesting deeper than ", kJsonMaxDepth, " levels"));
    }
    out.type = JsonValue::Type::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      // A trailing comma, "[1,]", fails here with "unexpected character ']'".
      JsonValue value;
      if (!ParseValue(value, depth + 1)) return false;
      out.array.push_back(std::move(value));
      SkipSpace();
      if (pos_ >= s_.size()) return Fail("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return Fail("expected ',' or ']'");
    }
  }

  bool ParseHex4(uint32_t& value) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_];
      value <<= 4;
      if (h >= '0' && h <= '9') {
        value |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        value |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        value |= h - 'A' + 10;
      } else {
        return Fail("invalid hex digit in \\u escape");
      }
      ++pos_;
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ParseString(std::string& out) {
    ++pos_;  // '"'
    while (true) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return Fail("control character in string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) return Fail("unterminated escape");
      const char e = s_[pos_];
      // The escapes RFC 8259 names, and what each stands for.
      static constexpr absl::string_view kEscapes = "\"\\/bfnrt";
      static constexpr absl::string_view kEscaped = "\"\\/\b\f\n\r\t";
      if (const size_t i = kEscapes.find(e); i != absl::string_view::npos) {
        out.push_back(kEscaped[i]);
        ++pos_;
        continue;
      }
      if (e != 'u') {
        return Fail(
            absl::StrCat("invalid escape sequence (backslash, then ", Quoted(e), ")"));
      }
      ++pos_;
      uint32_t cp = 0;
      if (!ParseHex4(cp)) return false;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (s_.substr(pos_, 2) != "\\u") return Fail("unpaired UTF-16 surrogate");
        pos_ += 2;
        uint32_t low = 0;
        if (!ParseHex4(low)) return false;
        if (low < 0xDC00 || low > 0xDFFF) return Fail("invalid UTF-16 surrogate pair");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return Fail("unpaired UTF-16 surrogate");
      }
      AppendUtf8(cp, out);
    }
  }

  bool ParseNumber(JsonValue& out) {
    out.type = JsonValue::Type::kNumber;
    const size_t start = pos_;
    auto digits = [&]() {
      const size_t begin = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - begin;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        return Fail("leading zero in number");
      }
    } else if (digits() == 0) {
      return Fail("invalid number");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) return Fail("invalid number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) return Fail("invalid number");
    }
    out.text = std::string(s_.substr(start, pos_ - start));
    // The grammar above is a subset of what SimpleAtod accepts (locale-independent); it
    // rounds out-of-range values to ±inf or 0 rather than failing.
    if (!absl::SimpleAtod(out.text, &out.number)) {
      out.number = std::numeric_limits<double>::quiet_NaN();  // not reached
    }
    return true;
  }

  // 'c' for a printable character, otherwise its byte value, so a message stays text.
  static std::string Quoted(char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return absl::StrCat("'", std::string(1, c), "'");
    char buf[8];
    std::snprintf(buf, sizeof(buf), "0x%02X", u);
    return buf;
  }

  absl::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  return Parser(text).ParseDocument();
}

absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) {
    return absl::NotFoundError(absl::StrCat("JSON file not found: ", path));
  }
  if (ec)
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", ec.message()));
  if (fs::is_directory(st)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is a directory, not JSON"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot open ", path));
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", path));
  auto value = ParseJson(text);
  if (!value.ok()) return Annotate(value.status(), path);
  return value;
}

}  // namespace rib
