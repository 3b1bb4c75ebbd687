// The known 2x3 matrix the CLI tests render: model "vit", method "ft", columns
// fmnist-val (the pre-training-set analogue), fmnist-v2, fmnist-a; fine-tune rows
// fmnist-v2 and fmnist-a. RI(i) = mean over downstream j != i of the change vs the
// baseline; the numbers below satisfy DESIGN §7 exactly.
#ifndef RIB_TESTS_CLIENT_TEST_MATRIX_H_
#define RIB_TESTS_CLIENT_TEST_MATRIX_H_

#include <cmath>
#include <string>
#include <vector>

#include "rib/v1/coordinator.pb.h"

namespace rib::client::testing {

inline void AddCell(rib::v1::MatrixRow* row, int64_t correct, int64_t total) {
  rib::v1::Cell* cell = row->add_cells();
  cell->set_present(true);
  cell->set_correct(correct);
  cell->set_total(total);
  const double p = static_cast<double>(correct) / static_cast<double>(total);
  cell->set_accuracy(p);
  cell->set_se(std::sqrt(p * (1 - p) / static_cast<double>(total)));
}

//              val     v2      a      RI     pre-train change
// pre-trained  90.0   80.0   50.0
// v2           88.0   85.0   52.0   +2.00   -2.0
// a            85.0   77.0   70.0   -3.00   -5.0
// mRI -0.50, mean OOD 64.5 (= -0.5 + (80 + 50) / 2), mean pre-training change -3.50;
// the pre-trained model over the same pairs: (50 + 80) / 2 = 65.0. Standard errors are
// given round values (the renderers show what they are given; the server's tests check
// how they are computed): RI ±1.5 and ±2.0 points, mRI ±1.2, mean OOD ±2.0,
// pre-trained ±1.5.
inline rib::v1::Matrix KnownMatrix(const std::string& model = "vit",
                                   const std::string& method = "ft") {
  rib::v1::Matrix m;
  m.set_model(model);
  m.set_method(method);
  m.set_pretrain_dataset("fmnist-val");
  for (const char* d : {"fmnist-val", "fmnist-v2", "fmnist-a"}) m.add_eval_datasets(d);
  AddCell(m.mutable_baseline(), 900, 1000);
  AddCell(m.mutable_baseline(), 400, 500);
  AddCell(m.mutable_baseline(), 100, 200);
  rib::v1::MatrixRow* v2 = m.add_rows();
  v2->set_finetune_dataset("fmnist-v2");
  AddCell(v2, 880, 1000);
  AddCell(v2, 425, 500);
  AddCell(v2, 104, 200);
  v2->set_has_ri(true);
  v2->set_ri(0.02);
  v2->set_has_pretrain_change(true);
  v2->set_pretrain_change(-0.02);
  v2->set_ri_se(0.015);
  v2->set_ri_ci_low(0.02 - 1.96 * 0.015);
  v2->set_ri_ci_high(0.02 + 1.96 * 0.015);
  rib::v1::MatrixRow* a = m.add_rows();
  a->set_finetune_dataset("fmnist-a");
  AddCell(a, 850, 1000);
  AddCell(a, 385, 500);
  AddCell(a, 140, 200);
  a->set_has_ri(true);
  a->set_ri(-0.03);
  a->set_has_pretrain_change(true);
  a->set_pretrain_change(-0.05);
  a->set_ri_se(0.02);
  a->set_ri_ci_low(-0.03 - 1.96 * 0.02);
  a->set_ri_ci_high(-0.03 + 1.96 * 0.02);
  m.set_has_mri(true);
  m.set_mri(-0.005);
  m.set_has_mean_ood(true);
  m.set_mean_ood(0.645);
  m.set_has_mean_pretrain_change(true);
  m.set_mean_pretrain_change(-0.035);
  m.set_mri_se(0.012);
  m.set_mri_ci_low(-0.005 - 1.96 * 0.012);
  m.set_mri_ci_high(-0.005 + 1.96 * 0.012);
  m.set_mean_ood_se(0.02);
  m.set_has_pre_mean_ood(true);
  m.set_pre_mean_ood(0.65);
  m.set_pre_mean_ood_se(0.015);
  return m;
}

}  // namespace rib::client::testing

#endif  // RIB_TESTS_CLIENT_TEST_MATRIX_H_
