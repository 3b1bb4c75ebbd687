// What dist_rank_helper's "collectives" mode writes on every rank of an N-rank group.
#ifndef RIB_TESTS_WORKER_DIST_COLLECTIVES_EXPECTATION_H_
#define RIB_TESTS_WORKER_DIST_COLLECTIVES_EXPECTATION_H_

#include <string>

#include "absl/strings/str_cat.h"

namespace rib::dist::testing {

// Rank r contributes {r+1, 10(r+1)}, a 2x2 of r, and (0,2,4)*(r+1) to the sums; the
// last rank broadcasts {100+N-1 x3} and {N-1}; counts are {r, 1, 1000}.
inline std::string ExpectedCollectives(int n) {
  const int tri = n * (n + 1) / 2;                                           // sum of r+1
  const int tri0 = n * (n - 1) / 2;                                          // sum of r
  return absl::StrCat("sum0=", tri, ",", 10 * tri, "\n",                     //
                      "sum1=", tri0, ",", tri0, ",", tri0, ",", tri0, "\n",  //
                      "sum2=0,", 2 * tri, ",", 4 * tri, "\n",                //
                      "bcast0=", 99 + n, ",", 99 + n, ",", 99 + n, "\n",     //
                      "bcast1=", n - 1, "\n",                                //
                      "counts=", tri0, ",", n, ",", 1000 * n, "\n");
}

}  // namespace rib::dist::testing

#endif  // RIB_TESTS_WORKER_DIST_COLLECTIVES_EXPECTATION_H_
