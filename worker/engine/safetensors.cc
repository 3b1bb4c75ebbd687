#include "worker/engine/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rib::engine {
namespace {

// ---------------------------------------------------------------------------------------
// A strict JSON parser (RFC 8259) for headers: no trailing commas, no comments, no
// duplicate object keys, depth-limited, valid escapes and UTF-16 surrogate pairs.

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  std::string text;  // string value, or the number's literal text
  std::vector<Json> items;
  std::vector<std::string> keys;  // object keys, parallel to items
};

const char* KindName(Json::Kind kind) {
  switch (kind) {
    case Json::kNull: return "null";
    case Json::kBool: return "a boolean";
    case Json::kNumber: return "a number";
    case Json::kString: return "a string";
    case Json::kArray: return "an array";
    case Json::kObject: return "an object";
  }
  return "?";
}

class JsonParser {
 public:
  explicit JsonParser(absl::string_view text) : s_(text) {}

  absl::StatusOr<Json> ParseDocument() {
    Json value;
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
  static constexpr int kMaxDepth = 64;

  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON header at byte ", pos_, ": ", error_));
  }
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
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

  bool ParseValue(Json& out, int depth) {
    if (depth > kMaxDepth) return Fail("nesting deeper than 64 levels");
    if (pos_ >= s_.size()) return Fail("unexpected end of header");
    const char c = s_[pos_];
    switch (c) {
      case '{': return ParseObject(out, depth);
      case '[': return ParseArray(out, depth);
      case '"': out.kind = Json::kString; return ParseString(out.text);
      case 't': out.kind = Json::kBool; out.boolean = true; return Literal("true");
      case 'f': out.kind = Json::kBool; out.boolean = false; return Literal("false");
      case 'n': out.kind = Json::kNull; return Literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
        return Fail(absl::StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }

  bool ParseObject(Json& out, int depth) {
    out.kind = Json::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    std::set<std::string> seen;
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("expected a string key");
      std::string key;
      if (!ParseString(key)) return false;
      if (!seen.insert(key).second) return Fail(absl::StrCat("duplicate key \"", key, "\""));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("expected ':'");
      ++pos_;
      SkipSpace();
      Json value;
      if (!ParseValue(value, depth + 1)) return false;
      out.keys.push_back(std::move(key));
      out.items.push_back(std::move(value));
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

  bool ParseArray(Json& out, int depth) {
    out.kind = Json::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      Json value;
      if (!ParseValue(value, depth + 1)) return false;
      out.items.push_back(std::move(value));
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
      const char h = s_[pos_++];
      value <<= 4;
      if (h >= '0' && h <= '9') value |= h - '0';
      else if (h >= 'a' && h <= 'f') value |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') value |= h - 'A' + 10;
      else return Fail("invalid hex digit in \\u escape");
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
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (s_.substr(pos_, 2) != "\\u") return Fail("unpaired UTF-16 surrogate");
            pos_ += 2;
            if (!ParseHex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return Fail("invalid UTF-16 surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return Fail("unpaired UTF-16 surrogate");
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Fail("invalid escape sequence");
      }
    }
  }

  bool ParseNumber(Json& out) {
    out.kind = Json::kNumber;
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
    return true;
  }

  absl::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

// A non-negative integer that fits in int64 ("12"; not "1.0", "-1", "1e3").
bool ToCount(const Json& value, uint64_t& out) {
  if (value.kind != Json::kNumber || value.text.empty() || value.text.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : value.text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  out = v;
  return true;
}

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  uint64_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo* FindDtype(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return &d;
  }
  return nullptr;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ParseEntry(const std::string& name, const Json& value, uint64_t data_size,
                        SafetensorsEntry& entry) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': ", what));
  };
  if (value.kind != Json::kObject) {
    return bad(absl::StrCat("expected an object, got ", KindName(value.kind)));
  }
  entry.name = name;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  for (size_t i = 0; i < value.keys.size(); ++i) {
    const std::string& key = value.keys[i];
    const Json& field = value.items[i];
    if (key == "dtype") {
      if (field.kind != Json::kString) return bad("dtype is not a string");
      entry.dtype = field.text;
      has_dtype = true;
    } else if (key == "shape") {
      if (field.kind != Json::kArray) return bad("shape is not an array");
      if (field.items.size() > 16) return bad("shape has more than 16 dimensions");
      for (const Json& dim : field.items) {
        uint64_t d = 0;
        if (!ToCount(dim, d)) return bad("shape entries must be non-negative integers");
        entry.shape.push_back(static_cast<int64_t>(d));
      }
      has_shape = true;
    } else if (key == "data_offsets") {
      if (field.kind != Json::kArray || field.items.size() != 2 ||
          !ToCount(field.items[0], entry.begin) || !ToCount(field.items[1], entry.end)) {
        return bad("data_offsets must be [begin, end] with non-negative integers");
      }
      has_offsets = true;
    }
    // Other fields are ignored, as the reference implementation does.
  }
  if (!has_dtype) return bad("missing dtype");
  if (!has_shape) return bad("missing shape");
  if (!has_offsets) return bad("missing data_offsets");
  const DtypeInfo* dtype = FindDtype(entry.dtype);
  if (dtype == nullptr) return bad(absl::StrCat("unsupported dtype '", entry.dtype, "'"));
  if (entry.begin > entry.end) {
    return bad(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                            "] end before they begin"));
  }
  if (entry.end > data_size) {
    return bad(absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                            "] run past the data section (", data_size, " bytes)"));
  }
  // numel · element size, overflow-checked (data_size bounds any valid product).
  uint64_t bytes = dtype->bytes;
  if (std::find(entry.shape.begin(), entry.shape.end(), 0) != entry.shape.end()) {
    bytes = 0;
  } else {
    for (int64_t d : entry.shape) {
      const uint64_t ud = static_cast<uint64_t>(d);
      if (bytes > std::numeric_limits<uint64_t>::max() / ud) {  // would overflow
        bytes = std::numeric_limits<uint64_t>::max();
        break;
      }
      bytes *= ud;
    }
  }
  if (bytes != entry.end - entry.begin) {
    return bad(absl::StrCat("shape ", ShapeString(entry.shape), " of ", entry.dtype,
                            " needs ", bytes == std::numeric_limits<uint64_t>::max()
                                           ? std::string("too many")
                                           : std::to_string(bytes),
                            " bytes but data_offsets span ", entry.end - entry.begin));
  }
  return absl::OkStatus();
}

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  return absl::InternalError(message);
}

bool ReadFully(int fd, void* buffer, uint64_t size, uint64_t offset) {
  auto* p = static_cast<char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::pread(fd, p, std::min<uint64_t>(size, 1ull << 30), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool WriteFully(int fd, const void* buffer, uint64_t size) {
  const auto* p = static_cast<const char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, std::min<uint64_t>(size, 1ull << 30));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<uint64_t>(n);
  }
  return true;
}

void AppendJsonString(const std::string& s, std::string& out) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

}  // namespace

int64_t SafetensorsHeader::Find(const std::string& name) const {
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].name == name) return static_cast<int64_t>(i);
  }
  return -1;
}

absl::StatusOr<torch::ScalarType> SafetensorsDtype(const std::string& dtype) {
  const DtypeInfo* info = FindDtype(dtype);
  if (info == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported dtype '", dtype, "'"));
  }
  return info->type;
}

absl::StatusOr<SafetensorsHeader> ParseSafetensorsHeader(absl::string_view json,
                                                         uint64_t data_size) {
  JsonParser parser(json);
  auto doc = parser.ParseDocument();
  if (!doc.ok()) return doc.status();
  if (doc->kind != Json::kObject) {
    return absl::InvalidArgumentError(
        absl::StrCat("header must be a JSON object, got ", KindName(doc->kind)));
  }
  SafetensorsHeader header;
  for (size_t i = 0; i < doc->keys.size(); ++i) {
    const std::string& key = doc->keys[i];
    const Json& value = doc->items[i];
    if (key == "__metadata__") {
      if (value.kind != Json::kObject) {
        return absl::InvalidArgumentError("__metadata__ must be an object");
      }
      for (size_t j = 0; j < value.keys.size(); ++j) {
        if (value.items[j].kind != Json::kString) {
          return absl::InvalidArgumentError(absl::StrCat(
              "__metadata__ value for '", value.keys[j], "' must be a string"));
        }
        header.metadata[value.keys[j]] = value.items[j].text;
      }
      continue;
    }
    if (key.empty()) return absl::InvalidArgumentError("empty tensor name in header");
    SafetensorsEntry entry;
    absl::Status status = ParseEntry(key, value, data_size, entry);
    if (!status.ok()) return status;
    header.entries.push_back(std::move(entry));
  }
  // No two tensors may share bytes.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : header.entries) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
              return a->begin < b->begin;
            });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name,
          "' overlap in the data section"));
    }
  }
  return header;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path);
  auto fail = [&](absl::Status status) {
    ::close(fd);
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  };
  struct stat st;
  if (::fstat(fd, &st) != 0) return fail(absl::InternalError(std::strerror(errno)));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "file is ", file_size, " bytes, too short for a safetensors header length")));
  }
  unsigned char len_bytes[8];
  if (!ReadFully(fd, len_bytes, 8, 0)) {
    return fail(absl::InternalError("cannot read the header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "header length ", header_len, " exceeds the limit of ", kMaxSafetensorsHeaderBytes,
        " bytes")));
  }
  if (header_len > file_size - 8) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("header length ", header_len, " runs past the end of the file (",
                     file_size, " bytes): truncated or not safetensors")));
  }
  std::string json(header_len, '\0');
  if (!ReadFully(fd, json.data(), header_len, 8)) {
    return fail(absl::InternalError("cannot read the header"));
  }
  auto header = ParseSafetensorsHeader(json, file_size - 8 - header_len);
  if (!header.ok()) return fail(header.status());
  return std::unique_ptr<SafetensorsReader>(
      new SafetensorsReader(path, fd, 8 + header_len, *std::move(header)));
}

SafetensorsReader::~SafetensorsReader() { ::close(fd_); }

absl::StatusOr<torch::Tensor> SafetensorsReader::Read(const SafetensorsEntry& entry) const {
  auto type = SafetensorsDtype(entry.dtype);
  if (!type.ok()) return type.status();
  torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(*type));
  const uint64_t bytes = entry.end - entry.begin;
  if (bytes != static_cast<uint64_t>(tensor.nbytes())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": tensor '", entry.name, "' size does not match its shape"));
  }
  if (bytes > 0 && !ReadFully(fd_, tensor.data_ptr(), bytes, data_offset_ + entry.begin)) {
    return absl::InternalError(
        absl::StrCat(path_, ": cannot read tensor '", entry.name, "' (file truncated?)"));
  }
  return tensor;
}

absl::StatusOr<NamedTensors> ReadSafetensors(const std::string& path,
                                             std::map<std::string, std::string>* metadata) {
  auto reader = SafetensorsReader::Open(path);
  if (!reader.ok()) return reader.status();
  NamedTensors out;
  for (const auto& entry : (*reader)->header().entries) {
    auto tensor = (*reader)->Read(entry);
    if (!tensor.ok()) return tensor.status();
    out.emplace_back(entry.name, *std::move(tensor));
  }
  if (metadata != nullptr) *metadata = (*reader)->header().metadata;
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> data;
  std::string json = "{";
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) json += ",";
      first = false;
      AppendJsonString(k, json);
      json += ":";
      AppendJsonString(v, json);
    }
    json += "}";
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name '", name, "'"));
    }
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate tensor name '", name, "'"));
    }
    const DtypeInfo* dtype = FindDtype(tensor.scalar_type());
    if (dtype == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "' has dtype ", c10::toString(tensor.scalar_type()),
          ", which safetensors cannot store"));
    }
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(cpu.nbytes());
    if (json.size() > 1) json += ",";
    AppendJsonString(name, json);
    std::vector<int64_t> shape(cpu.sizes().begin(), cpu.sizes().end());
    absl::StrAppend(&json, ":{\"dtype\":\"", dtype->name, "\",\"shape\":[",
                    absl::StrJoin(shape, ","), "],\"data_offsets\":[", offset, ",",
                    offset + bytes, "]}");
    offset += bytes;
    data.push_back(std::move(cpu));
  }
  json += "}";
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer.
  while ((json.size() + 8) % 8 != 0) json.push_back(' ');

  std::random_device rd;
  const std::string tmp = absl::StrCat(path, ".tmp-", ::getpid(), "-", rd());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", tmp);
  unsigned char len_bytes[8];
  uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));
  bool ok = WriteFully(fd, len_bytes, 8) && WriteFully(fd, json.data(), json.size());
  for (size_t i = 0; ok && i < data.size(); ++i) {
    ok = WriteFully(fd, data[i].data_ptr(), data[i].nbytes());
  }
  ok = ok && ::fsync(fd) == 0;
  if (!ok) {
    absl::Status status = ErrnoError("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status status = ErrnoError("cannot move into place", path);
    ::unlink(tmp.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace rib::engine
