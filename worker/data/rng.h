// Internal: a small deterministic random generator shared by the splits, the loader's
// shuffling and the FMNIST-RIB generator.
#ifndef RIB_WORKER_DATA_RNG_H_
#define RIB_WORKER_DATA_RNG_H_

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace rib::data::internal {

// SplitMix64: a tiny generator whose output is the same on every platform (unlike the
// standard library's distributions).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  Rng(uint64_t seed, uint64_t stream)
      : state_(seed * 0x9E3779B97F4A7C15ULL ^ (stream + 0x632BE59BD9B4E019ULL)) {
    Next();
  }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // [0, 1)
  double Uniform() { return (Next() >> 11) * (1.0 / 9007199254740992.0); }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // [0, n)
  int64_t Int(int64_t n) { return static_cast<int64_t>(Uniform() * n); }
  double Normal() {
    double u1 = Uniform(), u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i)
      std::swap(v[i - 1], v[Int(static_cast<int64_t>(i))]);
  }

 private:
  uint64_t state_;
};

}  // namespace rib::data::internal

#endif  // RIB_WORKER_DATA_RNG_H_
