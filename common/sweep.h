// Moved to the spec module: spec/sweep.h (the sweep grammar and expansion) and the
// catalog headers it includes. Kept, with the names of namespace rib it used to
// declare, so that code outside the spec module's change keeps building while issue
// 12's parts land; new code includes spec/... and says spec::.
#ifndef RIB_COMMON_SWEEP_H_
#define RIB_COMMON_SWEEP_H_

#include "spec/sweep.h"  // IWYU pragma: export

namespace rib {

using spec::CanonicalJobJson;
using spec::CanonicalMethodParam;
using spec::CanonicalMethodParams;
using spec::DefaultPreprocessing;
using spec::ExpandSweep;
using spec::IsMethodKind;
using spec::IsMethodParam;
using spec::JobHash;
using spec::KnownSuites;
using spec::MethodDependencyKind;
using spec::MethodKinds;
using spec::MethodTrains;
using spec::ParseSweepYaml;
using spec::PlannedJob;
using spec::SuiteDefaultNumClasses;
using spec::SuiteDownstreamDatasets;
using spec::SuiteEvalDatasets;
using spec::SuitePretrainDataset;
using spec::SweepSpec;

}  // namespace rib

#endif  // RIB_COMMON_SWEEP_H_
