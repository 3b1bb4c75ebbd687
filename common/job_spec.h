// Moved to spec/job_spec.h (the spec module). Kept so that code outside the spec
// module's change keeps building while issue 12's parts land; include spec/job_spec.h.
#ifndef RIB_COMMON_JOB_SPEC_H_
#define RIB_COMMON_JOB_SPEC_H_

#include "spec/job_spec.h"  // IWYU pragma: export

#endif  // RIB_COMMON_JOB_SPEC_H_
