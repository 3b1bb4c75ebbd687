// The one JSON writer (WriteJson) and its number format, and its round trip through
// the one reader (ParseJson).
#include "common/json.h"

#include <cmath>

#include "common/json_reader.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

TEST(WriteJson, CompactKeepsOrderAndSortKeysSortsThem) {
  JsonValue v = JsonValue::Object();
  v.Set("b", JsonValue::Int(2))
      .Set("a", JsonValue::StringArray({"x", "y"}))
      .Set("c",
           JsonValue::Object().Set("z", JsonValue::Bool(true)).Set("y", JsonValue()));
  EXPECT_EQ(WriteJson(v), "{\"b\":2,\"a\":[\"x\",\"y\"],\"c\":{\"z\":true,\"y\":null}}");
  JsonWriteOptions sorted;
  sorted.sort_keys = true;
  EXPECT_EQ(WriteJson(v, sorted),
            "{\"a\":[\"x\",\"y\"],\"b\":2,\"c\":{\"y\":null,\"z\":true}}");
  // Set replaces a member of the same name in place.
  v.Set("b", JsonValue::String("two"));
  EXPECT_EQ(WriteJson(v),
            "{\"b\":\"two\",\"a\":[\"x\",\"y\"],\"c\":{\"z\":true,\"y\":null}}");
}

TEST(WriteJson, NumbersStringsAndEmptyContainers) {
  JsonValue v = JsonValue::Array();
  v.Append(JsonValue::Number(0.1))
      .Append(JsonValue::Number(1e-5))
      .Append(JsonValue::Number(std::nan("")))
      .Append(JsonValue::Int(-7))
      .Append(JsonValue::NumberLiteral("0.912500"))
      .Append(JsonValue::String("a\"b\\c\n\x01"))
      .Append(JsonValue::Array())
      .Append(JsonValue::Object());
  EXPECT_EQ(WriteJson(v), "[0.1,1e-05,null,-7,0.912500,\"a\\\"b\\\\c\\n\\u0001\",[],{}]");
}

TEST(WriteJson, IndentPutsOneMemberPerLine) {
  JsonValue v = JsonValue::Object();
  v.Set("a", JsonValue::Int(1)).Set("b", JsonValue::NumberArray({1.5}));
  JsonWriteOptions pretty;
  pretty.indent = 2;
  EXPECT_EQ(WriteJson(v, pretty), "{\n  \"a\": 1,\n  \"b\": [\n    1.5\n  ]\n}");
}

TEST(WriteJson, ReadsBackThroughTheReader) {
  JsonValue v = JsonValue::Object();
  v.Set("n", JsonValue::Number(0.1 + 0.2)).Set("s", JsonValue::String("é\t"));
  RIB_ASSERT_OK_AND_ASSIGN(JsonValue back, ParseJson(WriteJson(v)));
  EXPECT_EQ(back.Get("n")->number, 0.1 + 0.2);
  EXPECT_EQ(back.Get("s")->text, "é\t");
  EXPECT_EQ(WriteJson(back), WriteJson(v));
}

TEST(FormatCanonicalNumber, ShortestTextThatReadsBack) {
  EXPECT_EQ(FormatCanonicalNumber(0.1), "0.1");
  EXPECT_EQ(FormatCanonicalNumber(1.0), "1");
  EXPECT_EQ(FormatCanonicalNumber(-0.0), "0");
  EXPECT_EQ(FormatCanonicalNumber(1e-5), "1e-05");
  EXPECT_EQ(FormatCanonicalNumber(0.48145466), "0.48145466");
  EXPECT_EQ(FormatCanonicalNumber(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(FormatCanonicalNumber(123456789.0), "123456789");
}

}  // namespace
}  // namespace rib
