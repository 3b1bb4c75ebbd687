// Per-thread buffer reuse: memory is reused only once every earlier result is released,
// so a caller that keeps a decoded image or a tensor never sees it overwritten.
#include "worker/data/buffer_pool.h"

#include <opencv2/imgcodecs.hpp>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"
#include "worker/data/image.h"

namespace rib::data::internal {
namespace {

TEST(BufferPoolTest, MatReusedOnlyWhenReleased) {
  cv::Mat slot;
  const uint8_t* first_data = nullptr;
  {
    cv::Mat a = PooledMat(&slot, 10, 20, CV_8UC3);
    ASSERT_EQ(a.rows, 10);
    ASSERT_EQ(a.cols, 20);
    ASSERT_EQ(a.type(), CV_8UC3);
    ASSERT_TRUE(a.isContinuous());
    first_data = a.data;
  }
  cv::Mat b = PooledMat(&slot, 8, 20, CV_8UC3);  // smaller: fits the released memory
  EXPECT_EQ(b.data, first_data);
  b.setTo(cv::Scalar::all(7));
  cv::Mat c = PooledMat(&slot, 8, 20, CV_8UC3);  // b is held: fresh memory
  EXPECT_NE(c.data, b.data);
  c.setTo(cv::Scalar::all(9));
  EXPECT_EQ(cv::countNonZero(b.reshape(1) != 7), 0);  // b untouched
  cv::Mat big = PooledMat(&slot, 100, 100, CV_8UC1);  // larger than the slot
  EXPECT_EQ(big.rows, 100);
  EXPECT_EQ(big.cols, 100);
}

TEST(BufferPoolTest, TensorReusedOnlyWhenNoViewIsHeld) {
  torch::Tensor slot;
  void* first = nullptr;
  { first = PooledFloatTensor(&slot, {3, 4}).data_ptr(); }
  EXPECT_EQ(PooledFloatTensor(&slot, {3, 4}).data_ptr(), first);
  torch::Tensor view;
  {
    torch::Tensor t = PooledFloatTensor(&slot, {3, 4});
    t.fill_(1.0f);
    view = t.view({12});  // the tensor is released, its storage is not
  }
  torch::Tensor u = PooledFloatTensor(&slot, {3, 4});
  EXPECT_NE(u.data_ptr(), first);
  u.fill_(2.0f);
  EXPECT_EQ(view.sum().item<float>(), 12.0f);
  EXPECT_EQ(PooledFloatTensor(&slot, {2, 2}).sizes(), (std::vector<int64_t>{2, 2}));
}

TEST(BufferPoolTest, KeptDecodedImagesStayIntact) {
  // DecodeImageFile hands out pooled memory: a second decode must not overwrite a
  // first image that the caller still holds.
  rib::testing::ScratchDir dir;
  cv::imwrite(dir.Join("a.jpg"), cv::Mat(32, 48, CV_8UC3, cv::Scalar(0, 0, 250)));
  cv::imwrite(dir.Join("b.jpg"), cv::Mat(32, 48, CV_8UC3, cv::Scalar(250, 0, 0)));
  RIB_ASSERT_OK_AND_ASSIGN(cv::Mat a, DecodeImageFile(dir.Join("a.jpg")));
  RIB_ASSERT_OK_AND_ASSIGN(cv::Mat b, DecodeImageFile(dir.Join("b.jpg")));
  EXPECT_NE(a.data, b.data);
  EXPECT_GT(a.at<cv::Vec3b>(5, 5)[0], 240);  // red (RGB)
  EXPECT_GT(b.at<cv::Vec3b>(5, 5)[2], 240);  // blue
}

}  // namespace
}  // namespace rib::data::internal
