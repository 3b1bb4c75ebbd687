#include "worker/engine/methods.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spec/methods.h"
#include "worker/engine/collectives.h"

namespace rib::engine {
namespace {

void SetRequiresGrad(ClassifierImpl& model, bool value) {
  for (auto& p : model.parameters()) p.set_requires_grad(value);
}

NamedTensors StateOf(ClassifierImpl& model) {
  NamedTensors state;
  for (const auto& item : model.named_parameters()) state.emplace_back(item.key(), item.value());
  for (const auto& item : model.named_buffers()) state.emplace_back(item.key(), item.value());
  return state;
}

// The setup's state (every parameter and buffer of the model) and its buffers (kept in
// step across ranks at every step: TrainSetup::buffers).
void SetModelState(ClassifierImpl& model, TrainSetup* setup) {
  setup->state = StateOf(model);
  setup->buffers.clear();
  for (const auto& item : model.named_buffers()) {
    setup->buffers.emplace_back(item.key(), item.value());
  }
}

// ft, lpft, lwf, ewc, l2sp: every parameter, plus an optional penalty or distillation
// term added to the masked cross-entropy.
class FullMethod : public TrainingMethod {
 public:
  using Extra = std::function<torch::Tensor(const Batch&, const torch::Tensor& logits)>;
  FullMethod(MethodContext context, Extra extra) : TrainingMethod(std::move(context)) {
    Classifier model = context_.model;
    SetRequiresGrad(*model, true);
    for (const auto& item : model->named_parameters()) {
      setup_.trainable.emplace_back(item.key(), item.value());
    }
    SetModelState(*model, &setup_);
    LabelMask mask = context_.mask;
    setup_.loss = [model, mask, extra](const Batch& batch) mutable {
      torch::Tensor logits = model->forward(batch.images);
      torch::Tensor loss = mask.Loss(logits, batch.labels);
      if (extra) loss = loss + extra(batch, logits);
      return loss;
    };
    setup_.set_mode = [model]() mutable { model->train(); };
  }
  void set_after_step(std::function<void(double)> f) { setup_.after_step = std::move(f); }
};

// Marks the named parameters of `model` trainable and appends them to `trainable`.
absl::Status MakeTrainable(ClassifierImpl& model, const std::vector<std::string>& names,
                   NamedTensors* trainable) {
  auto params = model.named_parameters();
  for (const std::string& name : names) {
    torch::Tensor* p = params.find(name);
    if (p == nullptr) return absl::InternalError(absl::StrCat("parameter '", name, "' not found"));
    p->set_requires_grad(true);
    trainable->emplace_back(name, *p);
  }
  return absl::OkStatus();
}

// lp (spec/methods.h). {trainable: head}: the head only, on features of the backbone
// in eval mode (batch-norm statistics do not move). {trainable: reference}: the
// reference code's HeadOnly: also the embedding parameters (a ViT's cls/pos/norms),
// the model in train mode (a ResNet's batch-norm statistics move).
class LinearProbe : public TrainingMethod {
 public:
  static absl::StatusOr<std::unique_ptr<TrainingMethod>> Make(MethodContext context,
                                                              const std::string& trainable) {
    auto method = std::unique_ptr<LinearProbe>(new LinearProbe(std::move(context)));
    Classifier model = method->context_.model;
    SetRequiresGrad(*model, false);
    const bool reference = trainable == "reference";
    RIB_RETURN_IF_ERROR(MakeTrainable(*model, model->HeadParameterNames(), &method->setup_.trainable));
    const std::vector<std::string> embedding =
        reference ? model->EmbeddingParameterNames() : std::vector<std::string>();
    RIB_RETURN_IF_ERROR(MakeTrainable(*model, embedding, &method->setup_.trainable));
    SetModelState(*model, &method->setup_);
    LabelMask mask = method->context_.mask;
    // Without trainable embedding parameters no gradient needs the backbone.
    const bool backbone_grad = !embedding.empty();
    method->setup_.loss = [model, mask, backbone_grad](const Batch& batch) mutable {
      torch::Tensor features;
      if (backbone_grad) {
        features = model->Features(batch.images);
      } else {
        torch::NoGradGuard no_grad;
        features = model->Features(batch.images);
      }
      return mask.Loss(model->Head(features), batch.labels);
    };
    method->setup_.set_mode = [model, reference]() mutable {
      if (reference) {
        model->train();
      } else {
        model->eval();
      }
    };
    return std::unique_ptr<TrainingMethod>(std::move(method));
  }

 private:
  using TrainingMethod::TrainingMethod;
};

class Lora : public TrainingMethod {
 public:
  // {train_extra: reference}: also the embedding parameters, in train mode (the
  // reference code); {train_extra: none}: the adapters only, in eval mode.
  static absl::StatusOr<std::unique_ptr<TrainingMethod>> Make(MethodContext context,
                                                              int64_t rank, double alpha,
                                                              const std::string& train_extra) {
    auto method = std::unique_ptr<Lora>(new Lora(std::move(context)));
    Classifier model = method->context_.model;
    std::set<std::string> base;
    for (const auto& item : model->named_parameters()) base.insert(item.key());
    RIB_RETURN_IF_ERROR(model->EnableLora(rank, alpha));
    model->to(method->context_.device);
    SetRequiresGrad(*model, false);
    for (const auto& item : model->named_parameters()) {
      if (base.count(item.key())) continue;
      item.value().set_requires_grad(true);
      method->setup_.trainable.emplace_back(item.key(), item.value());
    }
    if (method->setup_.trainable.empty()) {
      return absl::InternalError("EnableLora added no parameters");
    }
    const bool reference = train_extra == "reference";
    if (reference) {
      RIB_RETURN_IF_ERROR(
          MakeTrainable(*model, model->EmbeddingParameterNames(), &method->setup_.trainable));
    }
    SetModelState(*model, &method->setup_);
    LabelMask mask = method->context_.mask;
    method->setup_.loss = [model, mask](const Batch& batch) mutable {
      return mask.Loss(model->forward(batch.images), batch.labels);
    };
    // none: eval mode, the base model frozen, normalisation statistics included.
    method->setup_.set_mode = [model, reference]() mutable {
      if (reference) {
        model->train();
      } else {
        model->eval();
      }
    };
    return std::unique_ptr<TrainingMethod>(std::move(method));
  }
  absl::Status Finish() override {
    RIB_RETURN_IF_ERROR(context_.model->MergeLora());
    return TrainingMethod::Finish();
  }

 private:
  using TrainingMethod::TrainingMethod;
};

// Visual prompting (Bahng et al.'s padding prompter): a learned border of `pad`/224 of
// the image side added to the normalised input; the whole model is frozen. {init:
// normal}: the prompt starts N(0, 1), drawn from the job's seed (the reference);
// {init: zeros}: at zero, so step 0 evaluates like the pre-trained model.
class VisualPrompt : public TrainingMethod {
 public:
  static absl::StatusOr<std::unique_ptr<TrainingMethod>> Make(MethodContext context,
                                                              double pad,
                                                              const std::string& init) {
    auto method = std::unique_ptr<VisualPrompt>(new VisualPrompt(std::move(context)));
    Classifier model = method->context_.model;
    const int64_t size = model->image_size();
    const int64_t width = std::llround(pad / 224.0 * static_cast<double>(size));
    if (width <= 0 || 2 * width >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vp: pad ", pad, " gives a border of ", width, " px on a ", size, " px image"));
    }
    SetRequiresGrad(*model, false);
    torch::Tensor border = torch::ones({1, model->in_channels(), size, size});
    border.slice(2, width, size - width).slice(3, width, size - width).zero_();
    method->border_ = border.to(method->context_.device);
    torch::Tensor start;
    if (init == "normal") {
      // On the CPU from its own generator: the same prompt on every device and rank.
      at::Generator generator =
          at::make_generator<at::CPUGeneratorImpl>(method->context_.seed);
      start = torch::randn({1, model->in_channels(), size, size}, generator);
    } else {
      start = torch::zeros({1, model->in_channels(), size, size});
    }
    method->prompt_ = start.to(method->context_.device).set_requires_grad(true);
    method->setup_.trainable.emplace_back("prompt", method->prompt_);
    SetModelState(*model, &method->setup_);
    method->setup_.state.emplace_back("prompt", method->prompt_);
    LabelMask mask = method->context_.mask;
    torch::Tensor prompt = method->prompt_, border_mask = method->border_;
    method->setup_.loss = [model, mask, prompt, border_mask](const Batch& batch) mutable {
      return mask.Loss(model->forward(batch.images + prompt * border_mask), batch.labels);
    };
    method->setup_.set_mode = [model]() mutable { model->eval(); };
    return std::unique_ptr<TrainingMethod>(std::move(method));
  }
  ForwardFn EvalForward() override {
    return PromptedForward(context_.model, (prompt_ * border_).detach());
  }
  TensorMap ExtraWeights() override {
    return {{"prompt", (prompt_ * border_).detach().cpu()}};
  }

 private:
  using TrainingMethod::TrainingMethod;
  torch::Tensor prompt_, border_;
};

// θ_pre for the trainable parameters (the penalties' anchor), detached copies.
std::vector<torch::Tensor> Anchor(const NamedTensors& trainable) {
  std::vector<torch::Tensor> anchor;
  for (const auto& [name, p] : trainable) anchor.push_back(p.detach().clone());
  return anchor;
}

}  // namespace

absl::StatusOr<std::vector<torch::Tensor>> EstimateFisher(
    const ForwardFn& logits_of, const NamedTensors& params, BatchStream& stream,
    const LabelMask& mask, torch::Device device, dist::ProcessGroup* group) {
  std::vector<torch::Tensor> inputs, fisher;
  for (const auto& [name, p] : params) {
    inputs.push_back(p);
    fisher.push_back(torch::zeros_like(p, p.options().dtype(torch::kFloat)));
  }
  Batch batch;
  int64_t examples = 0;
  while (true) {
    RIB_ASSIGN_OR_RETURN(bool more, stream.Next(&batch));
    if (!more) break;
    const torch::Tensor images = batch.images.to(device);
    const torch::Tensor labels = batch.labels.to(device);
    // Micro-batch 1: each example's own gradient, so the sum of their squares does not
    // depend on how examples are grouped into batches or shards.
    for (int64_t i = 0; i < images.size(0); ++i) {
      torch::Tensor loss =
          mask.Loss(logits_of(images.slice(0, i, i + 1)), labels.slice(0, i, i + 1));
      std::vector<torch::Tensor> grads = torch::autograd::grad(
          {loss}, inputs, /*grad_outputs=*/{}, /*retain_graph=*/false,
          /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t k = 0; k < grads.size(); ++k) {
        if (grads[k].defined())
          fisher[k].add_(grads[k].detach().to(torch::kFloat).square());
      }
      ++examples;
    }
  }
  torch::Tensor count = torch::tensor({examples}, torch::kLong);
  RIB_RETURN_IF_ERROR(
      Annotate(AllReduceSum(group, {count}), "ewc: summing Fisher counts"));
  RIB_RETURN_IF_ERROR(Annotate(AllReduceSum(group, fisher), "ewc: summing the Fisher"));
  const int64_t total = count.item<int64_t>();
  if (total <= 0) {
    return absl::InvalidArgumentError("ewc: the Fisher dataset yielded no example");
  }
  for (auto& f : fisher) f.div_(static_cast<double>(total));
  return fisher;
}

absl::StatusOr<std::unique_ptr<TrainingMethod>> TrainingMethod::Create(
    const MethodSpec& spec, MethodContext context) {
  RIB_RETURN_IF_ERROR(rib::spec::ValidateMethod(spec));
  if (!rib::spec::MethodTrains(spec.kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat("method kind '", spec.kind, "' does not train"));
  }
  if (!context.model) return absl::InvalidArgumentError("no model");
  context.model->to(context.device);
  const std::string& kind = spec.kind;
  if (kind == "ft" || kind == "lpft") {
    return std::unique_ptr<TrainingMethod>(new FullMethod(std::move(context), nullptr));
  }
  if (kind == "lp") {
    RIB_ASSIGN_OR_RETURN(std::string trainable,
                         rib::spec::MethodParamChoice(spec, "trainable"));
    return LinearProbe::Make(std::move(context), trainable);
  }
  if (kind == "lora") {
    RIB_ASSIGN_OR_RETURN(int64_t rank, rib::spec::MethodParamInt(spec, "rank"));
    RIB_ASSIGN_OR_RETURN(double alpha, rib::spec::MethodParamReal(spec, "alpha"));
    RIB_ASSIGN_OR_RETURN(std::string extra, rib::spec::MethodParamChoice(spec, "train_extra"));
    return Lora::Make(std::move(context), rank, alpha, extra);
  }
  if (kind == "vp") {
    RIB_ASSIGN_OR_RETURN(double pad, rib::spec::MethodParamReal(spec, "pad"));
    RIB_ASSIGN_OR_RETURN(std::string init, rib::spec::MethodParamChoice(spec, "init"));
    return VisualPrompt::Make(std::move(context), pad, init);
  }
  if (kind == "lwf") {
    RIB_ASSIGN_OR_RETURN(double alpha, rib::spec::MethodParamReal(spec, "alpha"));
    RIB_ASSIGN_OR_RETURN(double temperature,
                         rib::spec::MethodParamReal(spec, "temperature"));
    if (!context.new_model) return absl::InvalidArgumentError("lwf: no model factory");
    RIB_ASSIGN_OR_RETURN(Classifier teacher, context.new_model());
    RIB_RETURN_IF_ERROR(LoadWeights(*teacher, CloneWeights(ModelWeights(*context.model))));
    teacher->to(context.device);
    teacher->eval();
    SetRequiresGrad(*teacher, false);
    LabelMask mask = context.mask;
    auto extra = [teacher, mask, alpha, temperature](const Batch& batch,
                                                    const torch::Tensor& logits) mutable {
      torch::Tensor teacher_logits;
      {
        torch::NoGradGuard no_grad;
        teacher_logits = mask.Restrict(teacher->forward(batch.images)).to(torch::kFloat);
      }
      torch::Tensor log_p = torch::log_softmax(teacher_logits / temperature, 1);
      torch::Tensor log_q = torch::log_softmax(mask.Restrict(logits).to(torch::kFloat) /
                                                   temperature, 1);
      torch::Tensor kl = (log_p.exp() * (log_p - log_q)).sum(1).mean();
      return alpha * kl;
    };
    return std::unique_ptr<TrainingMethod>(new FullMethod(std::move(context), extra));
  }
  // ewc / l2sp: quadratic pull towards θ_pre.
  const bool ewc = kind == "ewc";
  RIB_ASSIGN_OR_RETURN(double lambda, rib::spec::MethodParamReal(spec, "lambda"));
  auto method = std::make_unique<FullMethod>(context, nullptr);
  const NamedTensors trainable = method->setup().trainable;
  std::vector<torch::Tensor> anchor = Anchor(trainable);
  if (ewc) {
    // λ/2 Σ F (θ − θ_pre)² is applied as its proximal step after each SGD step on the
    // cross-entropy: θ ← (θ + η·λF·θ_pre) / (1 + η·λF), the exact minimiser of the
    // penalty plus the distance to the SGD iterate. Same objective; unlike a gradient
    // step on the penalty (which diverges once η·λ·F > 2, and F estimated on the
    // fine-tuning data is large where the pre-trained model fits worst), stable at any
    // η·λ·F. The reported loss is the cross-entropy alone.
    if (lambda == 0) return std::unique_ptr<TrainingMethod>(std::move(method));
    if (context.fisher_data == nullptr) {
      return absl::InvalidArgumentError(
          "ewc: no Fisher data (MethodContext::fisher_data)");
    }
    // At θ_pre, in eval mode: batch-norm statistics are used, not moved.
    context.model->eval();
    std::vector<torch::Tensor> curvature;
    {
      // The Fisher is fp32 whatever the training precision.
      ClassifierImpl& model = *context.model;
      RIB_ASSIGN_OR_RETURN(
          curvature,
          EstimateFisher([&model](const torch::Tensor& x) { return model.forward(x); },
                         trainable, *context.fisher_data, context.fisher_mask,
                         context.device, context.group));
    }
    for (size_t i = 0; i < curvature.size(); ++i) {
      curvature[i] = curvature[i].to(trainable[i].second.scalar_type()).mul_(lambda);
    }
    method->set_after_step([trainable, anchor, curvature](double lr) {
      for (size_t i = 0; i < trainable.size(); ++i) {
        torch::Tensor k = curvature[i] * lr;
        torch::Tensor p = trainable[i].second;
        p.add_(anchor[i] * k).div_(k + 1.0);
      }
    });
    return std::unique_ptr<TrainingMethod>(std::move(method));
  }
  auto extra = [trainable, anchor, lambda](const Batch&, const torch::Tensor&) {
    torch::Tensor penalty = torch::zeros({}, trainable.front().second.options());
    for (size_t i = 0; i < trainable.size(); ++i) {
      penalty = penalty + lambda * (trainable[i].second - anchor[i]).square().sum();
    }
    return penalty;
  };
  return std::unique_ptr<TrainingMethod>(new FullMethod(std::move(context), extra));
}

ForwardFn TrainingMethod::EvalForward() { return context_.model->Inference(); }

absl::Status TrainingMethod::Finish() {
  context_.model->eval();
  SetRequiresGrad(*context_.model, false);
  return absl::OkStatus();
}

ForwardFn PromptedForward(Classifier model, torch::Tensor prompt) {
  return [inference = model->Inference(), prompt](const torch::Tensor& images) {
    return inference(images + prompt.to(images.device()));
  };
}

TensorMap ModelWeights(ClassifierImpl& model) {
  TensorMap map;
  for (const auto& [name, t] : StateOf(model)) map[name] = t;
  return map;
}

TensorMap CloneWeights(const TensorMap& weights) {
  TensorMap out;
  for (const auto& [name, t] : weights) out[name] = t.detach().clone();
  return out;
}

absl::Status LoadWeights(ClassifierImpl& model, const TensorMap& weights) {
  TensorMap target = ModelWeights(model);
  for (const auto& [name, t] : weights) {
    if (!target.count(name)) {
      return absl::FailedPreconditionError(
          absl::StrCat("weights have '", name, "', which the model does not"));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : target) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      return absl::FailedPreconditionError(absl::StrCat("weights lack '", name, "'"));
    }
    if (it->second.sizes() != t.sizes()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "'", name, "' has shape ", c10::str(it->second.sizes()), ", the model expects ",
          c10::str(t.sizes())));
    }
    t.copy_(it->second);
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorMap> InterpolateWeights(const TensorMap& a, const TensorMap& b,
                                             double alpha) {
  if (a.size() != b.size()) {
    return absl::InvalidArgumentError(absl::StrCat("weight maps differ in size: ", a.size(),
                                                   " vs ", b.size()));
  }
  TensorMap out;
  for (const auto& [name, ta] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' missing from one side"));
    }
    const torch::Tensor& tb = it->second;
    if (ta.sizes() != tb.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' shapes differ"));
    }
    if (!ta.is_floating_point()) {
      out[name] = (alpha < 0.5 ? ta : tb).detach().clone();  // the nearer endpoint
      continue;
    }
    torch::Tensor fa = ta.detach().to(torch::kFloat), fb = tb.detach().to(torch::kFloat);
    out[name] = ((1.0 - alpha) * fa + alpha * fb).to(ta.scalar_type());
  }
  return out;
}

absl::StatusOr<TensorMap> AverageWeights(const std::vector<TensorMap>& members) {
  if (members.empty()) return absl::InvalidArgumentError("soup of nothing");
  TensorMap out;
  for (const auto& [name, first] : members.front()) {
    if (!first.is_floating_point()) {
      out[name] = first.detach().clone();
      continue;
    }
    torch::Tensor sum = torch::zeros(first.sizes(), first.options().dtype(torch::kFloat));
    for (size_t m = 0; m < members.size(); ++m) {
      auto it = members[m].find(name);
      if (it == members[m].end() || it->second.sizes() != first.sizes()) {
        return absl::InvalidArgumentError(
            absl::StrCat("soup member ", m, " lacks '", name, "' or has another shape"));
      }
      sum += it->second.detach().to(torch::kFloat);
    }
    out[name] = (sum / static_cast<double>(members.size())).to(first.scalar_type());
  }
  for (size_t m = 1; m < members.size(); ++m) {
    if (members[m].size() != out.size()) {
      return absl::InvalidArgumentError(absl::StrCat("soup member ", m, " has ",
                                                     members[m].size(), " tensors, not ",
                                                     out.size()));
    }
  }
  return out;
}

}  // namespace rib::engine
