// Plain C++ description of one job: what the coordinator stores and hashes, what the
// worker receives and the engine runs. Mirrors rib.v1.JobSpec
// (proto/rib/v1/common.proto); the one conversion is proto/convert/job_spec_convert.h.
// What the fields may hold is the catalog's business (spec/methods.h, spec/suites.h,
// spec/preprocessing.h); how a spec is hashed and stored is spec/job_json.h.
//
// These domain structs stay in namespace rib (not rib::spec): every module speaks them.
#ifndef RIB_SPEC_JOB_SPEC_H_
#define RIB_SPEC_JOB_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rib {

struct Preprocessing {
  int image_size = 224;
  double crop_pct = 0.9;
  std::vector<double> mean = {0.5, 0.5, 0.5};
  std::vector<double> std = {0.5, 0.5, 0.5};
  std::string interpolation = "bicubic";
};

struct ModelSpec {
  std::string name;     // unique within a sweep
  std::string arch;     // "vit_base_patch16_224", "resnet50", "fmnist_vit_tiny", ...
  std::string weights;  // path of .safetensors / TorchScript
  std::string
      weights_digest;  // sha256 hex of the weights file (filled by the coordinator)
  Preprocessing preprocessing;
  int num_classes = 1000;
};

struct MethodSpec {
  std::string name;                           // unique within a sweep (default: kind)
  std::string kind;                           // a kind of spec/methods.h
  std::map<std::string, std::string> params;  // e.g. {"rank","8"}, {"alpha","0.5"}
  std::vector<std::string> members;           // soup: method names averaged with pre
};

// Training defaults are the paper's (DESIGN §6).
struct TrainingConfig {
  std::string optimizer = "sgd";
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0.0;
  int batch_size = 64;
  int epochs = 10;
  int warmup_steps = 196;
  std::string schedule = "cosine";
  std::string precision = "auto";  // auto = fp16 on CUDA, fp32 on CPU; or fp32/fp16/bf16
  int64_t seed = 0;
  bool skip_corrupt = false;
  int max_steps = 0;  // 0 = no cap
  int eval_batch_size = 256;
};

struct JobSpec {
  ModelSpec model;
  MethodSpec method;
  // The matrix row: the dataset the job's weights were fine-tuned on. Empty only for
  // pre; wise-ft and soup (which do not train) carry the dataset their inputs used.
  std::string finetune_dataset;
  std::vector<std::string> eval_datasets;
  TrainingConfig training;
  std::string split = "heldout";  // or "reference"
  double test_fraction = 0.2;
  int devices = 1;
  std::string suite = "fmnist-rib";  // or "imagenet-rib"
  // How ObjectNet's classes map to ImageNet's (worker/data/source.h
  // DatasetOptions::objectnet_mode): "standard" (default) or "reference" (the paper's
  // code's mapping). In the job hash only when not "standard".
  std::string objectnet_mode = "standard";
  // method name → hash of the job whose final weights this job reads.
  std::map<std::string, std::string> dependency_hashes;
};

}  // namespace rib

#endif  // RIB_SPEC_JOB_SPEC_H_
