// Whether a worker can run a job (DESIGN §8: every dataset the job reads, enough devices
// of the job's kind), in C++, for `rib plan` / `rib submit --dry-run`: the reason a
// registered worker cannot take a job. The hand-out itself is one SQL statement
// (postgres_repository_workers.cc, AcquireJob's pick: it must walk an index with FOR
// UPDATE SKIP LOCKED, so it cannot call C++ per row); the repository contract test
// PlacementAgreesWithTheHandOut checks that the two agree on every case, so they
// cannot drift. Pure functions; thread-safe.
#ifndef RIB_SERVER_DOMAIN_PLACEMENT_H_
#define RIB_SERVER_DOMAIN_PLACEMENT_H_

#include <optional>
#include <string>
#include <vector>

#include "server/domain/types.h"

namespace rib::domain {

// What a job asks of its worker.
struct JobNeeds {
  std::vector<std::string> datasets;  // every dataset it reads (JobDatasets)
  int devices = 1;
  std::string device_kind;  // "" = any kind
};

// nullopt when `worker` could take the job once it has `devices` free; otherwise why
// not, naming what is missing: "draining", "lost", "has no fmnist-r, fmnist-c",
// "has 1 cpu device, the job needs 2", "has no cuda devices".
std::optional<std::string> WhyCannotRun(const Worker& worker, const JobNeeds& job);

}  // namespace rib::domain

#endif  // RIB_SERVER_DOMAIN_PLACEMENT_H_
