// rib-bench-engine: training-step and evaluation throughput of the engine's models.
//
// For each case it writes, into --out, the initial weights and the in-memory random data
// (so bench/engine/peer.py runs the Python loop on exactly the same tensors), then
// measures here and writes <case>.cpp.json: images/s for training and evaluation, the
// loss of every training step, the analytic FLOPs per image, and this CPU's measured
// fp32 matmul peak. bench/engine/run.sh runs both sides and prints the table.
//
// The training step is written out plainly (SGD with momentum 0.9, as torch.optim.SGD)
// so the benchmark does not depend on the trainer.
//
// --device=cuda --precision=bf16|fp16 (scripts/gpu_check.sh) runs the same loop on the
// GPU under the engine's autocast (AutocastScope, and LossScaler for fp16, as the
// trainer applies them); the initial logits for the parity check are always computed on
// the CPU in fp32 (<case>.init_logits.safetensors).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "worker/engine/model.h"
#include "worker/engine/precision.h"
#include "worker/engine/resnet.h"
#include "worker/engine/safetensors.h"
#include "worker/engine/threads.h"
#include "worker/engine/vit.h"
#include "worker/engine/weights.h"

namespace rib::engine {
namespace {

struct Case {
  std::string name;  // also the arch
  int64_t train_batch;
  int64_t eval_batch;
  int warmup_steps;  // untimed training steps first (allocator, caches)
  int timed_steps;   // per repetition
  int eval_batches;  // per repetition
};

struct Flags {
  std::string out = ".";
  int threads = 0;  // 0: torch's default
  int repeats = 3;  // timed repetitions; the best is reported
  std::vector<std::string> cases = {"fmnist_vit", "fmnist_resnet", "vit_small_patch16_224"};
  double lr = 0.01;
  std::string device = "cpu";
  std::string precision = "fp32";
  // Overrides of the case's sizes (0: the case's own), so a CPU can rehearse a GPU case.
  int64_t train_batch = 0, eval_batch = 0;
  int timed_steps = 0, eval_batches = 0;
};

// Process CPU time (all threads): on a shared, loaded machine it is what the work cost,
// whatever share of the cores the scheduler gave us.
double CpuNow() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Multiply-accumulate FLOPs (2 per MAC) of one forward pass over one image, counting
// convolutions, linear layers and attention matmuls (the rest is lower order).
double ForwardFlops(ClassifierImpl& model) {
  if (auto* vit = dynamic_cast<VisionTransformerImpl*>(&model)) {
    const VitConfig& c = vit->config();
    const double grid = c.image_size / c.patch_size;
    const double n = grid * grid, t = n + 1, d = c.embed_dim;
    const double hidden = d * c.mlp_ratio;
    double flops = 2 * n * (c.in_channels * c.patch_size * c.patch_size) * d;
    const double block = 2 * t * d * 3 * d      // qkv
                         + 2 * 2 * t * t * d    // q kᵀ and attn v
                         + 2 * t * d * d        // proj
                         + 2 * 2 * t * d * hidden;  // fc1, fc2
    flops += c.depth * block + 2 * d * c.num_classes;
    return flops;
  }
  if (auto* resnet = dynamic_cast<ResNetImpl*>(&model)) {
    const ResNetConfig& c = resnet->config();
    auto conv = [](double hw_out, double cin, double cout, double k) {
      return 2 * hw_out * hw_out * cin * cout * k * k;
    };
    double h = c.image_size;
    double flops = 0;
    if (c.small_stem) {
      flops += conv(h, c.in_channels, c.stem_width, 3);
    } else {
      h = h / 2;
      flops += conv(h, c.in_channels, c.stem_width, 7);
      h = h / 2;  // max-pool
    }
    double in = c.stem_width;
    const double expansion = c.bottleneck ? 4 : 1;
    for (size_t s = 0; s < c.layers.size(); ++s) {
      const double planes = c.widths[s];
      for (int64_t b = 0; b < c.layers[s]; ++b) {
        const double stride = (s > 0 && b == 0) ? 2 : 1;
        const double h_out = h / stride;
        const double out = planes * expansion;
        if (c.bottleneck) {
          flops += conv(h, in, planes, 1) + conv(h_out, planes, planes, 3) +
                   conv(h_out, planes, out, 1);
        } else {
          flops += conv(h_out, in, planes, 3) + conv(h_out, planes, planes, 3);
        }
        if (stride != 1 || in != out) flops += conv(h_out, in, out, 1);
        in = out;
        h = h_out;
      }
    }
    return flops + 2 * in * c.num_classes;
  }
  return 0;
}

// fp32 matmul peak: the best of a few 2048² products.
double MatmulPeakGflops() {
  const int64_t n = 2048;
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::mm(a, b);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const double t0 = Now();
    torch::mm_out(c, a, b);
    const double dt = Now() - t0;
    best = std::max(best, 2.0 * n * n * n / dt / 1e9);
  }
  return best;
}

struct Sgd {
  std::vector<torch::Tensor> params;
  std::vector<torch::Tensor> momentum;
  double lr, mu;

  Sgd(std::vector<torch::Tensor> p, double lr_, double mu_)
      : params(std::move(p)), lr(lr_), mu(mu_) {}

  // torch.optim.SGD(momentum=mu, dampening=0, nesterov=False, weight_decay=0):
  // buf = grad on the first step, then buf = mu·buf + grad; p -= lr·buf.
  void Step() {
    torch::NoGradGuard no_grad;
    if (momentum.empty()) {
      for (auto& p : params) momentum.push_back(p.grad().clone());
    } else {
      std::vector<torch::Tensor> grads;
      grads.reserve(params.size());
      for (auto& p : params) grads.push_back(p.grad());
      torch::_foreach_mul_(momentum, mu);
      torch::_foreach_add_(momentum, grads);
    }
    torch::_foreach_add_(params, momentum, -lr);
  }
  // Gradients are released rather than zero-filled: backward then writes them fresh.
  void ZeroGrad() {
    for (auto& p : params) p.mutable_grad() = torch::Tensor();
  }
};

std::string Json(const std::vector<double>& values) {
  std::vector<std::string> parts;
  for (double v : values) {
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.17g", v);  // exact, to compare bits
    parts.push_back(buf);
  }
  return absl::StrCat("[", absl::StrJoin(parts, ","), "]");
}

int RunCase(Case c, const Flags& flags, double peak) {
  if (flags.train_batch > 0) c.train_batch = flags.train_batch;
  if (flags.eval_batch > 0) c.eval_batch = flags.eval_batch;
  if (flags.timed_steps > 0) c.timed_steps = flags.timed_steps;
  if (flags.eval_batches > 0) c.eval_batches = flags.eval_batches;
  const torch::Device device(flags.device);
  auto resolved = ResolvePrecision(flags.precision, device);
  if (!resolved.ok()) {
    std::fprintf(stderr, "%s\n", resolved.status().ToString().c_str());
    return 2;
  }
  const Precision precision = *resolved;
  torch::manual_seed(0);
  auto created = CreateModel(c.name, c.name.rfind("fmnist", 0) == 0 ? 10 : 1000);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
    return 1;
  }
  Classifier model = *created;
  const std::string prefix = absl::StrCat(flags.out, "/", c.name);
  if (auto s = SaveClassifier(model, prefix + ".init.safetensors"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  // A few distinct batches, cycled: the data stays in memory on both sides.
  const int64_t side = model->image_size();
  const int kPool = 4;
  NamedTensors data;
  std::vector<torch::Tensor> train_x, train_y, eval_x;
  for (int i = 0; i < kPool; ++i) {
    train_x.push_back(torch::randn({c.train_batch, 3, side, side}));
    train_y.push_back(torch::randint(0, model->num_classes(), {c.train_batch}));
    eval_x.push_back(torch::randn({c.eval_batch, 3, side, side}));
    data.emplace_back(absl::StrCat("train_x.", i), train_x.back());
    data.emplace_back(absl::StrCat("train_y.", i), train_y.back());
    data.emplace_back(absl::StrCat("eval_x.", i), eval_x.back());
  }
  if (auto s = WriteSafetensors(prefix + ".data.safetensors", data); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  {
    // Parity with the peer's own module (timm / torchvision): logits of the initial
    // weights on the first few evaluation images, on the CPU in fp32.
    torch::NoGradGuard no_grad;
    model->eval();
    const int64_t k = std::min<int64_t>(4, c.eval_batch);
    NamedTensors logits;
    logits.emplace_back("logits", model->forward(eval_x[0].slice(0, 0, k)).contiguous());
    if (auto s = WriteSafetensors(prefix + ".init_logits.safetensors", logits); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  if (device.is_cuda()) {
    model->to(device);
    for (auto* pool : {&train_x, &train_y, &eval_x}) {
      for (auto& t : *pool) t = t.to(device);
    }
  }

  // The engine's thread policy for this model, as RunJob applies it.
  const ThreadPolicy policy = PreferredThreadPolicy(*model);
  SetCpuThreads(flags.threads, policy);
  std::fprintf(stderr, "[c++] %s: thread policy %s\n", c.name.c_str(),
               policy == ThreadPolicy::kBlas ? "blas" : "openmp");
  Sgd sgd(model->parameters(), flags.lr, 0.9);
  LossScaler scaler(precision.loss_scaling);
  std::vector<double> losses;
  int step = 0;
  auto train_step = [&]() {
    const int i = step++ % kPool;
    sgd.ZeroGrad();
    torch::Tensor loss;
    {
      AutocastScope autocast(precision);
      loss = torch::nn::functional::cross_entropy(model->forward(train_x[i]), train_y[i]);
    }
    scaler.Scale(loss).backward();
    if (scaler.UnscaleAndCheck(sgd.params)) sgd.Step();
    losses.push_back(loss.item<double>());
  };
  model->train();
  for (int i = 0; i < c.warmup_steps; ++i) train_step();
  double best_train = 0, best_train_cpu = 0;
  for (int r = 0; r < flags.repeats; ++r) {
    const double t0 = Now(), c0 = CpuNow();
    for (int i = 0; i < c.timed_steps; ++i) train_step();
    best_train = std::max(best_train, c.timed_steps * c.train_batch / (Now() - t0));
    best_train_cpu = std::max(best_train_cpu, c.timed_steps * c.train_batch / (CpuNow() - c0));
  }

  // The trained weights, so the peer can check that both loops computed the same thing.
  if (auto s = SaveClassifier(model, prefix + ".final.safetensors"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }

  model->eval();
  double best_eval = 0, best_eval_cpu = 0;
  double checksum = 0;
  {
    // As Evaluate() runs it: the model's inference forward, in InferenceMode.
    const ForwardFn inference = model->Inference();
    c10::InferenceMode inference_mode;
    AutocastScope autocast(precision);
    inference(eval_x[0]);  // warm-up
    for (int r = 0; r < flags.repeats; ++r) {
      const double t0 = Now(), c0 = CpuNow();
      for (int i = 0; i < c.eval_batches; ++i) {
        checksum += inference(eval_x[i % kPool]).sum().item<double>();
      }
      best_eval = std::max(best_eval, c.eval_batches * c.eval_batch / (Now() - t0));
      best_eval_cpu = std::max(best_eval_cpu, c.eval_batches * c.eval_batch / (CpuNow() - c0));
    }
  }
  const double flops = ForwardFlops(*model);
  // The convolution weights' layout (ResNets train channels-last), so the peer can also
  // replay the steps with the same layout and compare the losses bit for bit.
  bool channels_last = false;
  for (const auto& p : model->parameters()) {
    if (p.dim() == 4 && !p.is_contiguous() &&
        p.is_contiguous(torch::MemoryFormat::ChannelsLast)) {
      channels_last = true;
    }
  }
  std::ofstream out(prefix + ".cpp.json");
  out << "{\"case\":\"" << c.name << "\",\"threads\":" << flags.threads
      << ",\"device\":\"" << flags.device << "\",\"precision\":\"" << flags.precision
      << "\""
      << ",\"thread_policy\":\"" << (policy == ThreadPolicy::kBlas ? "blas" : "openmp")
      << "\""
      << ",\"train_batch\":" << c.train_batch << ",\"eval_batch\":" << c.eval_batch
      << ",\"warmup_steps\":" << c.warmup_steps << ",\"timed_steps\":" << c.timed_steps
      << ",\"eval_batches\":" << c.eval_batches << ",\"repeats\":" << flags.repeats
      << ",\"lr\":" << flags.lr << ",\"forward_flops\":" << flops
      << ",\"memory_format\":\"" << (channels_last ? "channels_last" : "contiguous")
      << "\""
      << ",\"train_images_per_s\":" << best_train
      << ",\"eval_images_per_s\":" << best_eval
      << ",\"train_images_per_cpu_s\":" << best_train_cpu
      << ",\"eval_images_per_cpu_s\":" << best_eval_cpu
      << ",\"matmul_peak_gflops\":" << peak << ",\"losses\":" << Json(losses) << "}\n";
  std::fprintf(stderr, "[c++] %-24s train %8.1f img/s  eval %8.1f img/s\n", c.name.c_str(),
               best_train, best_eval);
  return out.good() ? 0 : 1;
}

int Main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    std::vector<std::string> kv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    if (kv.size() != 2) {
      std::fprintf(stderr,
                   "usage: rib-bench-engine --out=DIR [--threads=N] [--repeats=N] "
                   "[--cases=a,b] [--device=cpu|cuda] [--precision=fp32|bf16|fp16] "
                   "[--train_batch=N] [--eval_batch=N] [--timed_steps=N] "
                   "[--eval_batches=N]\n");
      return 2;
    }
    if (kv[0] == "--out") {
      flags.out = kv[1];
    } else if (kv[0] == "--threads" && absl::SimpleAtoi(kv[1], &flags.threads)) {
    } else if (kv[0] == "--repeats" && absl::SimpleAtoi(kv[1], &flags.repeats)) {
    } else if (kv[0] == "--cases") {
      flags.cases = absl::StrSplit(kv[1], ',');
    } else if (kv[0] == "--device" && (kv[1] == "cpu" || kv[1] == "cuda")) {
      flags.device = kv[1];
    } else if (kv[0] == "--precision") {
      flags.precision = kv[1];  // checked by ResolvePrecision
    } else if (kv[0] == "--train_batch" && absl::SimpleAtoi(kv[1], &flags.train_batch)) {
    } else if (kv[0] == "--eval_batch" && absl::SimpleAtoi(kv[1], &flags.eval_batch)) {
    } else if (kv[0] == "--timed_steps" && absl::SimpleAtoi(kv[1], &flags.timed_steps)) {
    } else if (kv[0] == "--eval_batches" && absl::SimpleAtoi(kv[1], &flags.eval_batches)) {
    } else {
      std::fprintf(stderr, "unknown or bad flag %s\n", argv[i]);
      return 2;
    }
  }
  if (flags.threads <= 0) {
    flags.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  SetCpuThreads(flags.threads, ThreadPolicy::kBlas);  // the peak: a large product
  const double peak = MatmulPeakGflops();
  std::fprintf(stderr, "[c++] %d threads, fp32 matmul peak %.1f GFLOP/s\n", flags.threads,
               peak);
  const std::vector<Case> all = {
      {"fmnist_vit", 64, 256, 3, 10, 8},
      {"fmnist_resnet", 64, 256, 3, 10, 8},
      {"vit_small_patch16_224", 8, 16, 1, 2, 1},
      // ViT-B/16 and ResNet-50 at 224 (scripts/gpu_check.sh, on a GPU): batches a GPU
      // fills.
      {"vit_base_patch16_224", 128, 256, 3, 10, 10},
      {"resnet50", 128, 256, 3, 10, 10},
  };
  for (const std::string& name : flags.cases) {
    bool found = false;
    for (const Case& c : all) {
      if (c.name != name) continue;
      found = true;
      if (int rc = RunCase(c, flags, peak); rc != 0) return rc;
    }
    if (!found) {
      std::fprintf(stderr, "unknown case %s\n", name.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace
}  // namespace rib::engine

int main(int argc, char** argv) { return rib::engine::Main(argc, argv); }
