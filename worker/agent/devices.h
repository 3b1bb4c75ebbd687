// The devices a worker offers, parsed from --devices.
#ifndef RIB_WORKER_AGENT_DEVICES_H_
#define RIB_WORKER_AGENT_DEVICES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rib::agent {

// One worker's slots: every slot runs one rank process of one job.
struct DeviceSet {
  std::string kind = "cpu";  // "cpu" or "cuda"
  // cuda: the CUDA device indices; cpu: 0..N-1 (a CPU slot is a share of the cores).
  std::vector<int> ids = {0};

  int count() const { return static_cast<int>(ids.size()); }
  // "cuda:2" or "cpu" for slot `id`: the torch device string a rank uses.
  std::string TorchDevice(int id) const;
};

// "cuda:0,1,3" (those CUDA devices), "cpu:4" (4 CPU slots), "cpu" (1 CPU slot).
// INVALID_ARGUMENT naming the text otherwise (unknown kind, duplicate or negative ids,
// zero slots).
absl::StatusOr<DeviceSet> ParseDevices(absl::string_view text);

}  // namespace rib::agent

#endif  // RIB_WORKER_AGENT_DEVICES_H_
