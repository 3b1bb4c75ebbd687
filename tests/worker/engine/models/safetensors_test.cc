// safetensors: round trips in every supported precision, and bad files rejected with an
// error that names the problem.
#include "worker/engine/safetensors.h"

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib::engine {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;

// A file made of an explicit header length, header text and data bytes.
std::string WriteRaw(const ScratchDir& dir, const std::string& name, uint64_t header_len,
                     const std::string& header, const std::string& data) {
  const std::string path = dir.Join(name);
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_len >> (8 * i)) & 0xFF));
  out << header << data;
  return path;
}

std::string WriteHeader(const ScratchDir& dir, const std::string& header,
                        const std::string& data) {
  return WriteRaw(dir, "t.safetensors", header.size(), header, data);
}

TEST(SafetensorsTest, RoundTripsEveryPrecision) {
  ScratchDir dir;
  torch::manual_seed(0);
  auto base = torch::randn({3, 5});
  NamedTensors tensors = {
      {"a.f32", base},
      {"b.f16", base.to(torch::kHalf)},
      {"c.bf16", base.to(torch::kBFloat16)},
      {"d.i64", torch::arange(7, torch::kInt64)},
      {"e.scalar", torch::tensor(3.5)},
      {"f.empty", torch::zeros({0, 4})},
  };
  const std::string path = dir.Join("x.safetensors");
  ASSERT_THAT(WriteSafetensors(path, tensors, {{"producer", "rib \"test\"\n"}}), IsOk());
  std::map<std::string, std::string> metadata;
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors back, ReadSafetensors(path, &metadata));
  EXPECT_EQ(metadata.at("producer"), "rib \"test\"\n");
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].first, tensors[i].first);
    EXPECT_EQ(back[i].second.scalar_type(), tensors[i].second.scalar_type()) << back[i].first;
    EXPECT_TRUE(torch::equal(back[i].second, tensors[i].second)) << back[i].first;
  }
  // Half precision converts to the float32 values it rounds to.
  EXPECT_TRUE(torch::allclose(back[1].second.to(torch::kFloat), base, 1e-3, 1e-3));
  EXPECT_TRUE(torch::allclose(back[2].second.to(torch::kFloat), base, 1e-2, 1e-2));
  // The data section starts 8-byte aligned, as the reference writer does.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ(header_len % 8, 0u);
}

TEST(SafetensorsTest, ReadsHandWrittenHeaderWithEscapesAndPadding) {
  ScratchDir dir;
  // 2×F16 ones (0x3C00) and one BF16 -2 (0xC000), little-endian.
  std::string data = std::string("\x00\x3C\x00\x3C", 4) + std::string("\x00\xC0", 2);
  const std::string header =
      R"({"__metadata__":{"k":"v\u00e9"}, "x\/y":{"dtype":"F16","shape":[2],)"
      R"("data_offsets":[0,4]},"z":{"dtype":"BF16","shape":[],"data_offsets":[4,6]}}   )";
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors t, ReadSafetensors(WriteHeader(dir, header, data)));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].first, "x/y");
  EXPECT_TRUE(torch::equal(t[0].second.to(torch::kFloat), torch::ones({2})));
  EXPECT_EQ(t[1].second.to(torch::kFloat).item<float>(), -2.0f);
}

TEST(SafetensorsTest, MissingFileIsNotFound) {
  ScratchDir dir;
  EXPECT_THAT(ReadSafetensors(dir.Join("nope.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.safetensors")));
}

TEST(SafetensorsTest, TruncatedFilesAreRejected) {
  ScratchDir dir;
  NamedTensors tensors = {{"w", torch::ones({64})}};
  const std::string path = dir.Join("w.safetensors");
  ASSERT_THAT(WriteSafetensors(path, tensors), IsOk());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Cut inside the data: the offsets now run past the data section.
  {
    std::ofstream out(dir.Join("cut.safetensors"), std::ios::binary);
    out << bytes.substr(0, bytes.size() - 10);
  }
  EXPECT_THAT(ReadSafetensors(dir.Join("cut.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'w': data_offsets [0, 256] run past")));
  // Cut inside the header.
  {
    std::ofstream out(dir.Join("cut2.safetensors"), std::ios::binary);
    out << bytes.substr(0, 20);
  }
  EXPECT_THAT(ReadSafetensors(dir.Join("cut2.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("past the end")));
  // Shorter than the length field.
  {
    std::ofstream out(dir.Join("cut3.safetensors"), std::ios::binary);
    out << bytes.substr(0, 5);
  }
  EXPECT_THAT(ReadSafetensors(dir.Join("cut3.safetensors")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("too short")));
}

TEST(SafetensorsTest, HugeHeaderLengthIsRejectedBeforeAllocating) {
  ScratchDir dir;
  const std::string path = WriteRaw(dir, "huge.safetensors", 1ull << 40, "{}", "");
  EXPECT_THAT(ReadSafetensors(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("exceeds the limit")));
  const std::string path2 = WriteRaw(dir, "neg.safetensors", ~0ull, "{}", "");
  EXPECT_THAT(ReadSafetensors(path2), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("exceeds the limit")));
}

TEST(SafetensorsTest, BadHeadersNameTheProblem) {
  const std::string data(16, '\0');
  struct Case {
    std::string header;
    std::string message;
  };
  const Case cases[] = {
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},})", "malformed JSON"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})", "unterminated object"},
      {R"([1,2])", "must be a JSON object"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}} x)", "after the JSON"},
      {R"({"w":1,"w":2})", "duplicate key \"w\""},
      {R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
       "tensor 'w': unsupported dtype 'F8_E4M3'"},
      {R"({"w":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}})", "unsupported dtype 'Q4'"},
      {R"({"w":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}})",
       "tensor 'w': shape [5] of F32 needs 20 bytes but data_offsets span 16"},
      {R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", "non-negative"},
      {R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}})", "non-negative"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", "run past"},
      {R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", "end before"},
      {R"({"w":{"dtype":"F32","shape":[4]}})", "tensor 'w': missing data_offsets"},
      {R"({"w":{"shape":[4],"data_offsets":[0,16]}})", "missing dtype"},
      {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
       "'a' and 'b' overlap"},
      {R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})",
       "too many bytes"},
      {R"({"__metadata__":{"k":1}})", "__metadata__ value for 'k' must be a string"},
      {R"({"w":"\ud800"})", "surrogate"},
      {R"({"w":01})", "leading zero"},
      {std::string(100, '[') + std::string(100, ']'), "nesting"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseSafetensorsHeader(c.header, data.size()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.header;
  }
  ScratchDir dir;
  EXPECT_THAT(ReadSafetensors(WriteHeader(dir, cases[0].header, data)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("t.safetensors")));
}

TEST(SafetensorsTest, WriterRejectsDuplicateNames) {
  ScratchDir dir;
  NamedTensors tensors = {{"a", torch::ones({1})}, {"a", torch::ones({1})}};
  EXPECT_THAT(WriteSafetensors(dir.Join("d.safetensors"), tensors),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
}

TEST(SafetensorsTest, WriteIsAtomic) {
  ScratchDir dir;
  const std::string path = dir.Join("m.safetensors");
  ASSERT_THAT(WriteSafetensors(path, {{"a", torch::ones({2})}}), IsOk());
  // A failing write (unwritable folder) leaves the old file in place.
  EXPECT_FALSE(WriteSafetensors(dir.Join("no/such/dir/m.safetensors"),
                                {{"a", torch::zeros({2})}})
                   .ok());
  ASSERT_THAT(WriteSafetensors(path, {{"a", torch::full({2}, 2.0)}}), IsOk());
  RIB_ASSERT_OK_AND_ASSIGN(NamedTensors t, ReadSafetensors(path));
  EXPECT_TRUE(torch::equal(t[0].second, torch::full({2}, 2.0)));
  // No temporary files are left behind.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace rib::engine
