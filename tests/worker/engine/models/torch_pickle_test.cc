// The restricted unpickler on hand-written pickles: what a state_dict needs is read,
// everything that would call code is refused by name, and bad input is an error.
#include "worker/engine/torch_pickle.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::engine {
namespace {

using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::string_literals;

std::string Unicode(const std::string& s) {
  std::string out = "X";
  for (int k = 0; k < 4; ++k) out += static_cast<char>((s.size() >> (8 * k)) & 0xff);
  return out + s;
}

// OrderedDict([(name, _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel),
//              offset, sizes, strides, False, OrderedDict()))]) with sizes/strides of
// one or two dimensions given as BININT1 opcodes, as torch.save writes it.
std::string StateDict(const std::string& name, const std::string& key, int numel,
                      int offset, const std::string& sizes, const std::string& strides,
                      const std::string& storage_global = "ctorch\nFloatStorage\n") {
  return std::string("\x80\x02") + "ccollections\nOrderedDict\nq\x00)Rq\x01("s +
         Unicode(name) + "ctorch._utils\n_rebuild_tensor_v2\n((" + Unicode("storage") +
         storage_global + Unicode(key) + Unicode("cpu") + "K" + static_cast<char>(numel) +
         "tQK" + static_cast<char>(offset) + "(" + sizes + "t(" + strides + "t\x89" +
         "h\x00)Rtq\x02Ru."s;
}

TEST(TorchPickleTest, ReadsAStridedViewOfAStorage) {
  const std::string pkl = StateDict("layer.weight", "0", 12, 2, std::string("K\x02K\x03"),
                                    "K\x01K\x02", "ctorch\nHalfStorage\n");
  auto parsed = ParseStateDictPickle(pkl);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 1u);
  const auto& [name, t] = (*parsed)[0];
  EXPECT_EQ(name, "layer.weight");
  EXPECT_EQ(t.storage_key, "0");
  EXPECT_EQ(t.dtype, StorageDtype::kHalf);
  EXPECT_EQ(t.storage_numel, 12);
  EXPECT_EQ(t.storage_offset, 2);
  EXPECT_THAT(t.sizes, ElementsAre(2, 3));
  EXPECT_THAT(t.strides, ElementsAre(1, 2));
}

TEST(TorchPickleTest, OsSystemIsRefusedAtItsGlobal) {
  const std::string pkl = std::string("\x80\x02") + "cos\nsystem\n" +
                          Unicode("touch /tmp/rib_pwned") + "\x85R.";
  EXPECT_THAT(ParseStateDictPickle(pkl),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("global 'os.system' is not allowed"),
                             HasSubstr("at byte 2"))));
}

TEST(TorchPickleTest, StackGlobalIsCheckedTheSameWay) {
  const std::string pkl = std::string("\x80\x04") + "\x8c\x08" + "builtins" + "\x8c\x04" +
                          "eval" + "\x93" + Unicode("1") + "\x85R.";
  EXPECT_THAT(ParseStateDictPickle(pkl),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("global 'builtins.eval' is not allowed")));
}

TEST(TorchPickleTest, OpcodesThatCallCodeAreRefusedByName) {
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02(ios\nsystem\n.")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("opcode INST")));
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02(ccollections\nOrderedDict\no.")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("opcode OBJ")));
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02\x82\x01.")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("opcode EXT")));
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02") +
                                   "ccollections\nOrderedDict\n" + ")\x81."),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("opcode NEWOBJ")));
}

TEST(TorchPickleTest, ReduceOfAStorageClassAndBuildOnAListAreRefused) {
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02") + "ctorch\nFloatStorage\n)R."),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("REDUCE of torch.FloatStorage")));
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02]}b.")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("BUILD on a list")));
}

TEST(TorchPickleTest, TheMetadataAttributeIsAcceptedAndNothingElse) {
  // OrderedDict() then BUILD {'_metadata': OrderedDict()}: an empty state_dict.
  const std::string od = "ccollections\nOrderedDict\nq\x00)R"s;
  const std::string ok =
      std::string("\x80\x02") + od + "}" + Unicode("_metadata") + "h\x00)Rsb."s;
  auto parsed = ParseStateDictPickle(ok);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->empty());
  const std::string other =
      std::string("\x80\x02") + od + "}" + Unicode("__class__") + "Nsb.";
  EXPECT_THAT(ParseStateDictPickle(other), StatusIs(absl::StatusCode::kInvalidArgument,
                                                    HasSubstr("other than _metadata")));
}

TEST(TorchPickleTest, TruncatedAndMalformedInputIsAnError) {
  const std::string pkl = StateDict("w", "0", 4, 0, "K\x04", "K\x01");
  for (size_t cut : {size_t{0}, size_t{1}, size_t{20}, pkl.size() / 2, pkl.size() - 1}) {
    EXPECT_THAT(ParseStateDictPickle(pkl.substr(0, cut)),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << cut;
  }
  // A string whose length runs past the end.
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02X\xff\xff\xff\x7f"
                                               "abc")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02h\x05.")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("never put")));
}

TEST(TorchPickleTest, NotADictOfTensorsIsNamed) {
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02].")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("holds a list")));
  const std::string pkl = std::string("\x80\x02}") + Unicode("epoch") + "K\x03s.";
  EXPECT_THAT(ParseStateDictPickle(pkl),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("entry 'epoch' is a int, not a tensor")));
}

TEST(TorchPickleTest, RecursiveAndDeepStructuresAreRefused) {
  // l = []; l.append(l)
  EXPECT_THAT(ParseStateDictPickle(std::string("\x80\x02]q\x00h\x00"
                                               "a."s)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("inside itself")));
  std::string deep = "\x80\x02";
  for (int k = 0; k < kMaxPickleDepth + 2; ++k) deep += "]";
  for (int k = 0; k < kMaxPickleDepth + 1; ++k) deep += "a";
  deep += ".";
  EXPECT_THAT(ParseStateDictPickle(deep),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting deeper")));
}

}  // namespace
}  // namespace rib::engine
