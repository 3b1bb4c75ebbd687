#include "tests/server/storage/repository_contract.h"

namespace rib::storage::contract {
namespace {

std::unique_ptr<Repository> MakeMemory(const RepositoryOptions& options) {
  return std::make_unique<MemoryRepository>(options);
}

INSTANTIATE_TEST_SUITE_P(Memory, RepositoryContractTest,
                         ::testing::Values(Backend{"memory", &MakeMemory}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace rib::storage::contract
