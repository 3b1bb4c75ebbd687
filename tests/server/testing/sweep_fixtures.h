// Sweep files shared by the coordinator tests (service and gRPC layers), so both submit
// the same sweeps and a change to the sweep format is made once.
#ifndef RIB_TESTS_SERVER_TESTING_SWEEP_FIXTURES_H_
#define RIB_TESTS_SERVER_TESTING_SWEEP_FIXTURES_H_

#include <filesystem>
#include <fstream>
#include <string>

namespace rib::testing {

// The token user of the tests' workers (WorkerRegistration::principal, and the caller
// of their Heartbeat, AcquireJob and reports).
inline constexpr char kWorkerUser[] = "node-worker";

// Three models (m1..m3) and four methods over the default suite (fmnist-rib) and its
// datasets: the tests count the jobs this expands to.
inline constexpr char kGridSweepYaml[] = R"(name: grid
models:
  - {name: m1, arch: fmnist_vit, weights: models/m1.safetensors}
  - {name: m2, arch: fmnist_vit, weights: models/m2.safetensors}
  - {name: m3, arch: fmnist_vit, weights: models/m3.safetensors}
methods: [ft, lp, lpft, wise-ft]
)";

// One model, one method, one fine-tuning dataset and three evaluation datasets: a
// pre-training job and one fine-tuning job. Ends with a newline, so a test may append
// a line ("device_kind: cuda\n").
inline constexpr char kSmallSweepYaml[] = R"(name: small
models:
  - {name: m1, arch: fmnist_vit, weights: models/m1.safetensors}
methods: [ft]
finetune_datasets: [fmnist-v2]
eval_datasets: [fmnist-val, fmnist-v2, fmnist-c]
training: {epochs: 1}
)";

// The bytes WriteSweepModelFiles writes for model `name`: a test checks the weights
// digest the coordinator computes from them.
inline std::string SweepModelFileContent(const std::string& name) {
  return "weights of " + name;
}

// Writes root/models/m1..m3.safetensors, the weights files the sweeps above name (the
// coordinator hashes them at submit, so each holds different bytes).
inline void WriteSweepModelFiles(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "models");
  for (const char* m : {"m1", "m2", "m3"}) {
    std::ofstream(root / "models" / (std::string(m) + ".safetensors"))
        << SweepModelFileContent(m);
  }
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_SWEEP_FIXTURES_H_
