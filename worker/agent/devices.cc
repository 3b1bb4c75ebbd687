#include "worker/agent/devices.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace rib::agent {

std::string DeviceSet::TorchDevice(int id) const {
  if (kind == "cuda") return absl::StrCat("cuda:", id);
  return "cpu";
}

absl::StatusOr<DeviceSet> ParseDevices(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--devices '", text, "': ", why, " (expected cuda:0,1,... or cpu:N)"));
  };
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits(':', 1));
  DeviceSet set;
  set.kind = std::string(absl::StripAsciiWhitespace(parts.first));
  absl::string_view rest = absl::StripAsciiWhitespace(parts.second);
  set.ids.clear();
  if (set.kind == "cpu") {
    int n = 1;
    if (!rest.empty() && (!absl::SimpleAtoi(rest, &n) || n < 1 || n > 1024)) {
      return bad("the CPU slot count must be an integer in [1, 1024]");
    }
    for (int i = 0; i < n; ++i) set.ids.push_back(i);
    return set;
  }
  if (set.kind != "cuda") return bad(absl::StrCat("unknown device kind '", set.kind, "'"));
  if (rest.empty()) return bad("no CUDA device index given");
  std::set<int> seen;
  for (absl::string_view item : absl::StrSplit(rest, ',')) {
    int id = -1;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &id) || id < 0) {
      return bad(absl::StrCat("'", item, "' is not a device index"));
    }
    if (!seen.insert(id).second) return bad(absl::StrCat("device ", id, " listed twice"));
    set.ids.push_back(id);
  }
  return set;
}

}  // namespace rib::agent
