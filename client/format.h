// Text renderings of robustness-inheritance matrices (DESIGN §7) for the rib CLI:
// a terminal table, CSV, JSON, a LaTeX tabular and a Markdown summary. Pure functions
// over the API's Matrix messages; thread-compatible; no I/O.
//
// Units: the API carries accuracies and their differences as fractions in [0, 1].
// CSV and JSON keep those fractions (machine-readable); the table, LaTeX and Markdown
// show accuracies as percentages with one decimal and differences (deltas vs the
// pre-trained baseline, RI, mRI, pre-training-set change) as signed percentage points.
#ifndef RIB_CLIENT_FORMAT_H_
#define RIB_CLIENT_FORMAT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/json.h"
#include "rib/v1/coordinator.pb.h"

namespace rib::client {

struct TableOptions {
  // Colour deltas with ANSI escapes (green up, red down). Default false: only the
  // CLI decides, from isatty(stdout), --no-color and NO_COLOR.
  bool color = false;
};

// "91.2" for 0.9123 (one decimal, no sign).
std::string FormatPercent(double fraction);
// "+1.2" / "-0.4" / "+0.0" for a difference of fractions, in percentage points.
std::string FormatDelta(double fraction, int decimals = 1);

// The accuracy delta of `row`'s cell `col` vs the baseline's, when both are present.
std::optional<double> CellDelta(const rib::v1::Matrix& m, const rib::v1::MatrixRow& row,
                                int col);

// The prefix up to a name's first '-' ("fmnist-", "imagenet-") that the most names
// start with, when at least two and at least half of them do, no name would be left
// empty and the shortened names stay distinct; "" otherwise. The table and the SVG
// omit it from dataset names (and say so): "imagenet-sketch" -> "sketch", while
// "objectnet" stays as it is.
std::string ColumnPrefix(const std::vector<std::string>& names);

// One block per matrix: a title line, the header, the baseline row, the fine-tune rows
// (each cell "acc delta", the row's RI and pre-training-set change), and a line with
// mRI, mean OOD accuracy and mean pre-training-set change. Blocks are separated by
// an empty line.
std::string FormatTable(const std::vector<rib::v1::Matrix>& matrices,
                        const TableOptions& options = {});

// Long format, one line per present cell:
//   model,method,finetune_dataset,eval_dataset,accuracy,correct,total,skipped,delta,
//   ri,pretrain_change
// The baseline rows have an empty finetune_dataset, delta, ri and pretrain_change.
// Fractions are rounded to 6 decimals, trailing zeros dropped ("0.9", "-0.02"); fields
// are quoted as RFC 4180 requires.
std::string FormatCsv(const std::vector<rib::v1::Matrix>& matrices);

// A JSON array with one object per matrix:
//   {"model", "method", "pretrain_dataset", "eval_datasets": [...],
//    "baseline": {"cells": [...]},
//    "rows": [{"finetune_dataset", "cells": [...], "ri", "pretrain_change"}],
//    "mri", "mean_ood", "mean_pretrain_change"}
// and each cell {"eval_dataset", "accuracy", "correct", "total", "skipped", "delta"}.
// Absent values are null. Fractions are rounded to 6 decimals as in the CSV. Written by
// WriteJson with indent 2 (one member or element per line), with a final newline.
std::string FormatJson(const std::vector<rib::v1::Matrix>& matrices);

// One LaTeX tabular per matrix (plain \hline rules, no packages needed), preceded by a
// comment line naming the model and method.
std::string FormatLatex(const std::vector<rib::v1::Matrix>& matrices);

// A Markdown table with one line per (model, method): mRI, mean OOD accuracy and the
// mean pre-training-set change. `title` becomes a level-1 heading when not empty.
std::string FormatSummaryMarkdown(const std::vector<rib::v1::Matrix>& matrices,
                                  const std::string& title = "");

// For the matrices that ran with 2 or more seeds (and have an mRI): a "## Over seeds"
// section with mRI and mean OOD accuracy as mean ± sd over the seeds, and for every
// two methods of one model their mRI difference, marked significant by
// SignificantDifference (common/robustness.h). "" when no matrix has seeds. Part of
// FormatSummaryMarkdown.
std::string FormatSeedsMarkdown(const std::vector<rib::v1::Matrix>& matrices);

// The "## Findings" section: whether a model or a method keeps significantly more
// robustness than another, by a paired t test over the fine-tune datasets
// (common/significance.h, two-sided, alpha 0.05) on the rows' RI:
//  * each model after the first (in the order of `matrices`) against the first: per
//    fine-tune dataset, the mean over the methods both have of RI(model) − RI(first);
//  * per model, each method against the method named "ft": RI(method) − RI(ft).
// A fine-tune dataset enters a comparison only when every RI it needs is there (a
// SUCCEEDED job's). "" when no comparison can be made (one model and no ft, or no
// RI). Part of FormatSummaryMarkdown; the demo's two findings (README "The demo").
std::string FormatFindingsMarkdown(const std::vector<rib::v1::Matrix>& matrices);

// Each matrix as a Markdown section: "## model / method", then a table with the
// baseline row and the fine-tune rows (cells "88.0 (-2.0)"), RI and the pre-training-
// set change, then the mRI line.
std::string FormatMatricesMarkdown(const std::vector<rib::v1::Matrix>& matrices);

// ---- Listings: what every listing command prints, as a table, JSON or CSV (-o) ----

enum class OutputFormat { kTable, kJson, kCsv };

// The value of -o / --output: "table" (default when absent; "text" is its older name),
// "json" or "csv". INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(const std::optional<std::string>& flag);

// One cell: `text` is what the table shows, `value` what JSON and CSV carry (a number,
// a bool, null, or a string — the raw value, e.g. a fraction where the table shows
// "50%", seconds since the epoch where it shows a local time).
struct ListingCell {
  std::string text;
  JsonValue value;
};
ListingCell TextCell(const std::string& text);  // value: the same string
ListingCell IntCell(int64_t n);                 // text: the decimal number

struct Listing {
  // JSON member names and the CSV header (lower_snake), one per column.
  std::vector<std::string> keys;
  // The table's header, one per column; a column titled "" is left out of the table
  // (it is in JSON and CSV only).
  std::vector<std::string> titles;
  std::vector<std::vector<ListingCell>> rows;
  // What the table prints when there are no rows ("no sweeps"); JSON and CSV print
  // an empty array and the header alone.
  std::string empty_table;
  // One record, not a list (whoami, status, token create): JSON is that one object
  // rather than an array.
  bool single = false;
};

// kTable: Columns() of the titles and texts (or `empty_table` and a newline);
// kJson: an array of objects {key: value} (the first object alone when `single`),
// indent 2, final newline;
// kCsv: the header row of keys, then one line per row: strings quoted as RFC 4180
// requires, numbers as JSON writes them, bools true/false, null as an empty field.
std::string FormatListing(const Listing& listing, OutputFormat format);
// What kJson writes, as a value (the first object alone when `single`): for commands
// that nest a listing in a larger JSON document (`rib job`).
JsonValue ListingJson(const Listing& listing);

// Left-aligned columns separated by two spaces; trailing spaces trimmed.
std::string Columns(const std::vector<std::vector<std::string>>& rows);

// Display width of UTF-8 text, ignoring ANSI escape sequences (for column alignment).
size_t DisplayWidth(const std::string& text);

}  // namespace rib::client

#endif  // RIB_CLIENT_FORMAT_H_
