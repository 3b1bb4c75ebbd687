// An in-memory ProcessGroup for tests: N handles on one group, each driven by its own
// thread, with the real groups' semantics and their contract checked (every rank must
// call the same collective with the same tensor count, shapes and dtypes).
#ifndef RIB_WORKER_DIST_FAKE_PROCESS_GROUP_H_
#define RIB_WORKER_DIST_FAKE_PROCESS_GROUP_H_

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "worker/dist/process_group.h"

namespace rib::dist {

// Returns world_size handles (index = rank) on one group; backend() is "fake". Each
// handle is thread-compatible like every ProcessGroup: give each to one thread. The
// handles share state; destroy them all together, after the threads are done.
// A collective that not every rank joins within `timeout` fails with UNAVAILABLE; ranks
// that disagree on the collective (kind, root, tensor count, shapes or dtypes) get
// INVALID_ARGUMENT. After such an error the group is broken: every later call fails.
std::vector<std::unique_ptr<ProcessGroup>> CreateInProcessGroups(
    int world_size, absl::Duration timeout = absl::Seconds(30));

}  // namespace rib::dist

#endif  // RIB_WORKER_DIST_FAKE_PROCESS_GROUP_H_
