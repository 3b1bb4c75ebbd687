// What a running job reports as it goes. The worker forwards these to the coordinator
// (progress, each accuracy row as soon as it is computed, checkpoints for resumption).
#ifndef RIB_WORKER_ENGINE_EVENTS_H_
#define RIB_WORKER_ENGINE_EVENTS_H_

#include <cstdint>
#include <string>

#include "common/robustness.h"

namespace rib::engine {

// Called from the thread running the job, in order. Implementations must not block
// for long (the training loop waits). On multi-rank jobs every rank calls its own
// sink with identical values; the worker forwards rank 0's.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // `epoch` is 0-based, `step` counts optimiser steps done in the job so far; `steps`
  // is the job's total. `loss` is the mean training loss since the last report.
  virtual void OnProgress(int epoch, int epochs, int64_t step, int64_t steps,
                          double loss, double lr) {}
  // One accuracy row: `subset` is "" for a whole dataset, or "corruption/severity"
  // for ImageNet-C style subsets. `skipped` examples failed to decode and are not in
  // `total`.
  virtual void OnResult(const std::string& dataset, const std::string& subset,
                        int64_t correct, int64_t total, int64_t skipped) {}
  // An otdd job's result (worker/engine/otdd.h), once, before the job returns.
  virtual void OnDistance(const DatasetDistanceRow& row) {}
  // The same with the row's per-image bits (ResultRow::correct_bits): what the runner
  // calls. By default it drops the bits and calls OnResult.
  virtual void OnResultRow(const ResultRow& row) {
    OnResult(row.dataset, row.subset, row.correct, row.total, row.skipped);
  }
  // A complete checkpoint was written (atomically) at `path`.
  virtual void OnCheckpoint(const std::string& path) {}
  // The job made progress: called after every training step and every evaluation
  // batch (so at least once per step/batch time), however long the job runs between
  // other events. It carries no data and is called very often: implementations must be
  // cheap (the rank runtime touches its heartbeat file, at most once a second).
  virtual void OnAlive() {}
};

}  // namespace rib::engine

#endif  // RIB_WORKER_ENGINE_EVENTS_H_
