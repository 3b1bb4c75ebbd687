// The known 2x3 matrix the CLI tests render: model "vit", method "ft", columns
// fmnist-val (the pre-training-set analogue), fmnist-v2, fmnist-a; fine-tune rows
// fmnist-v2 and fmnist-a. RI(i) = mean over downstream j != i of the change vs the
// baseline; the numbers below satisfy DESIGN §7 exactly.
#ifndef RIB_TESTS_CLIENT_TEST_MATRIX_H_
#define RIB_TESTS_CLIENT_TEST_MATRIX_H_

#include <string>
#include <vector>

#include "rib/v1/coordinator.pb.h"

namespace rib::client::testing {

inline void AddCell(rib::v1::MatrixRow* row, int64_t correct, int64_t total) {
  rib::v1::Cell* cell = row->add_cells();
  cell->set_present(true);
  cell->set_correct(correct);
  cell->set_total(total);
  cell->set_accuracy(static_cast<double>(correct) / static_cast<double>(total));
}

//              val     v2      a      RI     pre-train change
// pre-trained  90.0   80.0   50.0
// v2           88.0   85.0   52.0   +2.00   -2.0
// a            85.0   77.0   70.0   -3.00   -5.0
// mRI -0.50, mean OOD 64.5 (= -0.5 + (80 + 50) / 2), mean pre-training change -3.50
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
  rib::v1::MatrixRow* a = m.add_rows();
  a->set_finetune_dataset("fmnist-a");
  AddCell(a, 850, 1000);
  AddCell(a, 385, 500);
  AddCell(a, 140, 200);
  a->set_has_ri(true);
  a->set_ri(-0.03);
  a->set_has_pretrain_change(true);
  a->set_pretrain_change(-0.05);
  m.set_has_mri(true);
  m.set_mri(-0.005);
  m.set_has_mean_ood(true);
  m.set_mean_ood(0.645);
  m.set_has_mean_pretrain_change(true);
  m.set_mean_pretrain_change(-0.035);
  return m;
}

}  // namespace rib::client::testing

#endif  // RIB_TESTS_CLIENT_TEST_MATRIX_H_
