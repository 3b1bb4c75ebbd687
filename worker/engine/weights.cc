#include "worker/engine/weights.h"

#include <torch/script.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spec/weights_format.h"
#include "worker/engine/pth_archive.h"
#include "worker/engine/torch_errors.h"

namespace rib::engine {
namespace {

std::string ShapeString(c10::IntArrayRef shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

bool IsOptional(const std::string& name) {
  return absl::EndsWith(name, "num_batches_tracked");
}

// What the file offers for one name: its shape and whether it is floating point.
struct Offered {
  std::vector<int64_t> shape;
  bool floating = false;
  std::string dtype;
};

// The strict comparison; returns the first mismatch and counts the rest.
absl::Status CheckNames(const NamedTensors& expected,
                        const std::vector<std::pair<std::string, Offered>>& offered,
                        const std::string& source) {
  std::unordered_map<std::string, const Offered*> by_name;
  for (const auto& [name, o] : offered) by_name[name] = &o;
  std::vector<std::string> problems;
  std::unordered_map<std::string, bool> wanted;
  for (const auto& [name, tensor] : expected) {
    wanted[name] = true;
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      if (!IsOptional(name)) {
        problems.push_back(absl::StrCat("missing tensor '", name, "' (module expects shape ",
                                        ShapeString(tensor.sizes()), ")"));
      }
      continue;
    }
    const Offered& o = *it->second;
    if (c10::IntArrayRef(o.shape) != tensor.sizes()) {
      problems.push_back(absl::StrCat("tensor '", name, "' has shape ",
                                      ShapeString(o.shape), " in the file but the module expects ",
                                      ShapeString(tensor.sizes())));
    } else if (o.floating != tensor.is_floating_point()) {
      problems.push_back(absl::StrCat("tensor '", name, "' has dtype ", o.dtype,
                                      " in the file but the module stores ",
                                      c10::toString(tensor.scalar_type())));
    }
  }
  for (const auto& [name, o] : offered) {
    if (!wanted.count(name)) {
      problems.push_back(absl::StrCat("unexpected tensor '", name, "' (not in the module)"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  std::string message = absl::StrCat(source, ": ", problems[0]);
  if (problems.size() > 1) absl::StrAppend(&message, " (and ", problems.size() - 1, " more)");
  return absl::InvalidArgumentError(message);
}

std::vector<std::pair<std::string, Offered>> Describe(const NamedTensors& tensors) {
  std::vector<std::pair<std::string, Offered>> out;
  for (const auto& [name, t] : tensors) {
    Offered o;
    o.shape.assign(t.sizes().begin(), t.sizes().end());
    o.floating = t.is_floating_point();
    o.dtype = c10::toString(t.scalar_type());
    out.emplace_back(name, std::move(o));
  }
  return out;
}

// Copies after a successful check: nothing can fail by now except torch itself, which
// throws to the entry point's boundary (torch_errors.h).
absl::Status CopyInto(const NamedTensors& expected,
                      const std::unordered_map<std::string, torch::Tensor>& values) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : expected) {
    auto it = values.find(name);
    if (it == values.end()) continue;  // an optional buffer
    torch::Tensor dst = target;
    dst.copy_(it->second);
  }
  return absl::OkStatus();
}

// Loads through the descriptor (/proc/self/fd/N: torch opens by name), so the file
// loaded is the one opened, wherever its path points now.
absl::StatusOr<torch::jit::Module> LoadJit(const InputFile& file) {
  try {
    torch::jit::Module module = torch::jit::load(file.ProcPath(), torch::kCPU);
    module.eval();
    return module;
  } catch (const std::exception& e) {
    // Bad input, not a bug: INVALID_ARGUMENT naming the file. The loader's own message
    // is logged at debug level but not returned: it can quote the archive's contents.
    const absl::Status detail = ExceptionToStatus(e, file.path());
    const absl::StatusCode code = detail.code() == absl::StatusCode::kResourceExhausted
                                      ? detail.code()
                                      : absl::StatusCode::kInvalidArgument;
    return absl::Status(code, absl::StrCat(file.path(), ": not a loadable TorchScript file"));
  }
}

// Evaluation-only wrapper around a scripted classifier.
class TorchScriptClassifierImpl : public ClassifierImpl {
 public:
  TorchScriptClassifierImpl(torch::jit::Module module, int64_t num_classes)
      : module_(std::move(module)), num_classes_(num_classes) {}
  torch::Tensor Features(const torch::Tensor& images) override {
    return module_.forward({images}).toTensor();
  }
  torch::Tensor Head(const torch::Tensor& features) override { return features; }
  std::vector<std::string> HeadParameterNames() const override { return {}; }
  int64_t num_classes() const override { return num_classes_; }
  int64_t feature_dim() const override { return num_classes_; }
  int64_t image_size() const override { return 224; }
  void train(bool on) override {
    ClassifierImpl::train(on);
    module_.train(on);
  }
  void to(torch::Device device, bool non_blocking) override {
    module_.to(device, non_blocking);
  }

 private:
  torch::jit::Module module_;
  int64_t num_classes_;
};

}  // namespace

NamedTensors ModuleState(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

absl::Status LoadModuleState(torch::nn::Module& module, const NamedTensors& tensors,
                             const std::string& source) {
  const NamedTensors expected = ModuleState(module);
  RIB_RETURN_IF_ERROR(CheckNames(expected, Describe(tensors), source));
  std::unordered_map<std::string, torch::Tensor> values;
  for (const auto& [name, t] : tensors) values[name] = t;
  return CopyInto(expected, values);
}

absl::Status LoadSafetensorsInto(torch::nn::Module& module, const std::string& path) {
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenRegularFile(path, "weights"));
  return LoadSafetensorsInto(module, std::move(file));
}

absl::Status LoadSafetensorsInto(torch::nn::Module& module, InputFile file) {
  const std::string path = file.path();
  RIB_ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open(std::move(file)));
  std::vector<std::pair<std::string, Offered>> offered;
  for (const auto& e : reader->header().entries) {
    Offered o;
    o.shape = e.shape;
    o.floating = e.dtype == "F64" || e.dtype == "F32" || e.dtype == "F16" || e.dtype == "BF16";
    o.dtype = e.dtype;
    offered.emplace_back(e.name, std::move(o));
  }
  const NamedTensors expected = ModuleState(module);
  RIB_RETURN_IF_ERROR(CheckNames(expected, offered, path));
  // Read everything before touching the module, so a read error leaves it unchanged.
  std::unordered_map<std::string, torch::Tensor> values;
  for (const auto& e : reader->header().entries) {
    RIB_ASSIGN_OR_RETURN(values[e.name], reader->Read(e));
  }
  return CopyInto(expected, values);
}

absl::Status LoadTorchScriptInto(torch::nn::Module& module, const std::string& path) {
  RIB_ASSIGN_OR_RETURN(InputFile file, OpenRegularFile(path, "weights"));
  return LoadTorchScriptInto(module, file);
}

absl::Status LoadTorchScriptInto(torch::nn::Module& module, const InputFile& file) {
  const std::string& path = file.path();
  RIB_ASSIGN_OR_RETURN(torch::jit::Module jit, LoadJit(file));
  NamedTensors tensors;
  for (const auto& p : jit.named_parameters(/*recurse=*/true)) {
    tensors.emplace_back(p.name, p.value);
  }
  for (const auto& b : jit.named_buffers(/*recurse=*/true)) {
    tensors.emplace_back(b.name, b.value);
  }
  return LoadModuleState(module, tensors, path);
}

absl::Status LoadTorchStateDictInto(torch::nn::Module& module, const InputFile& file) {
  RIB_ASSIGN_OR_RETURN(const NamedTensors tensors, ReadTorchStateDict(file));
  return LoadModuleState(module, tensors, file.path());
}

absl::StatusOr<Classifier> LoadClassifier(const std::string& arch, int64_t num_classes,
                                          const std::string& path) {
  absl::StatusOr<InputFile> file = OpenRegularFile(path, "weights");
  if (!file.ok()) {
    // An unknown architecture is the first thing to say.
    const std::vector<std::string> known = KnownArchs();
    if (arch != spec::kTorchScriptArch &&
        std::find(known.begin(), known.end(), arch) == known.end()) {
      return CreateModel(arch, num_classes).status();
    }
    return file.status();
  }
  return LoadClassifier(arch, num_classes, *std::move(file));
}

absl::StatusOr<Classifier> LoadClassifier(const std::string& arch, int64_t num_classes,
                                          InputFile file) {
  if (arch == spec::kTorchScriptArch) {
    if (num_classes < 1) {
      return absl::InvalidArgumentError("num_classes must be >= 1 for a TorchScript model");
    }
    RIB_ASSIGN_OR_RETURN(torch::jit::Module jit, LoadJit(file));
    return Classifier(std::shared_ptr<ClassifierImpl>(
        std::make_shared<TorchScriptClassifierImpl>(std::move(jit), num_classes)));
  }
  RIB_ASSIGN_OR_RETURN(Classifier model, CreateModel(arch, num_classes));
  if (spec::IsTorchStateDictArchive(file.fd())) {
    RIB_RETURN_IF_ERROR(LoadTorchStateDictInto(*model, file));
  } else if (spec::IsTorchScriptWeights(file.path(), file.fd())) {
    RIB_RETURN_IF_ERROR(LoadTorchScriptInto(*model, file));
  } else {
    RIB_RETURN_IF_ERROR(LoadSafetensorsInto(*model, std::move(file)));
  }
  return model;
}

absl::Status SaveClassifier(const Classifier& model, const std::string& path,
                            const std::map<std::string, std::string>& metadata) {
  NamedTensors state;
  for (auto& [name, t] : ModuleState(*model)) {
    state.emplace_back(
        name, t.is_floating_point() ? t.detach().to(torch::kFloat32) : t.detach());
  }
  std::map<std::string, std::string> meta = metadata;
  meta.emplace("format", "pt");
  return WriteSafetensors(path, state, meta);
}

absl::Status CopyClassifierState(const ClassifierImpl& from, ClassifierImpl& to) {
  return LoadModuleState(to, ModuleState(from), "model copy");
}

}  // namespace rib::engine
