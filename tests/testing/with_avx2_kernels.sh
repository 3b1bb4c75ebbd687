#!/usr/bin/env bash
# with_avx2_kernels.sh BINARY [ARGS...]: runs a test binary on the code paths an AVX2
# CPU without AVX-512 takes (AMD Zen 1-3, Intel Haswell to Comet Lake), whatever this
# CPU is: OpenBLAS's "Zen" kernels (what it picks on such an AMD EPYC), ATen's AVX2
# kernels and oneDNN capped at AVX2. On an AVX-512 machine the plain run of the same test
# covers the AVX-512 paths, so one CI machine checks both families (README,
# "Determinism"). Skipped (exit 77) on a CPU without AVX2 and FMA.
set -u
if ! grep -qw avx2 /proc/cpuinfo || ! grep -qw fma /proc/cpuinfo; then
  echo "this CPU has no AVX2/FMA: the AVX2 code paths cannot run here (skipped)"
  exit 77
fi
export OPENBLAS_CORETYPE=Zen
export RIB_EXPECT_BLAS_CORE=Zen   # checked by engine_train_threads_test
export ATEN_CPU_CAPABILITY=avx2
export DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
exec "$@"
