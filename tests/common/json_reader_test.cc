#include "common/json_reader.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::ScratchDir;
using ::rib::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Type = JsonValue::Type;

std::vector<std::string> Keys(const JsonValue& v) {
  std::vector<std::string> keys;
  for (const auto& [k, value] : v.object) keys.push_back(k);
  return keys;
}

TEST(ParseJson, ReadsEachType) {
  RIB_ASSERT_OK_AND_ASSIGN(
      JsonValue v,
      ParseJson(
          R"( {"n":null,"t":true,"f":false,"x":-2.5,"s":"hi","a":[1,"b",[]],"o":{}} )"));
  ASSERT_EQ(v.type, Type::kObject);
  EXPECT_EQ(v.Get("n")->type, Type::kNull);
  EXPECT_EQ(v.Get("t")->type, Type::kBool);
  EXPECT_TRUE(v.Get("t")->boolean);
  EXPECT_EQ(v.Get("f")->type, Type::kBool);
  EXPECT_FALSE(v.Get("f")->boolean);
  EXPECT_EQ(v.Get("x")->type, Type::kNumber);
  EXPECT_EQ(v.Get("x")->number, -2.5);
  EXPECT_EQ(v.Get("s")->type, Type::kString);
  EXPECT_EQ(v.Get("s")->text, "hi");
  const JsonValue& a = *v.Get("a");
  ASSERT_EQ(a.type, Type::kArray);
  ASSERT_EQ(a.array.size(), 3u);
  EXPECT_EQ(a.array[0].number, 1);
  EXPECT_EQ(a.array[1].text, "b");
  EXPECT_EQ(a.array[2].type, Type::kArray);
  EXPECT_TRUE(a.array[2].array.empty());
  EXPECT_EQ(v.Get("o")->type, Type::kObject);
  EXPECT_TRUE(v.Get("o")->object.empty());
  EXPECT_EQ(v.Get("missing"), nullptr);
  EXPECT_EQ(a.Get("s"), nullptr);  // not an object

  RIB_ASSERT_OK_AND_ASSIGN(JsonValue scalar, ParseJson("\t\r\n 7 \n"));
  EXPECT_EQ(scalar.type, Type::kNumber);
  EXPECT_EQ(scalar.number, 7);
}

TEST(ParseJson, NamesTypesForMessages) {
  EXPECT_STREQ(JsonTypeName(Type::kNull), "null");
  EXPECT_STREQ(JsonTypeName(Type::kBool), "a boolean");
  EXPECT_STREQ(JsonTypeName(Type::kNumber), "a number");
  EXPECT_STREQ(JsonTypeName(Type::kString), "a string");
  EXPECT_STREQ(JsonTypeName(Type::kArray), "an array");
  EXPECT_STREQ(JsonTypeName(Type::kObject), "an object");
}

TEST(ParseJson, KeepsKeysInDocumentOrder) {
  RIB_ASSERT_OK_AND_ASSIGN(JsonValue v, ParseJson(R"({"zebra":1,"apple":2,"mango":3})"));
  EXPECT_THAT(Keys(v), ElementsAre("zebra", "apple", "mango"));
  EXPECT_EQ(v.Get("apple")->number, 2);
}

TEST(ParseJson, KeepsNumberLiteralText) {
  // 2^53 + 1 has no exact double; the text keeps it (safetensors offsets rely on this).
  RIB_ASSERT_OK_AND_ASSIGN(
      JsonValue v, ParseJson("[9007199254740993, -1.50e3, 0, -0.0, 1E+2, 1e400]"));
  ASSERT_EQ(v.array.size(), 6u);
  EXPECT_EQ(v.array[0].text, "9007199254740993");
  EXPECT_EQ(v.array[1].text, "-1.50e3");
  EXPECT_EQ(v.array[1].number, -1500);
  EXPECT_EQ(v.array[2].text, "0");
  EXPECT_EQ(v.array[3].text, "-0.0");
  EXPECT_EQ(v.array[4].text, "1E+2");
  EXPECT_EQ(v.array[4].number, 100);
  EXPECT_EQ(v.array[5].text, "1e400");
  EXPECT_TRUE(std::isinf(v.array[5].number));
}

TEST(ParseJson, DecodesEscapes) {
  RIB_ASSERT_OK_AND_ASSIGN(
      JsonValue v,
      ParseJson(R"(["\"\\\/\b\f\n\r\t", "caf\u00e9", "\ud83d\ude00", "\u0041"])"));
  ASSERT_EQ(v.array.size(), 4u);
  EXPECT_EQ(v.array[0].text, "\"\\/\b\f\n\r\t");
  EXPECT_EQ(v.array[1].text, "caf\xC3\xA9");
  EXPECT_EQ(v.array[2].text, "\xF0\x9F\x98\x80");  // U+1F600 from a surrogate pair
  EXPECT_EQ(v.array[3].text, "A");
}

TEST(ParseJson, LimitsNesting) {
  const auto nested = [](int depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_THAT(ParseJson(nested(kJsonMaxDepth)), IsOk());
  EXPECT_THAT(ParseJson(nested(kJsonMaxDepth + 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nesting deeper than 64 levels")));
  std::string objects;
  for (int i = 0; i <= kJsonMaxDepth; ++i) objects += R"({"a":)";
  objects += "1" + std::string(kJsonMaxDepth + 1, '}');
  EXPECT_THAT(ParseJson(objects),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nesting deeper")));
}

TEST(ParseJson, GivesTheByteOffsetOfTheProblem) {
  EXPECT_THAT(ParseJson("[1,2,]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("malformed JSON at byte 5: unexpected character ']'")));
}

TEST(ParseJson, RejectsMalformedInputNamingTheProblem) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "unexpected end of input"},
      {"   ", "unexpected end of input"},
      {"[1,2,]", "unexpected character ']'"},    // trailing comma in an array
      {R"({"a":1,})", "expected a string key"},  // trailing comma in an object
      {R"({"a":1,"a":2})", "duplicate key \"a\""},
      {R"({"a":{"b":1,"b":1}})", "duplicate key \"b\""},
      {R"("\q")", "invalid escape sequence"},
      {R"("\x41")", "invalid escape sequence"},
      {R"("\ud800")", "unpaired UTF-16 surrogate"},
      {R"("\udc00")", "unpaired UTF-16 surrogate"},
      {R"("\ud800\u0041")", "invalid UTF-16 surrogate pair"},
      {R"("\u12g4")", "invalid hex digit in \\u escape"},
      {R"("\u12)", "truncated \\u escape"},
      {R"({} x)", "unexpected text after the JSON value"},
      {R"([1] [2])", "unexpected text after the JSON value"},
      {std::string("{}\0", 3), "unexpected text after the JSON value"},
      {"01", "leading zero in number"},
      {"-", "invalid number"},
      {"1.", "invalid number"},
      {"1e", "invalid number"},
      {".5", "unexpected character '.'"},
      {"+1", "unexpected character '+'"},
      {"NaN", "unexpected character 'N'"},
      {"tru", "invalid literal (expected 'true')"},
      {"nul", "invalid literal (expected 'null')"},
      {"// comment\n{}", "unexpected character '/'"},
      {"/* comment */ {}", "unexpected character '/'"},
      {"{'a':1}", "expected a string key"},
      {R"({"a" 1})", "expected ':'"},
      {"[1 2]", "expected ',' or ']'"},
      {R"({"a":1 "b":2})", "expected ',' or '}'"},
      {"[1", "unterminated array"},
      {R"({"a":1)", "unterminated object"},
      {R"("abc)", "unterminated string"},
      {"\"a\tb\"", "control character in string"},
      {"\x01", "unexpected character 0x01"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseJson(c.json),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << "input: " << c.json;
  }
}

TEST(ReadJsonFile, ReadsAFileAndNamesItInErrors) {
  ScratchDir dir;
  const std::string good = dir.Join("good.json");
  std::ofstream(good) << R"({"b":[1,2],"a":"x"})";
  RIB_ASSERT_OK_AND_ASSIGN(JsonValue v, ReadJsonFile(good));
  EXPECT_THAT(Keys(v), ElementsAre("b", "a"));

  const std::string bad = dir.Join("bad.json");
  std::ofstream(bad) << R"({"b":1,})";
  EXPECT_THAT(
      ReadJsonFile(bad),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(bad + ": malformed JSON at byte 7: expected a string key")));

  EXPECT_THAT(ReadJsonFile(dir.Join("missing.json")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.json")));
  EXPECT_THAT(ReadJsonFile(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(dir.path())));
}

}  // namespace
}  // namespace rib
