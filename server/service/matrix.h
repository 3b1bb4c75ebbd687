// Builds the robustness-inheritance matrices of a sweep from its jobs and their result
// rows (Repository::GetMatrixJobs, one SQL query). Pure; thread-compatible.
#ifndef RIB_SERVER_SERVICE_MATRIX_H_
#define RIB_SERVER_SERVICE_MATRIX_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/domain/types.h"
#include "server/storage/repository.h"

namespace rib::service {

// One matrix per (model, method) of the sweep, methods in sweep order, `pre` excluded
// (it is every matrix's baseline row). `model` / `method` filter when non-empty
// (NOT_FOUND when they name nothing in the sweep). Cells without results are absent;
// the shape (rows = fine-tune datasets, columns = eval datasets) is always complete.
// Every cell carries its binomial SE and RI / mRI their SEs and 95% intervals
// (common/robustness.h). When the jobs ran with 2 or more seeds (MatrixJob.seed), each
// seed's matrices are built alone and combined: means over the seeds (a value only
// when every seed has it), the SE of the mean, the sample sd over seeds.
absl::StatusOr<std::vector<domain::Matrix>> BuildMatrices(
    const domain::Sweep& sweep, const std::vector<storage::MatrixJob>& jobs,
    const std::string& model, const std::string& method);

// One point of the OTDD scatter: a row of a returned matrix with both values.
struct OtddPoint {
  std::string model;
  std::string finetune_dataset;
  double otdd = 0;
  double pretrain_change = 0;
};
// The rows of `matrices` with `method` that have an OTDD and a pre-training-set
// change, in matrix and row order.
std::vector<OtddPoint> OtddPoints(const std::vector<domain::Matrix>& matrices,
                                  const std::string& method);
// Sets every matrix's otdd_correlation / otdd_line from OtddPoints of its method
// (BuildMatrices calls it; the points are all the returned matrices', so a model
// filter narrows them).
void AddOtddCorrelations(std::vector<domain::Matrix>& matrices);

}  // namespace rib::service

#endif  // RIB_SERVER_SERVICE_MATRIX_H_
