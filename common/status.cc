#include "common/status_macros.h"

// status_macros.h is header-only; this file keeps rib_common a real library until
// the first .cc lands here.
namespace rib::internal {
void CommonAnchor() {}
}  // namespace rib::internal
