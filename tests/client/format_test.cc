// The matrix renderings of `rib matrix`: exact text of each format on a known matrix.
#include "client/format.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/json_reader.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/client/test_matrix.h"

namespace rib::client {
namespace {

using ::rib::client::testing::KnownMatrix;
using ::testing::HasSubstr;
using ::testing::Not;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n');
}

TEST(FormatNumbers, PercentAndSignedPoints) {
  EXPECT_EQ(FormatPercent(0.9123), "91.2");
  EXPECT_EQ(FormatPercent(1.0), "100.0");
  EXPECT_EQ(FormatDelta(0.012), "+1.2");
  EXPECT_EQ(FormatDelta(-0.004), "-0.4");
  EXPECT_EQ(FormatDelta(-0.0001), "+0.0");  // no "-0.0"
  EXPECT_EQ(FormatDelta(-0.005, 2), "-0.50");
}

TEST(FormatNumbers, ColumnPrefix) {
  EXPECT_EQ(ColumnPrefix({"fmnist-val", "fmnist-v2", "fmnist-a"}), "fmnist-");
  EXPECT_EQ(ColumnPrefix({"imagenet-val", "imagenet-v2", "objectnet", "imagenet-c"}),
            "imagenet-");
  EXPECT_EQ(ColumnPrefix({"imagenet-val", "objectnet"}), "");  // one name only
  EXPECT_EQ(ColumnPrefix({"imagenet-c", "imagenet-"}), "");    // would empty a name
  EXPECT_EQ(ColumnPrefix({"x-a", "x-b", "c", "d"}), "x-");     // half is enough
  EXPECT_EQ(ColumnPrefix({"x-a", "x-b", "c", "d", "e"}), "");  // less than half
  EXPECT_EQ(ColumnPrefix({"x-a", "x-b", "a"}), "");            // "a" twice
  EXPECT_EQ(ColumnPrefix({}), "");
  EXPECT_EQ(DisplayWidth("\x1b[32m+1.0\x1b[0m"), 4u);
  EXPECT_EQ(DisplayWidth("pre-train \xce\x94"), 11u);  // "Δ" is one column
}

TEST(FormatCsvTest, ExactText) {
  // Row fmnist-v2 has an OTDD (the last column); row fmnist-a has none.
  rib::v1::Matrix m = KnownMatrix();
  m.mutable_rows(0)->set_has_otdd(true);
  m.mutable_rows(0)->set_otdd(1.25);
  EXPECT_EQ(FormatCsv({m}),
            "model,method,finetune_dataset,eval_dataset,accuracy,correct,total,skipped,"
            "delta,ri,pretrain_change,se,ri_se,ri_ci_low,ri_ci_high,otdd,"
            "ri_bootstrap_low,ri_bootstrap_high\n"
            // se = sqrt(p(1-p)/n): sqrt(.9 x .1 / 1000) = .009487; the RI interval is
            // ri ± 1.96 x ri_se: .02 ± .0294.
            "vit,ft,,fmnist-val,0.9,900,1000,0,,,,0.009487,,,,,,\n"
            "vit,ft,,fmnist-v2,0.8,400,500,0,,,,0.017889,,,,,,\n"
            "vit,ft,,fmnist-a,0.5,100,200,0,,,,0.035355,,,,,,\n"
            "vit,ft,fmnist-v2,fmnist-val,0.88,880,1000,0,-0.02,0.02,-0.02,0.010276,0.015,"
            "-0.0094,0.0494,1.25,,\n"
            "vit,ft,fmnist-v2,fmnist-v2,0.85,425,500,0,0.05,0.02,-0.02,0.015969,0.015,"
            "-0.0094,0.0494,1.25,,\n"
            "vit,ft,fmnist-v2,fmnist-a,0.52,104,200,0,0.02,0.02,-0.02,0.035327,0.015,"
            "-0.0094,0.0494,1.25,,\n"
            "vit,ft,fmnist-a,fmnist-val,0.85,850,1000,0,-0.05,-0.03,-0.05,0.011292,0.02,"
            "-0.0692,0.0092,,,\n"
            "vit,ft,fmnist-a,fmnist-v2,0.77,385,500,0,-0.03,-0.03,-0.05,0.01882,0.02,"
            "-0.0692,0.0092,,,\n"
            "vit,ft,fmnist-a,fmnist-a,0.7,140,200,0,0.2,-0.03,-0.05,0.032404,0.02,"
            "-0.0692,0.0092,,,\n");
}

TEST(FormatCsvTest, QuotesFieldsAndSkipsAbsentCells) {
  rib::v1::Matrix m = KnownMatrix("vit,\"b\"", "ft");
  m.mutable_rows(0)->mutable_cells(1)->set_present(false);
  std::string csv = FormatCsv({m});
  EXPECT_THAT(csv, HasSubstr("\"vit,\"\"b\"\"\",ft,,fmnist-val,0.9,"));
  EXPECT_THAT(csv, Not(HasSubstr("fmnist-v2,fmnist-v2,")));
  EXPECT_EQ(Lines(csv).size(), 1u + 8u + 1u);  // header, 8 present cells, final ""
}

TEST(FormatJsonTest, ValidJsonWithEveryField) {
  rib::v1::Matrix second = KnownMatrix("resnet", "lp");
  second.set_has_mri(false);
  second.mutable_rows(1)->mutable_cells(2)->set_present(false);
  std::string json = FormatJson({KnownMatrix(), second});

  google::protobuf::Value root;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &root).ok()) << json;
  ASSERT_EQ(root.kind_case(), google::protobuf::Value::kListValue);
  ASSERT_EQ(root.list_value().values_size(), 2);
  const auto& m = root.list_value().values(0).struct_value().fields();
  EXPECT_EQ(m.at("model").string_value(), "vit");
  EXPECT_EQ(m.at("method").string_value(), "ft");
  EXPECT_EQ(m.at("pretrain_dataset").string_value(), "fmnist-val");
  ASSERT_EQ(m.at("eval_datasets").list_value().values_size(), 3);
  EXPECT_EQ(m.at("eval_datasets").list_value().values(2).string_value(), "fmnist-a");
  EXPECT_DOUBLE_EQ(m.at("mri").number_value(), -0.005);
  EXPECT_DOUBLE_EQ(m.at("mean_ood").number_value(), 0.645);
  EXPECT_DOUBLE_EQ(m.at("mean_pretrain_change").number_value(), -0.035);
  // Uncertainty: mRI's SE and interval, the mean OOD accuracies' SEs, the baseline.
  EXPECT_DOUBLE_EQ(m.at("mri_se").number_value(), 0.012);
  ASSERT_EQ(m.at("mri_ci95").list_value().values_size(), 2);
  EXPECT_DOUBLE_EQ(m.at("mri_ci95").list_value().values(0).number_value(), -0.02852);
  EXPECT_DOUBLE_EQ(m.at("mri_ci95").list_value().values(1).number_value(), 0.01852);
  EXPECT_DOUBLE_EQ(m.at("mean_ood_se").number_value(), 0.02);
  EXPECT_DOUBLE_EQ(m.at("pre_mean_ood").number_value(), 0.65);
  EXPECT_DOUBLE_EQ(m.at("pre_mean_ood_se").number_value(), 0.015);

  const auto& base_cells =
      m.at("baseline").struct_value().fields().at("cells").list_value();
  ASSERT_EQ(base_cells.values_size(), 3);
  const auto& b0 = base_cells.values(0).struct_value().fields();
  EXPECT_EQ(b0.at("eval_dataset").string_value(), "fmnist-val");
  EXPECT_DOUBLE_EQ(b0.at("accuracy").number_value(), 0.9);
  EXPECT_EQ(b0.at("correct").number_value(), 900);
  EXPECT_EQ(b0.at("total").number_value(), 1000);
  EXPECT_EQ(b0.count("delta"), 0u);  // the baseline has no delta
  EXPECT_DOUBLE_EQ(b0.at("se").number_value(), 0.009487);  // sqrt(.9 x .1 / 1000)

  const auto& rows = m.at("rows").list_value();
  ASSERT_EQ(rows.values_size(), 2);
  const auto& r1 = rows.values(1).struct_value().fields();
  EXPECT_EQ(r1.at("finetune_dataset").string_value(), "fmnist-a");
  EXPECT_DOUBLE_EQ(r1.at("ri").number_value(), -0.03);
  EXPECT_DOUBLE_EQ(r1.at("pretrain_change").number_value(), -0.05);
  EXPECT_DOUBLE_EQ(r1.at("ri_se").number_value(), 0.02);
  EXPECT_DOUBLE_EQ(r1.at("ri_ci95").list_value().values(0).number_value(), -0.0692);
  EXPECT_DOUBLE_EQ(r1.at("ri_ci95").list_value().values(1).number_value(), 0.0092);
  const auto& c2 = r1.at("cells").list_value().values(2).struct_value().fields();
  EXPECT_DOUBLE_EQ(c2.at("accuracy").number_value(), 0.7);
  EXPECT_DOUBLE_EQ(c2.at("delta").number_value(), 0.2);
  EXPECT_EQ(c2.at("total").number_value(), 200);

  // Absent values are null.
  const auto& s = root.list_value().values(1).struct_value().fields();
  EXPECT_EQ(s.at("mri").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(s.at("mri_ci95").kind_case(), google::protobuf::Value::kNullValue);
  const auto& absent = s.at("rows")
                           .list_value()
                           .values(1)
                           .struct_value()
                           .fields()
                           .at("cells")
                           .list_value()
                           .values(2)
                           .struct_value()
                           .fields();
  EXPECT_EQ(absent.at("accuracy").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(absent.at("delta").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(absent.at("se").kind_case(), google::protobuf::Value::kNullValue);

  EXPECT_EQ(FormatJson({}), "[]\n");
}

TEST(FormatJsonTest, OtddPerRowAndItsCorrelationPerMatrix) {
  rib::v1::Matrix with = KnownMatrix();
  with.mutable_rows(0)->set_has_otdd(true);
  with.mutable_rows(0)->set_otdd(1.25);
  rib::v1::OtddCorrelation* c = with.mutable_otdd_correlation();
  c->set_pearson(-0.5);
  c->set_spearman(-0.75);
  c->set_n(4);
  c->set_slope(-0.01);
  c->set_intercept(0.02);
  google::protobuf::Value root;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  FormatJson({with, KnownMatrix("resnet", "lp")}), &root)
                  .ok());
  const auto& m = root.list_value().values(0).struct_value().fields();
  const auto& rows = m.at("rows").list_value();
  EXPECT_DOUBLE_EQ(rows.values(0).struct_value().fields().at("otdd").number_value(), 1.25);
  EXPECT_EQ(rows.values(1).struct_value().fields().at("otdd").kind_case(),
            google::protobuf::Value::kNullValue);
  const auto& corr = m.at("otdd_vs_pretrain_change").struct_value().fields();
  EXPECT_DOUBLE_EQ(corr.at("pearson").number_value(), -0.5);
  EXPECT_DOUBLE_EQ(corr.at("spearman").number_value(), -0.75);
  EXPECT_EQ(corr.at("n").number_value(), 4);
  EXPECT_DOUBLE_EQ(corr.at("slope").number_value(), -0.01);
  EXPECT_DOUBLE_EQ(corr.at("intercept").number_value(), 0.02);
  EXPECT_EQ(root.list_value().values(1).struct_value().fields().at(
                "otdd_vs_pretrain_change").kind_case(),
            google::protobuf::Value::kNullValue);
}

TEST(FormatJsonTest, NumbersKeepTheCsvDigitsAndLayoutIsIndentedByTwo) {
  rib::v1::Matrix m = KnownMatrix();
  m.mutable_baseline()->mutable_cells(0)->set_accuracy(1.0 / 3.0);
  std::string json = FormatJson({m});
  // Fractions are written with Fraction()'s 6 decimals, never a double's 17 digits.
  EXPECT_THAT(json, HasSubstr("\"accuracy\": 0.333333,"));
  EXPECT_THAT(json, HasSubstr("\"accuracy\": 0.88,"));
  EXPECT_THAT(json, HasSubstr("\"delta\": -0.03\n"));
  EXPECT_THAT(json, HasSubstr("\"correct\": 900,"));
  std::vector<std::string> lines = Lines(json);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "[");
  EXPECT_EQ(lines[1], "  {");
  EXPECT_EQ(lines[2], "    \"model\": \"vit\",");
  EXPECT_EQ(lines[lines.size() - 2], "]");
  EXPECT_EQ(lines.back(), "");  // a final newline
}

TEST(FormatLatexTest, Lines) {
  std::vector<std::string> lines = Lines(FormatLatex({KnownMatrix("vit_b", "ft")}));
  std::vector<std::string> expected = {
      "% vit_b / ft: accuracy (%), change vs pre-trained in points",
      "\\begin{tabular}{lrrrrr}",
      "\\hline",
      " & fmnist-val & fmnist-v2 & fmnist-a & RI & $\\Delta$pre-train \\\\",
      "\\hline",
      "pre-trained & 90.0 & 80.0 & 50.0 &  &  \\\\",
      "\\hline",
      "fmnist-v2 & 88.0 ($-2.0$) & 85.0 ($+5.0$) & 52.0 ($+2.0$) & $+2.00$ & $-2.0$ \\\\",
      "fmnist-a & 85.0 ($-5.0$) & 77.0 ($-3.0$) & 70.0 ($+20.0$) & $-3.00$ & $-5.0$ \\\\",
      "\\hline",
      "\\multicolumn{6}{l}{mRI $-0.50$, mean OOD accuracy 64.5\\%, mean pre-training "
      "change $-3.50$} \\\\",
      "\\hline",
      "\\end{tabular}",
      ""};
  EXPECT_EQ(lines, expected);
}

TEST(FormatSummaryTest, MarkdownTable) {
  rib::v1::Matrix second = KnownMatrix("vit", "lp");
  second.set_mri(0.0123);
  second.set_has_mean_pretrain_change(false);
  EXPECT_EQ(FormatSummaryMarkdown({KnownMatrix(), second}, "rib sweep s1"),
            "# rib sweep s1\n\n"
            "| model | method | mRI (points) | mRI 95% CI | mean OOD accuracy (%) | "
            "\xc2\xb1 SE | pre-trained (%) | mean pre-training change (points) |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|\n"
            "| vit | ft | -0.50 | [-2.85, +1.85] | 64.5 | 2.0 | 65.0 | -3.50 |\n"
            "| vit | lp | +1.23 | [-2.85, +1.85] | 64.5 | 2.0 | 65.0 | n/a |\n\n"
            "95% intervals are value \xc2\xb1 1.96 SE from the accuracies' binomial "
            "standard errors, the cells taken as independent (not a bootstrap).\n" +
                FormatFindingsMarkdown({KnownMatrix(), second}));
}

// A model × method matrix whose rows (fmnist-v2, fmnist-a) have these RIs.
rib::v1::Matrix WithRis(const std::string& model, const std::string& method, double v2,
                        double a) {
  rib::v1::Matrix m = KnownMatrix(model, method);
  m.mutable_rows(0)->set_ri(v2);
  m.mutable_rows(1)->set_ri(a);
  return m;
}

TEST(FormatFindingsTest, ModelsAgainstTheFirstAndMethodsAgainstFt) {
  // Δ RI rich − plain per dataset, the mean over ft and lwf:
  //   v2 ((−.01 − .02) + (.00 − .03)) / 2 = −.030, a ((−.06 + .03) + (−.05 + .01)) / 2
  //   = −.035; mean −.0325, se .0025, t −13 with 1 df: p = 1 − (2/π) atan 13 = .0489.
  // lwf − ft: plain {.01, .02}: t 3, p = 1 − (2/π) atan 3 = .2048; rich {.01, .01}:
  // no spread, p 0. plain's lp has one RI only (its other row's job has not finished).
  rib::v1::Matrix lp = WithRis("plain", "lp", 0.0, 0.0);
  lp.mutable_rows(1)->set_has_ri(false);
  const std::vector<rib::v1::Matrix> matrices = {
      WithRis("plain", "ft", 0.02, -0.03), WithRis("plain", "lwf", 0.03, -0.01), lp,
      WithRis("rich", "ft", -0.01, -0.06), WithRis("rich", "lwf", 0.00, -0.05)};
  EXPECT_EQ(FormatFindingsMarkdown(matrices),
            "\n## Findings\n\n"
            "Does a model (each against the first) or a method (each against ft) keep more "
            "robustness? \xce\x94 RI per fine-tune dataset, tested by a paired t test over "
            "the fine-tune datasets (two-sided, \xce\xb1 = 0.05; each line on its own, no "
            "correction for the number of lines).\n\n"
            "| comparison | fine-tune datasets | mean \xce\x94 RI (points) | t (df) | verdict |\n"
            "|---|---:|---:|---:|---|\n"
            "| rich \xe2\x88\x92 plain (mean over 2 methods) | 2 | -3.25 | -13.00 (1) | "
            "**significant** (p = 0.049) |\n"
            "| plain: lwf \xe2\x88\x92 ft | 2 | +1.50 | +3.00 (1) | not significant (p = 0.2) |\n"
            "| plain: lp \xe2\x88\x92 ft | 1 | n/a | n/a | n/a (needs 2 or more fine-tune "
            "datasets) |\n"
            "| rich: lwf \xe2\x88\x92 ft | 2 | +1.00 | +inf (1) | **significant** "
            "(p < 0.0001) |\n");
  // The whole summary carries the section.
  EXPECT_THAT(FormatSummaryMarkdown(matrices), HasSubstr("\n## Findings\n"));
}

TEST(FormatFindingsTest, NothingToCompare) {
  // One model without ft: no comparison, no section.
  EXPECT_EQ(FormatFindingsMarkdown({KnownMatrix("vit", "lp"), KnownMatrix("vit", "lpft")}),
            "");
  EXPECT_EQ(FormatFindingsMarkdown({}), "");
}

TEST(FormatSummaryTest, BootstrapIntervalsGetTheirOwnTable) {
  rib::v1::Matrix m = KnownMatrix();
  m.set_has_mri_bootstrap(true);
  m.set_mri_bootstrap_low(-0.021);
  m.set_mri_bootstrap_high(0.011);
  m.mutable_rows(0)->set_has_ri_bootstrap(true);
  m.mutable_rows(0)->set_ri_bootstrap_low(0.001);
  m.mutable_rows(0)->set_ri_bootstrap_high(0.039);
  const std::string summary = FormatSummaryMarkdown({m}, "");
  EXPECT_THAT(summary, ::testing::HasSubstr(
                           "| model | method | mRI (points) | mRI bootstrap 95% CI |\n"
                           "|---|---|---:|---:|\n"
                           "| vit | ft | -0.50 | [-2.10, +1.10] |\n"));
  // Without bootstrap intervals there is no such table (MarkdownTable above).
  EXPECT_THAT(FormatSummaryMarkdown({KnownMatrix()}, ""),
              ::testing::Not(::testing::HasSubstr("bootstrap 95% CI")));
  // CSV: row fmnist-v2 carries its interval, row fmnist-a (none) empty fields (after
  // the otdd column, empty here).
  const std::string csv = FormatCsv({m});
  EXPECT_THAT(csv,
              ::testing::HasSubstr("fmnist-v2,fmnist-a,0.52,104,200,0,0.02,0.02,-0.02,"
                                   "0.035327,0.015,-0.0094,0.0494,,0.001,0.039\n"));
  EXPECT_THAT(csv, ::testing::HasSubstr(",-0.0692,0.0092,,,\n"));
}

TEST(FormatSummaryTest, MatrixSections) {
  EXPECT_EQ(
      FormatMatricesMarkdown({KnownMatrix()}),
      "## vit / ft\n\n"
      "| fine-tuned on | fmnist-val | fmnist-v2 | fmnist-a | RI | pre-training change |\n"
      "|---|---:|---:|---:|---:|---:|\n"
      "| pre-trained | 90.0 | 80.0 | 50.0 |  |  |\n"
      "| fmnist-v2 | 88.0 (-2.0) | 85.0 (+5.0) | 52.0 (+2.0) | +2.00 | -2.0 |\n"
      "| fmnist-a | 85.0 (-5.0) | 77.0 (-3.0) | 70.0 (+20.0) | -3.00 | -5.0 |\n"
      "\nmRI -0.50 points, mean OOD accuracy 64.5%, mean pre-training change -3.50 "
      "points. Accuracies in %, changes vs pre-trained in points.\n\n");
}

TEST(FormatTableTest, ExactTextWithoutColour) {
  std::string table = FormatTable({KnownMatrix()});
  EXPECT_EQ(
      table,
      "vit / ft   accuracy %, change vs pre-trained in points; rows: fine-tuned on; "
      "\"fmnist-\" omitted\n"
      "               val           v2            a                 RI [95% CI]  "
      "pre-train \xce\x94\n"
      "pre-trained   90.0         80.0         50.0\n"
      "v2            88.0  -2.0   85.0  +5.0   52.0  +2.0  +2.00 [-0.94, +4.94]         "
      "-2.0\n"
      "a             85.0  -5.0   77.0  -3.0   70.0 +20.0  -3.00 [-6.92, +0.92]         "
      "-5.0\n"
      "mRI -0.50 [-2.85, +1.85]  mean OOD accuracy 64.5% \xc2\xb1" "2.0 (pre-trained 65.0% "
      "\xc2\xb1" "1.5)  mean pre-training change -3.50 (fmnist-val)\n"
      // sqrt(.9 x .1 / 1000) = 0.9 points to sqrt(.5 x .5 / 200) = 3.5 points
      "binomial SE of the accuracies 0.9 to 3.5 points (each cell's in -o json/csv); "
      "intervals: value \xc2\xb1 1.96 SE\n")
      << table;
  // Two matrices: two blocks separated by one empty line.
  std::string two = FormatTable({KnownMatrix(), KnownMatrix("vit", "lp")});
  EXPECT_THAT(two, HasSubstr("1.96 SE\n\nvit / lp   accuracy %"));
}

TEST(FormatTableTest, RowsOfUnfinishedJobsAreMarked) {
  rib::v1::Matrix m = KnownMatrix();
  m.mutable_baseline()->set_job_state(rib::v1::JOB_STATE_SUCCEEDED);
  m.mutable_rows(0)->set_job_state(rib::v1::JOB_STATE_SUCCEEDED);
  m.mutable_rows(1)->set_job_state(rib::v1::JOB_STATE_FAILED);
  std::string table = FormatTable({m});
  EXPECT_THAT(table, HasSubstr("\na [failed]    85.0  -5.0"));
  EXPECT_THAT(table, HasSubstr("\nv2            88.0  -2.0"));  // succeeded: unmarked
  EXPECT_THAT(table, HasSubstr("rows marked [state]: their job has not succeeded"));
  EXPECT_THAT(FormatTable({KnownMatrix()}), Not(HasSubstr("rows marked")));
  m.mutable_rows(1)->set_job_state(rib::v1::JOB_STATE_RUNNING);
  EXPECT_THAT(FormatTable({m}), HasSubstr("a [running]"));
  EXPECT_THAT(FormatJson({m}), HasSubstr("\"job_state\": \"running\""));
}

TEST(FormatTableTest, ColoursDeltasOnlyWhenAsked) {
  TableOptions color;
  color.color = true;
  std::string colored = FormatTable({KnownMatrix()}, color);
  EXPECT_THAT(colored, HasSubstr("\x1b[32m+5.0\x1b[0m"));   // v2 -> v2 went up
  EXPECT_THAT(colored, HasSubstr("\x1b[31m-2.0\x1b[0m"));   // v2 -> val went down
  EXPECT_THAT(colored, HasSubstr("\x1b[31m-3.00\x1b[0m"));  // RI of row a
  EXPECT_THAT(colored, HasSubstr("mRI \x1b[31m-0.50\x1b[0m"));
  EXPECT_THAT(FormatTable({KnownMatrix()}), Not(HasSubstr("\x1b")));
  // Colour does not change the layout: same text once the escapes are removed.
  std::string stripped;
  for (size_t i = 0; i < colored.size(); ++i) {
    if (colored[i] == '\x1b') {
      while (colored[i] != 'm') ++i;
      continue;
    }
    stripped += colored[i];
  }
  EXPECT_EQ(stripped, FormatTable({KnownMatrix()}));
}

// A listing whose strings hold every character CSV must quote.
Listing Awkward() {
  Listing l;
  l.keys = {"name", "count", "fraction", "note", "hidden"};
  l.titles = {"NAME", "COUNT", "FRACTION", "NOTE", ""};
  l.empty_table = "nothing";
  l.rows.push_back({TextCell("a,b"), IntCell(3),
                    ListingCell{"50%", JsonValue::Number(0.5)}, TextCell("say \"hi\""),
                    ListingCell{"", JsonValue::Bool(true)}});
  l.rows.push_back({TextCell("two\nlines"), IntCell(-7),
                    ListingCell{"-", JsonValue::Null()}, TextCell("plain"),
                    ListingCell{"", JsonValue::Bool(false)}});
  return l;
}

TEST(FormatListing, CsvQuotesCommasQuotesAndNewlinesAsRfc4180) {
  EXPECT_EQ(FormatListing(Awkward(), OutputFormat::kCsv),
            "name,count,fraction,note,hidden\n"
            "\"a,b\",3,0.5,\"say \"\"hi\"\"\",true\n"
            "\"two\nlines\",-7,,plain,false\n");
  Listing empty = Awkward();
  empty.rows.clear();
  EXPECT_EQ(FormatListing(empty, OutputFormat::kCsv),
            "name,count,fraction,note,hidden\n");
}

TEST(FormatListing, JsonParsesBackToTheTablesValues) {
  const Listing l = Awkward();
  auto parsed = ParseJson(FormatListing(l, OutputFormat::kJson));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->type, JsonValue::Type::kArray);
  ASSERT_EQ(parsed->array.size(), 2u);
  const JsonValue& first = parsed->array[0];
  EXPECT_EQ(first.Get("name")->text, "a,b");
  EXPECT_EQ(first.Get("count")->number, 3);
  EXPECT_EQ(first.Get("fraction")->number, 0.5);
  EXPECT_EQ(first.Get("note")->text, "say \"hi\"");
  EXPECT_TRUE(first.Get("hidden")->boolean);
  const JsonValue& second = parsed->array[1];
  EXPECT_EQ(second.Get("name")->text, "two\nlines");
  EXPECT_EQ(second.Get("count")->number, -7);
  EXPECT_EQ(second.Get("fraction")->type, JsonValue::Type::kNull);
  // Every string and integer the table shows is the JSON's value (a number's text is
  // its literal as written).
  for (size_t r = 0; r < l.rows.size(); ++r) {
    for (size_t c = 0; c < 2; ++c) {
      const JsonValue* v = parsed->array[r].Get(l.keys[c]);
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(v->text, l.rows[r][c].text);
    }
  }
  Listing one = l;
  one.rows.resize(1);
  one.single = true;
  auto object = ParseJson(FormatListing(one, OutputFormat::kJson));
  ASSERT_TRUE(object.ok());
  EXPECT_EQ(object->type, JsonValue::Type::kObject);
}

TEST(FormatListing, TableShowsTheTextsAndLeavesOutUntitledColumns) {
  Listing l = Awkward();
  l.rows.pop_back();  // the newline would break the table's lines
  EXPECT_EQ(FormatListing(l, OutputFormat::kTable),
            "NAME  COUNT  FRACTION  NOTE\n"
            "a,b   3      50%       say \"hi\"\n");
  l.rows.clear();
  EXPECT_EQ(FormatListing(l, OutputFormat::kTable), "nothing\n");
}

TEST(FormatListing, OutputFlagValues) {
  EXPECT_EQ(*ParseOutputFormat(std::nullopt), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("text"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("csv"), OutputFormat::kCsv);
  EXPECT_EQ(ParseOutputFormat("yaml").status().message(),
            "-o: unknown output 'yaml' (expected table, json or csv)");
}

// ---- seeds ----

rib::v1::Matrix Seeded(const std::string& method, double mri, double sd) {
  rib::v1::Matrix m = KnownMatrix("vit", method);
  for (int64_t seed : {0, 1, 2}) m.add_seeds(seed);
  m.set_mri(mri);
  m.set_mri_seed_sd(sd);
  m.set_mean_ood_seed_sd(0.004);
  return m;
}

TEST(FormatSeedsTest, MeanSdAndSignificantMethodDifferences) {
  // ft vs lp: sds .3 and .4 points over 3 seeds: combined SE sqrt((.09 + .16) / 3) =
  // .289, twice that .577 < |Δ| 2.5: significant. ft vs lora: |Δ| .1: not.
  const std::vector<rib::v1::Matrix> ms = {Seeded("ft", -0.005, 0.003),
                                           Seeded("lp", 0.02, 0.004),
                                           Seeded("lora", -0.004, 0.003)};
  EXPECT_EQ(FormatSeedsMarkdown(ms),
            "\n## Over seeds\n\n"
            "| model | method | seeds | mRI mean \xc2\xb1 sd (points) | "
            "mean OOD accuracy mean \xc2\xb1 sd (%) |\n|---|---|---|---:|---:|\n"
            "| vit | ft | 0, 1, 2 | -0.50 \xc2\xb1 0.30 | 64.5 \xc2\xb1 0.4 |\n"
            "| vit | lp | 0, 1, 2 | +2.00 \xc2\xb1 0.40 | 64.5 \xc2\xb1 0.4 |\n"
            "| vit | lora | 0, 1, 2 | -0.40 \xc2\xb1 0.30 | 64.5 \xc2\xb1 0.4 |\n"
            "\n### mRI differences between methods\n\n"
            "| model | methods | \xce\x94 mRI (points) | significant |\n|---|---|---:|---|\n"
            "| vit | ft vs lp | -2.50 | **yes** |\n"
            "| vit | ft vs lora | -0.10 | no |\n"
            "| vit | lp vs lora | +2.40 | **yes** |\n"
            "\nSignificant: |\xce\x94 mean| > 2 \xc3\x97 sqrt(sd_a\xc2\xb2/K_a + "
            "sd_b\xc2\xb2/K_b), the sds over the K seeds (a two-sample z test at about "
            "95%).\n");
  // Without seeds: nothing, and the summary has no such section.
  EXPECT_EQ(FormatSeedsMarkdown({KnownMatrix()}), "");
  EXPECT_THAT(FormatSummaryMarkdown(ms), HasSubstr("## Over seeds"));
  // The table's seeds line and the JSON's sds.
  EXPECT_THAT(FormatTable({ms[0]}),
              HasSubstr("over 3 seeds (0, 1, 2), mean \xc2\xb1 sd: mRI -0.50 \xc2\xb1 0.30"
                        "  mean OOD accuracy 64.5% \xc2\xb1 0.4\n"));
  const std::string json = FormatJson({ms[0]});
  EXPECT_THAT(json, HasSubstr("\"mri_seed_sd\": 0.003"));
  EXPECT_THAT(FormatJson({KnownMatrix()}), HasSubstr("\"mri_seed_sd\": null"));
}

}  // namespace
}  // namespace rib::client
