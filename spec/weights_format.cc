#include "spec/weights_format.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/match.h"

namespace rib::spec {
namespace {

// The most central directory read to tell the kinds apart (a ResNet-101's is ~40 KiB).
constexpr uint64_t kMaxCentralDirectory = 16 << 20;

uint64_t Le(const char* p, int n) {
  uint64_t v = 0;
  for (int k = 0; k < n; ++k) v |= uint64_t{static_cast<uint8_t>(p[k])} << (8 * k);
  return v;
}

bool ReadAt(int fd, uint64_t offset, uint64_t n, std::string* out) {
  out->resize(n);
  return ::pread(fd, out->data(), n, static_cast<off_t>(offset)) ==
         static_cast<ssize_t>(n);
}

// The central directory's (offset, size), through the zip64 records when present.
bool FindCentralDirectory(int fd, uint64_t file_size, uint64_t* offset, uint64_t* size) {
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
  std::string tail;
  if (tail_size < 22 || !ReadAt(fd, file_size - tail_size, tail_size, &tail))
    return false;
  for (uint64_t k = tail_size - 22 + 1; k-- > 0;) {
    const char* e = tail.data() + k;
    if (Le(e, 4) != 0x06054b50) continue;
    *size = Le(e + 12, 4);
    *offset = Le(e + 16, 4);
    if (*offset != 0xffffffff && *size != 0xffffffff) return true;
    // Zip64: the locator sits just before the end record.
    const uint64_t eocd = file_size - tail_size + k;
    std::string locator, record;
    if (eocd < 20 || !ReadAt(fd, eocd - 20, 20, &locator) ||
        Le(locator.data(), 4) != 0x07064b50 ||
        !ReadAt(fd, Le(locator.data() + 8, 8), 56, &record) ||
        Le(record.data(), 4) != 0x06064b50) {
      return false;
    }
    *size = Le(record.data() + 40, 8);
    *offset = Le(record.data() + 48, 8);
    return true;
  }
  return false;
}

}  // namespace

bool IsTorchStateDictArchive(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0, size = 0;
  std::string dir;
  if (!FindCentralDirectory(fd, file_size, &offset, &size) ||
      size > kMaxCentralDirectory || offset > file_size || size > file_size - offset ||
      !ReadAt(fd, offset, size, &dir)) {
    return false;
  }
  bool has_pickle = false;
  for (uint64_t p = 0; p + 46 <= dir.size();) {
    const char* h = dir.data() + p;
    if (Le(h, 4) != 0x02014b50) return false;
    const uint64_t name_len = Le(h + 28, 2), extra = Le(h + 30, 2),
                   comment = Le(h + 32, 2);
    if (p + 46 + name_len > dir.size()) return false;
    const std::string_view name(h + 46, name_len);
    // Names are "<archive>/<record>".
    const size_t slash = name.find('/');
    const std::string_view record =
        slash == std::string_view::npos ? name : name.substr(slash + 1);
    if (record.substr(0, 5) == "code/" || record == "constants.pkl") return false;
    if (record == "data.pkl") has_pickle = true;
    p += 46 + name_len + extra + comment;
  }
  return has_pickle;
}

bool IsTorchScriptWeights(const std::string& path, int fd) {
  if (IsTorchStateDictArchive(fd)) return false;
  for (const char* ext : {".pt", ".pth", ".ts", ".jit", ".torchscript"}) {
    if (absl::EndsWith(path, ext)) return true;
  }
  if (absl::EndsWith(path, ".safetensors")) return false;
  // TorchScript archives are zip files.
  char magic[4] = {0, 0, 0, 0};
  return ::pread(fd, magic, 4, 0) == 4 && magic[0] == 'P' && magic[1] == 'K' &&
         magic[2] == 3 && magic[3] == 4;
}

}  // namespace rib::spec
