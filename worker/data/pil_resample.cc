#include "worker/data/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "worker/data/buffer_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RIB_RESAMPLE_X86 1
#include <immintrin.h>
#endif

namespace rib::data::internal {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS
constexpr int kSplitBits = 11;              // k = hi << 11 | lo, see the header

double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

// PIL's precompute_coeffs + normalize_coeffs_8bpc for output indices [out0, out0 + n),
// plus the same weights as int16 pairs for pmaddwd.
struct Coeffs {
  int ksize = 0;
  int npairs = 0;           // ceil(ksize / 2)
  std::vector<int> bounds;  // per output index: first input index, tap count
  std::vector<int32_t> k;   // per output index: ksize fixed-point weights (0-padded)
  // Per output index, npairs words: taps (2j, 2j + 1) as two int16 in one int32 (the
  // even tap in the low half), for the high (k >> 11) and low (k & 2047) parts.
  std::vector<int32_t> hi, lo;
  // The same words as the horizontal SIMD kernels load them: per output index and pair,
  // 8 int32: the hi word 4 times, then the lo word 4 times.
  std::vector<int32_t> wide;

  int first(int i) const { return bounds[2 * i]; }
  int count(int i) const { return bounds[2 * i + 1]; }
  const int32_t* weights(int i) const { return &k[static_cast<size_t>(i) * ksize]; }
  int pairs(int i) const { return (count(i) + 1) / 2; }
};

int32_t PackPair(int32_t even, int32_t odd) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint16_t>(even)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(odd)) << 16));
}

Coeffs PrecomputeCoeffs(int in_size, int out_size, int out0, int n, bool bicubic) {
  const double support0 = bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.npairs = (c.ksize + 1) / 2;
  c.bounds.resize(2 * n);
  c.k.assign(static_cast<size_t>(n) * c.ksize, 0);
  c.hi.assign(static_cast<size_t>(n) * c.npairs, 0);
  c.lo.assign(static_cast<size_t>(n) * c.npairs, 0);
  c.wide.assign(static_cast<size_t>(n) * c.npairs * 8, 0);
  std::vector<double> w(c.ksize);
  const double ss = 1.0 / filterscale;
  for (int i = 0; i < n; ++i) {
    const int xx = out0 + i;
    const double center = (xx + 0.5) * scale;
    double ww = 0.0;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      const double v = bicubic ? BicubicFilter((x + xmin - center + 0.5) * ss)
                               : BilinearFilter((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    int32_t* k = &c.k[static_cast<size_t>(i) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[2 * i] = xmin;
    c.bounds[2 * i + 1] = xmax;
    for (int j = 0; 2 * j < xmax; ++j) {
      const int32_t k0 = k[2 * j], k1 = 2 * j + 1 < xmax ? k[2 * j + 1] : 0;
      const size_t at = static_cast<size_t>(i) * c.npairs + j;
      c.hi[at] = PackPair(k0 >> kSplitBits, k1 >> kSplitBits);
      c.lo[at] = PackPair(k0 & ((1 << kSplitBits) - 1), k1 & ((1 << kSplitBits) - 1));
      std::fill_n(&c.wide[8 * at], 4, c.hi[at]);
      std::fill_n(&c.wide[8 * at + 4], 4, c.lo[at]);
    }
  }
  return c;
}

inline uint8_t Clip8(int32_t v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// ---- Scalar kernels: PIL's loops (the reference the SIMD kernels must equal) ----

// Output pixels [x0, x1) of one row of the horizontal pass.
void HorizontalScalar(const uint8_t* in, uint8_t* out, int x0, int x1, const Coeffs& hc) {
  for (int xx = x0; xx < x1; ++xx) {
    const int32_t* k = hc.weights(xx);
    int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
    const uint8_t* p = in + 3 * hc.first(xx);
    for (int x = 0, n = hc.count(xx); x < n; ++x, p += 3) {
      s0 += p[0] * k[x];
      s1 += p[1] * k[x];
      s2 += p[2] * k[x];
    }
    out[3 * xx] = Clip8(s0);
    out[3 * xx + 1] = Clip8(s1);
    out[3 * xx + 2] = Clip8(s2);
  }
}

// Bytes [b0, b1) of output row yy of the vertical pass; rows[j] is the j-th input row of
// its window.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O3")))  // vectorises the column loop
#endif
void VerticalScalar(const uint8_t* const* rows, uint8_t* out, int b0, int b1,
                    const int32_t* k, int count) {
  for (int xx = b0; xx < b1; ++xx) {
    int32_t s = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < count; ++y) s += rows[y][xx] * k[y];
    out[xx] = Clip8(s);
  }
}

#ifdef RIB_RESAMPLE_X86

// ---- SSSE3 (pshufb) and AVX2: the horizontal pass ----

// (sum_hi << 11) + sum_lo + rounding, shifted (the clip to uint8 follows: packs/packus
// saturate exactly as Clip8's clamp does). W is the intrinsics' width: empty or 256.
#define RIB_FINISH(W, hi, lo)                                                      \
  _mm##W##_srai_epi32(                                                             \
      _mm##W##_add_epi32(_mm##W##_add_epi32(_mm##W##_slli_epi32(hi, kSplitBits), lo), \
                         _mm##W##_set1_epi32(1 << (kPrecisionBits - 1))),          \
      kPrecisionBits)

__attribute__((target("sse2"))) inline __m128i Finish128(__m128i hi, __m128i lo) {
  return RIB_FINISH(, hi, lo);
}

// Whether output pixel xx's loads stay inside the row: each tap pair loads 8 bytes,
// the last one 2 bytes past its pixels.
inline bool LoadsInRow(const Coeffs& hc, int xx, int in_bytes) {
  return 3 * hc.first(xx) + 6 * hc.pairs(xx) + 2 <= in_bytes;
}

// 8 bytes r0 g0 b0 r1 g1 b1 . . -> int16 pairs (r0 r1) (g0 g1) (b0 b1) (0 0).
#define RIB_PAIR_SHUFFLE 0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1

// Output pixel xx as int32 [R G B 0], shifted (not yet clipped).
__attribute__((target("ssse3"))) inline __m128i PixelSse(const uint8_t* in, int xx,
                                                         const Coeffs& hc) {
  const __m128i shuf = _mm_setr_epi8(RIB_PAIR_SHUFFLE);
  const uint8_t* p = in + 3 * hc.first(xx);
  const __m128i* k =
      reinterpret_cast<const __m128i*>(&hc.wide[static_cast<size_t>(xx) * hc.npairs * 8]);
  __m128i sh = _mm_setzero_si128(), sl = _mm_setzero_si128();
  for (int j = 0, n = hc.pairs(xx); j < n; ++j, p += 6, k += 2) {
    const __m128i px =
        _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), shuf);
    sh = _mm_add_epi32(sh, _mm_madd_epi16(px, _mm_loadu_si128(k)));
    sl = _mm_add_epi32(sl, _mm_madd_epi16(px, _mm_loadu_si128(k + 1)));
  }
  return Finish128(sh, sl);
}

// The same with AVX2: the pair's pixels in both lanes, the hi weights in the low lane
// and the lo weights in the high one, so one pmaddwd does both.
__attribute__((target("avx2"))) inline __m128i PixelAvx2(const uint8_t* in, int xx,
                                                        const Coeffs& hc) {
  const __m256i shuf = _mm256_setr_epi8(RIB_PAIR_SHUFFLE, RIB_PAIR_SHUFFLE);
  const uint8_t* p = in + 3 * hc.first(xx);
  const __m256i* k =
      reinterpret_cast<const __m256i*>(&hc.wide[static_cast<size_t>(xx) * hc.npairs * 8]);
  __m256i s = _mm256_setzero_si256();
  for (int j = 0, n = hc.pairs(xx); j < n; ++j, p += 6, ++k) {
    int64_t bytes;
    std::memcpy(&bytes, p, 8);
    const __m256i px = _mm256_shuffle_epi8(_mm256_set1_epi64x(bytes), shuf);
    s = _mm256_add_epi32(s, _mm256_madd_epi16(px, _mm256_loadu_si256(k)));
  }
  return Finish128(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Output pixels [0, n) of one row, four at a time: clipped by packs/packus and stored
// as 12 bytes with one 16-byte store (`out` has 4 bytes of slack past the row, which
// the next row or the buffer's padding absorbs). `in_bytes` bounds the reads; pixels
// whose loads would pass the row end take the scalar loop. A macro, not a template:
// PIXEL must inline, so the function needs PIXEL's target.
#define RIB_DEFINE_HORIZONTAL_ROW(NAME, TARGET, PIXEL)                                 \
  __attribute__((target(TARGET))) void NAME(const uint8_t* in, int in_bytes,            \
                                            uint8_t* out, int n, const Coeffs& hc) {    \
    /* [R0 G0 B0 . R1 G1 B1 . ...] -> 12 packed bytes. */                              \
    const __m128i compact =                                                             \
        _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);          \
    int xx = 0;                                                                         \
    for (; xx + 4 <= n; xx += 4) {                                                      \
      if (!LoadsInRow(hc, xx, in_bytes) || !LoadsInRow(hc, xx + 1, in_bytes) ||         \
          !LoadsInRow(hc, xx + 2, in_bytes) || !LoadsInRow(hc, xx + 3, in_bytes))       \
        break;                                                                          \
      const __m128i v01 = _mm_packs_epi32(PIXEL(in, xx, hc), PIXEL(in, xx + 1, hc));    \
      const __m128i v23 = _mm_packs_epi32(PIXEL(in, xx + 2, hc), PIXEL(in, xx + 3, hc)); \
      const __m128i b = _mm_shuffle_epi8(_mm_packus_epi16(v01, v23), compact);          \
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * xx), b);                    \
    }                                                                                   \
    for (; xx < n; ++xx) {                                                              \
      if (!LoadsInRow(hc, xx, in_bytes)) {                                              \
        HorizontalScalar(in, out, xx, xx + 1, hc);                                      \
        continue;                                                                       \
      }                                                                                 \
      const __m128i v = PIXEL(in, xx, hc);                                              \
      const __m128i b = _mm_packus_epi16(_mm_packs_epi32(v, v), _mm_setzero_si128());   \
      const uint32_t rgb = static_cast<uint32_t>(_mm_cvtsi128_si32(b));                 \
      std::memcpy(out + 3 * xx, &rgb, 3);                                               \
    }                                                                                   \
  }

RIB_DEFINE_HORIZONTAL_ROW(HorizontalSse, "ssse3", PixelSse)
RIB_DEFINE_HORIZONTAL_ROW(HorizontalAvx2, "avx2", PixelAvx2)
#undef RIB_DEFINE_HORIZONTAL_ROW

// ---- AVX2: the vertical pass, 32 bytes at a time ----

__attribute__((target("avx2"))) inline __m256i Finish256(__m256i hi, __m256i lo) {
  return RIB_FINISH(256, hi, lo);
}
#undef RIB_FINISH

// Bytes [b0, b0 + 32 * n). Unpack and pack both work within 128-bit lanes, so the
// bytes come back in their order.
__attribute__((target("avx2"))) void VerticalAvx2(const uint8_t* const* rows, uint8_t* out,
                                                  int b0, int n, const int32_t* hk,
                                                  const int32_t* lk, int npairs) {
  const __m256i zero = _mm256_setzero_si256();
  for (int c = 0; c < n; ++c) {
    const int b = b0 + 32 * c;
    __m256i h0 = zero, h1 = zero, h2 = zero, h3 = zero;
    __m256i l0 = zero, l1 = zero, l2 = zero, l3 = zero;
    for (int j = 0; j < npairs; ++j) {
      const __m256i a =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[2 * j] + b));
      const __m256i d =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[2 * j + 1] + b));
      const __m256i ab_lo = _mm256_unpacklo_epi8(a, d), ab_hi = _mm256_unpackhi_epi8(a, d);
      const __m256i p0 = _mm256_unpacklo_epi8(ab_lo, zero);
      const __m256i p1 = _mm256_unpackhi_epi8(ab_lo, zero);
      const __m256i p2 = _mm256_unpacklo_epi8(ab_hi, zero);
      const __m256i p3 = _mm256_unpackhi_epi8(ab_hi, zero);
      const __m256i kh = _mm256_set1_epi32(hk[j]), kl = _mm256_set1_epi32(lk[j]);
      h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(p0, kh));
      h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(p1, kh));
      h2 = _mm256_add_epi32(h2, _mm256_madd_epi16(p2, kh));
      h3 = _mm256_add_epi32(h3, _mm256_madd_epi16(p3, kh));
      l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(p0, kl));
      l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(p1, kl));
      l2 = _mm256_add_epi32(l2, _mm256_madd_epi16(p2, kl));
      l3 = _mm256_add_epi32(l3, _mm256_madd_epi16(p3, kl));
    }
    const __m256i lo16 = _mm256_packs_epi32(Finish256(h0, l0), Finish256(h1, l1));
    const __m256i hi16 = _mm256_packs_epi32(Finish256(h2, l2), Finish256(h3, l3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b),
                        _mm256_packus_epi16(lo16, hi16));
  }
}

bool CpuHasSsse3() {
  static const bool have = __builtin_cpu_supports("ssse3");
  return have;
}
bool CpuHasAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#else
bool CpuHasSsse3() { return false; }
bool CpuHasAvx2() { return false; }
#endif  // RIB_RESAMPLE_X86

// The kernels actually used for a request: what the CPU lacks falls back.
struct Kernels {
  bool sse_h = false;  // SSSE3 horizontal pass
  bool avx2 = false;   // AVX2, both passes
};

Kernels Resolve(ResampleKernels want) {
  Kernels k;
#ifdef RIB_RESAMPLE_X86
  if (want == ResampleKernels::kScalar) return k;
  k.sse_h = CpuHasSsse3();
  k.avx2 = want != ResampleKernels::kSse && CpuHasAvx2();
#else
  (void)want;
#endif
  return k;
}

// One output row of the vertical pass over `row_bytes` bytes: AVX2 blocks, then the
// tail as one more block ending at the row end (it recomputes a few bytes, with the
// same result) when the row is wide enough, else scalar (also without AVX2: the
// auto-vectorised loop is close enough there, and one SIMD version is less to keep).
void VerticalRow(const uint8_t* const* rows, uint8_t* out, int row_bytes, const int32_t* k,
                 int count, const int32_t* hk, const int32_t* lk, const Kernels& kern) {
#ifdef RIB_RESAMPLE_X86
  const int npairs = (count + 1) / 2;
  if (kern.avx2 && row_bytes >= 32) {
    VerticalAvx2(rows, out, 0, row_bytes / 32, hk, lk, npairs);
    if (row_bytes % 32) VerticalAvx2(rows, out, row_bytes - 32, 1, hk, lk, npairs);
    return;
  }
#else
  (void)hk;
  (void)lk;
  (void)kern;
#endif
  VerticalScalar(rows, out, 0, row_bytes, k, count);
}

// Rows of the horizontal pass's output, reused by each thread (most of a JPEG's worth:
// reallocating it per image costs page faults).
std::vector<uint8_t>& ScratchRows() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

}  // namespace

cv::Mat PilResizeCrop(const cv::Mat& rgb, int out_w, int out_h, int left, int top,
                      int crop_w, int crop_h, bool bicubic, ResampleKernels kernels) {
  const Kernels kern = Resolve(kernels);
  const int in_w = rgb.cols, in_h = rgb.rows;
  const bool need_h = out_w != in_w;
  const bool need_v = out_h != in_h;
  const Coeffs vc = PrecomputeCoeffs(in_h, out_h, top, crop_h, bicubic);
  // Rows of the input the vertical pass reads (all of the crop's when there is none).
  const int y_first = need_v ? vc.first(0) : top;
  const int y_last = need_v ? vc.first(crop_h - 1) + vc.count(crop_h - 1) : top + crop_h;
  cv::Mat tmp;  // horizontal pass: rows [y_first, y_last), crop_w columns
  if (need_h) {
    const Coeffs hc = PrecomputeCoeffs(in_w, out_w, left, crop_w, bicubic);
    std::vector<uint8_t>& buf = ScratchRows();
    const size_t row_bytes = static_cast<size_t>(crop_w) * 3;
    buf.resize(std::max(buf.size(), row_bytes * (y_last - y_first) + 16));
    tmp = cv::Mat(y_last - y_first, crop_w, CV_8UC3, buf.data());
    for (int y = y_first; y < y_last; ++y) {
      uint8_t* o = tmp.ptr<uint8_t>(y - y_first);
#ifdef RIB_RESAMPLE_X86
      if (kern.avx2) {
        HorizontalAvx2(rgb.ptr<uint8_t>(y), 3 * in_w, o, crop_w, hc);
        continue;
      }
      if (kern.sse_h) {
        HorizontalSse(rgb.ptr<uint8_t>(y), 3 * in_w, o, crop_w, hc);
        continue;
      }
#endif
      HorizontalScalar(rgb.ptr<uint8_t>(y), o, 0, crop_w, hc);
    }
  } else {
    tmp = rgb(cv::Rect(left, y_first, crop_w, y_last - y_first));
  }
  if (!need_v) return tmp(cv::Rect(0, top - y_first, crop_w, crop_h)).clone();
  thread_local cv::Mat slot;
  cv::Mat out = PooledMat(&slot, crop_h, crop_w, CV_8UC3);
  const int row_bytes = crop_w * 3;
  std::vector<const uint8_t*> rows(vc.ksize + 1);
  for (int yy = 0; yy < crop_h; ++yy) {
    const int first = vc.first(yy) - y_first, count = vc.count(yy);
    for (int y = 0; y < count; ++y) rows[y] = tmp.ptr<uint8_t>(first + y);
    rows[count] = rows[count - 1];  // the odd tap's partner (weight 0)
    VerticalRow(rows.data(), out.ptr<uint8_t>(yy), row_bytes, vc.weights(yy), count,
                &vc.hi[static_cast<size_t>(yy) * vc.npairs],
                &vc.lo[static_cast<size_t>(yy) * vc.npairs], kern);
  }
  return out;
}

}  // namespace rib::data::internal
