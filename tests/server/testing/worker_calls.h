// Worker-API messages for the coordinator tests that play a worker over gRPC
// (coordinator_grpc_test, dashboard_http_test): a registration and the events of one
// lease, so each test builds them the same way.
#ifndef RIB_TESTS_SERVER_TESTING_WORKER_CALLS_H_
#define RIB_TESTS_SERVER_TESTING_WORKER_CALLS_H_

#include <string>

#include "rib/v1/worker.pb.h"

namespace rib::testing {

// A worker `name` with `cpus` CPU devices and the datasets of kSmallSweepYaml.
inline v1::RegisterRequest WorkerRegistration(const std::string& name, int cpus) {
  v1::RegisterRequest req;
  req.set_name(name);
  v1::Device* d = req.add_devices();
  d->set_kind("cpu");
  d->set_count(cpus);
  for (const char* ds : {"fmnist-val", "fmnist-v2", "fmnist-c"}) req.add_datasets(ds);
  return req;
}

// An event of `lease` (its job, attempt and secret) with nothing in it yet.
inline v1::JobEvent LeaseEvent(const v1::AcquireJobResponse& lease) {
  v1::JobEvent e;
  e.set_job_id(lease.job_id());
  e.set_attempt(lease.attempt());
  e.set_lease_secret(lease.lease_secret());
  return e;
}

// A result of `lease`: `correct` of 100 on dataset / subset ("" = the whole dataset).
inline v1::JobEvent ResultEvent(const v1::AcquireJobResponse& lease,
                                const std::string& dataset, const std::string& subset,
                                int correct) {
  v1::JobEvent e = LeaseEvent(lease);
  v1::Accuracy* a = e.mutable_result();
  a->set_dataset(dataset);
  a->set_subset(subset);
  a->set_correct(correct);
  a->set_total(100);
  return e;
}

}  // namespace rib::testing

#endif  // RIB_TESTS_SERVER_TESTING_WORKER_CALLS_H_
