// LibTorch's exceptions become statuses at the engine's boundary (torch_errors.h): a
// model that throws in the middle of training fails the job with a status naming the
// job, the step and torch's message, and the process goes on.
#include "worker/engine/torch_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <new>

#include "tests/testing/status_matchers.h"
#include "tests/worker/engine/train/tiny_model.h"
#include "worker/engine/methods.h"
#include "worker/engine/trainer.h"

namespace rib::engine {
namespace {

using ::rib::engine::testing::TinyClassifierImpl;
using ::rib::engine::testing::TinyData;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// TinyClassifier with a shape bug that shows from the `bad_call`-th forward pass on: the
// head gets 7 features instead of 8, and torch throws c10::Error.
class ShapeBugClassifierImpl : public TinyClassifierImpl {
 public:
  explicit ShapeBugClassifierImpl(int bad_call) : bad_call_(bad_call) {}
  torch::Tensor Features(const torch::Tensor& images) override {
    torch::Tensor f = TinyClassifierImpl::Features(images);
    return ++calls_ >= bad_call_ ? f.narrow(1, 0, 7) : f;
  }

 private:
  int bad_call_;
  int calls_ = 0;
};

// Trains ft on the tiny data (5 steps per epoch, 2 epochs) with a model that throws at
// its `bad_call`-th forward pass.
absl::StatusOr<TrainSummary> TrainShapeBug(int bad_call) {
  torch::manual_seed(1);
  auto model = std::make_shared<ShapeBugClassifierImpl>(bad_call);
  auto [images, labels] = TinyData(40, 4);
  TensorTrainData::Options data_options;
  data_options.batch_size = 8;
  TensorTrainData data(images, labels, data_options);
  MethodContext context;
  context.model = Classifier(std::static_pointer_cast<ClassifierImpl>(model));
  context.mask = LabelMask::Identity(3);
  auto method = TrainingMethod::Create(MethodSpec{"ft", "ft"}, context);
  if (!method.ok()) return method.status();
  TrainOptions train;
  train.config.epochs = 2;
  train.config.warmup_steps = 0;
  train.config.lr = 0.1;
  return Train((*method)->setup(), data, train, nullptr);
}

TEST(TorchErrorsTest, AShapeMismatchInTrainingFailsTheJobWithItsStepAndMessage) {
  const absl::StatusOr<TrainSummary> trained =
      TorchBoundary("job tiny/ft/fmnist-r", [] { return TrainShapeBug(/*bad_call=*/3); });
  EXPECT_THAT(
      trained.status(),
      StatusIs(absl::StatusCode::kInternal,
               AllOf(StartsWith("job tiny/ft/fmnist-r: training step 3 of 10 "
                                "(epoch 1): "),
                     HasSubstr("shapes cannot be multiplied"), Not(HasSubstr("\n")))));
  // Deterministic: the same step again, and the process is still here to see it.
  EXPECT_THAT(TrainShapeBug(3).status(),
              StatusIs(absl::StatusCode::kInternal,
                       StartsWith("training step 3 of 10 (epoch 1): ")));
}

TEST(TorchErrorsTest, AThrowReachingTheBoundaryBecomesAStatusNamingTheJob) {
  auto shape_bug = []() -> absl::Status {
    torch::mm(torch::ones({2, 3}), torch::ones({2, 3}));
    return absl::OkStatus();
  };
  EXPECT_THAT(
      TorchBoundary("job m/ft/d", shape_bug),
      StatusIs(absl::StatusCode::kInternal,
               AllOf(StartsWith("job m/ft/d: "), HasSubstr("shapes cannot be multiplied"),
                     Not(HasSubstr("Exception raised from")))));
  auto no_memory = []() -> absl::StatusOr<int> { throw std::bad_alloc(); };
  EXPECT_THAT(TorchBoundary("job m/ft/d", no_memory).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, StartsWith("job m/ft/d: ")));
  auto torch_oom = []() -> absl::Status {
    throw c10::OutOfMemoryError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                                "CUDA out of memory.\nTried to allocate 2 GiB");
  };
  EXPECT_THAT(
      TorchBoundary("job m/ft/d", torch_oom),
      StatusIs(absl::StatusCode::kResourceExhausted, "job m/ft/d: CUDA out of memory."));
  auto not_an_exception = []() -> absl::Status { throw 42; };
  EXPECT_THAT(TorchBoundary("job m/ft/d", not_an_exception),
              StatusIs(absl::StatusCode::kInternal, "job m/ft/d: unknown exception"));
}

TEST(TorchErrorsTest, TheBoundaryAddsItsContextOnceAndOnlyToConvertedStatuses) {
  auto converted = [] {
    return ExceptionToStatus(std::runtime_error("bad\nsecond line"), "step 2",
                             absl::StatusCode::kDataLoss);
  };
  EXPECT_THAT(TorchBoundary("outer", [&] { return TorchBoundary("job j", converted); }),
              StatusIs(absl::StatusCode::kDataLoss, "job j: step 2: bad"));
  auto plain = [] { return absl::NotFoundError("no dataset 'x'"); };
  EXPECT_THAT(TorchBoundary("job j", plain),
              StatusIs(absl::StatusCode::kNotFound, "no dataset 'x'"));
  auto fine = []() -> absl::StatusOr<int> { return 7; };
  EXPECT_EQ(*TorchBoundary("job j", fine), 7);
}

}  // namespace
}  // namespace rib::engine
