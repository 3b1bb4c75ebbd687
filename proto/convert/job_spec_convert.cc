#include "proto/convert/job_spec_convert.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rib::convert {
namespace {

// Copies `from` into `to` unless it is the proto3 zero value.
void SetIfNonEmpty(const std::string& from, std::string* to) {
  if (!from.empty()) *to = from;
}
template <typename T>
void SetIfPositive(T from, T* to) {
  if (from > 0) *to = from;
}

}  // namespace

absl::StatusOr<JobSpec> JobSpecFromProto(const v1::JobSpec& proto) {
  JobSpec spec;
  const v1::ModelSpec& m = proto.model();
  if (m.arch().empty())
    return absl::InvalidArgumentError("job spec: model.arch is empty");
  spec.model.name = m.name();
  spec.model.arch = m.arch();
  spec.model.weights = m.weights();
  spec.model.weights_digest = m.weights_digest();
  SetIfPositive(m.num_classes(), &spec.model.num_classes);
  if (m.has_preprocessing()) {
    const v1::Preprocessing& p = m.preprocessing();
    Preprocessing& out = spec.model.preprocessing;
    SetIfPositive(p.image_size(), &out.image_size);
    SetIfPositive(p.crop_pct(), &out.crop_pct);
    if (p.mean_size() > 0) out.mean.assign(p.mean().begin(), p.mean().end());
    if (p.std_size() > 0) out.std.assign(p.std().begin(), p.std().end());
    SetIfNonEmpty(p.interpolation(), &out.interpolation);
  }

  const v1::MethodSpec& method = proto.method();
  if (method.kind().empty()) {
    return absl::InvalidArgumentError("job spec: method.kind is empty");
  }
  spec.method.kind = method.kind();
  spec.method.name = method.name().empty() ? method.kind() : method.name();
  spec.method.params.insert(method.params().begin(), method.params().end());
  spec.method.members.assign(method.members().begin(), method.members().end());

  spec.finetune_dataset = proto.finetune_dataset();
  spec.eval_datasets.assign(proto.eval_datasets().begin(), proto.eval_datasets().end());

  if (proto.has_training()) {
    const v1::TrainingConfig& t = proto.training();
    TrainingConfig& out = spec.training;
    SetIfNonEmpty(t.optimizer(), &out.optimizer);
    out.lr = t.lr();
    out.momentum = t.momentum();
    out.weight_decay = t.weight_decay();
    SetIfPositive(t.batch_size(), &out.batch_size);
    SetIfPositive(t.epochs(), &out.epochs);
    if (t.warmup_steps() < 0 || t.max_steps() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("job spec: negative warmup_steps (",
                                                     t.warmup_steps(), ") or max_steps (",
                                                     t.max_steps(), ")"));
    }
    out.warmup_steps = t.warmup_steps();
    SetIfNonEmpty(t.schedule(), &out.schedule);
    SetIfNonEmpty(t.precision(), &out.precision);
    out.seed = t.seed();
    out.skip_corrupt = t.skip_corrupt();
    out.max_steps = t.max_steps();
    SetIfPositive(t.eval_batch_size(), &out.eval_batch_size);
  }
  SetIfNonEmpty(proto.split(), &spec.split);
  SetIfPositive(proto.test_fraction(), &spec.test_fraction);
  if (proto.devices() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("job spec: devices must be >= 1, got ", proto.devices()));
  }
  SetIfPositive(proto.devices(), &spec.devices);
  SetIfNonEmpty(proto.suite(), &spec.suite);
  SetIfNonEmpty(proto.objectnet_mode(), &spec.objectnet_mode);
  spec.dependency_hashes.insert(proto.dependency_hashes().begin(),
                                proto.dependency_hashes().end());
  return spec;
}

v1::JobSpec JobSpecToProto(const JobSpec& spec) {
  v1::JobSpec proto;
  v1::ModelSpec* m = proto.mutable_model();
  m->set_name(spec.model.name);
  m->set_arch(spec.model.arch);
  m->set_weights(spec.model.weights);
  m->set_weights_digest(spec.model.weights_digest);
  m->set_num_classes(spec.model.num_classes);
  v1::Preprocessing* p = m->mutable_preprocessing();
  p->set_image_size(spec.model.preprocessing.image_size);
  p->set_crop_pct(spec.model.preprocessing.crop_pct);
  for (double v : spec.model.preprocessing.mean) p->add_mean(v);
  for (double v : spec.model.preprocessing.std) p->add_std(v);
  p->set_interpolation(spec.model.preprocessing.interpolation);

  v1::MethodSpec* method = proto.mutable_method();
  method->set_name(spec.method.name);
  method->set_kind(spec.method.kind);
  for (const auto& [k, v] : spec.method.params) (*method->mutable_params())[k] = v;
  for (const auto& member : spec.method.members) method->add_members(member);

  proto.set_finetune_dataset(spec.finetune_dataset);
  for (const auto& d : spec.eval_datasets) proto.add_eval_datasets(d);

  v1::TrainingConfig* t = proto.mutable_training();
  const TrainingConfig& in = spec.training;
  t->set_optimizer(in.optimizer);
  t->set_lr(in.lr);
  t->set_momentum(in.momentum);
  t->set_weight_decay(in.weight_decay);
  t->set_batch_size(in.batch_size);
  t->set_epochs(in.epochs);
  t->set_warmup_steps(in.warmup_steps);
  t->set_schedule(in.schedule);
  t->set_precision(in.precision);
  t->set_seed(in.seed);
  t->set_skip_corrupt(in.skip_corrupt);
  t->set_max_steps(in.max_steps);
  t->set_eval_batch_size(in.eval_batch_size);

  proto.set_split(spec.split);
  proto.set_test_fraction(spec.test_fraction);
  proto.set_devices(spec.devices);
  proto.set_suite(spec.suite);
  proto.set_objectnet_mode(spec.objectnet_mode);
  for (const auto& [k, v] : spec.dependency_hashes) {
    (*proto.mutable_dependency_hashes())[k] = v;
  }
  return proto;
}

}  // namespace rib::convert
