// The small FMNIST-RIB job the engine and rank tests run for real: fmnist_vit from
// <artifact root>/pre.safetensors, a few steps on fmnist-v2, evaluated on fmnist-val and
// fmnist-c (tests narrow the lists as they need).
#ifndef RIB_TESTS_TESTING_TINY_JOB_H_
#define RIB_TESTS_TESTING_TINY_JOB_H_

#include <string>

#include "spec/job_spec.h"

namespace rib::testing {

inline JobSpec TinyFmnistJob(const std::string& method_kind) {
  JobSpec spec;
  spec.model.name = "vit";
  spec.model.arch = "fmnist_vit";
  spec.model.weights = "pre.safetensors";
  spec.model.num_classes = 10;
  spec.model.preprocessing.image_size = 32;
  spec.model.preprocessing.crop_pct = 1.0;
  spec.method.name = method_kind;
  spec.method.kind = method_kind;
  spec.finetune_dataset = "fmnist-v2";
  spec.eval_datasets = {"fmnist-val", "fmnist-c"};
  spec.training.batch_size = 16;
  spec.training.max_steps = 3;
  spec.training.epochs = 1;
  spec.training.warmup_steps = 1;
  spec.training.lr = 0.01;
  spec.training.eval_batch_size = 128;
  return spec;
}

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_TINY_JOB_H_
