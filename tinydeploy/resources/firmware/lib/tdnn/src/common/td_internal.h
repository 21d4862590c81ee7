/* td_internal.h - helpers private to the tdnn sources (not part of the public API). */
#ifndef TD_INTERNAL_H
#define TD_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tdnn.h"

#define TD_ALIGN4(n) (((n) + 3) & ~3)

/* Fixed-size copies must become single loads/stores even under -ffreestanding (which
 * disables the memcpy builtin), so the GCC/Clang builtin is used explicitly. */
#if defined(__GNUC__)
#define TD_MEMCPY __builtin_memcpy
#else
#define TD_MEMCPY memcpy
#endif

/* Full unrolling of short constant-trip loops (GCC -O2 does not unroll by itself). */
#if defined(__clang__)
#define TD_UNROLL8 _Pragma("unroll 8")
#elif defined(__GNUC__)
#define TD_UNROLL8 _Pragma("GCC unroll 8")
#else
#define TD_UNROLL8
#endif

/* Keeps a specialised path out of its caller, so the caller's other paths compile as before. */
#if defined(__GNUC__)
#define TD_NOINLINE __attribute__((noinline))
#else
#define TD_NOINLINE
#endif

/* For naked asm routines that take their arguments through a struct pointer: GCC must not
 * derive (from the asm-only body) that a call leaves memory alone. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define TD_NOIPA __attribute__((noipa))
#else
#define TD_NOIPA
#endif

static inline uint32_t td_read_u32(const void *p)
{
    uint32_t v;
    TD_MEMCPY(&v, p, 4);
    return v;
}

static inline void td_write_u32(void *p, uint32_t v)
{
    TD_MEMCPY(p, &v, 4);
}

static inline void *td_align_ptr4(void *p)
{
    return (void *)(((uintptr_t)p + 3u) & ~(uintptr_t)3u);
}

#if defined(__ARM_FEATURE_DSP)
/* SXTB16 / SXTAB16 with the ROR #8 operand (not expressible through ACLE in GCC 12). */
static inline int32_t td_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

static inline int32_t td_sxtab16_ror8(int32_t a, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* acc + w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3 for the 4 int8 weights of w (one word) and
 * the int16 pairs x02 = (x0, x2), x13 = (x1, x3): two SMLADs after SXTB16 / SXTB16 ROR 8. */
static inline int32_t td_smlad_s8x4(int32_t w, int32_t x02, int32_t x13, int32_t acc)
{
    return __smlad(td_sxtb16_ror8(w), x13, __smlad(__sxtb16(w), x02, acc));
}
#endif

/* Inline asm with 13 or more register operands leaves GCC's register allocator no room at
 * -O0 ("impossible constraints"): there the DSP kernels use the same arithmetic through
 * ACLE intrinsics instead (bit-identical; only -O0 builds take it). */
#if defined(__ARM_FEATURE_DSP) && defined(__OPTIMIZE__)
#define TD_DSP_ASM 1
#endif

/* (lo, hi) as the low and high int16 halves of one word (SXTAB16 / SMLAD operands). */
static inline int32_t td_pack_s16x2(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* 4 int8 values at src plus `off` as int16 at dst: in SXTB16 pair order (x0, x2, x1, x3)
 * on DSP cores (off2 = td_pack_s16x2(off, off)), in natural order otherwise. */
static inline void td_widen4_s8(const int8_t *src, int32_t off, int32_t off2, int16_t *dst)
{
#if defined(__ARM_FEATURE_DSP)
    const int32_t v = (int32_t)td_read_u32(src);
    (void)off;
    td_write_u32(dst, (uint32_t)__sxtab16(off2, v));
    td_write_u32(dst + 2, (uint32_t)td_sxtab16_ror8(off2, v));
#else
    (void)off2;
    dst[0] = (int16_t)(src[0] + off);
    dst[1] = (int16_t)(src[1] + off);
    dst[2] = (int16_t)(src[2] + off);
    dst[3] = (int16_t)(src[3] + off);
#endif
}

/* Requantised maximum of the four conv accumulators a[0..3] of a 2x2 pooling window: for
 * multiplier >= 0 and shift <= 0 requantisation is monotonic, so only the largest
 * accumulator is requantised; otherwise (left shifts may wrap) all four, keeping the
 * largest int8 result. */
static inline int8_t td_requant_max4_s8(const int32_t *a, int32_t mult, int32_t shift, int32_t ooff,
                                        int32_t amin, int32_t amax)
{
    if (mult >= 0 && shift <= 0) {
        int32_t m = a[0] > a[1] ? a[0] : a[1];
        int8_t r;
        m = a[2] > m ? a[2] : m;
        m = a[3] > m ? a[3] : m;
        td_requant_channel_s8(&m, 1, mult, shift, ooff, amin, amax, &r, 1);
        return r;
    } else {
        int32_t best = -128, k;
        for (k = 0; k < 4; k++) {
            const int32_t q = td_requant_s8(a[k], mult, shift, ooff, amin, amax);
            best = q > best ? q : best;
        }
        return (int8_t)best;
    }
}

/* td_mul_by_quant_mult for multiplier >= 0 and shift = -e, 1 <= e <= 31 (bit-exact), in
 * 32-bit steps after one 64-bit multiply. With P = a * multiplier, td_requant_channel_s8
 * shows the result is floor((X + 2^(30+e)) / 2^(31+e)), X = P + 2^30 - [a < 0] * 2^31.
 * 2^(30+e) is a multiple of 2^31, so this is floor((Q + 2^(e-1)) / 2^e) with
 * Q = floor(X / 2^31) (|Q| < 2^31), i.e. (Q >> e) plus bit e-1 of Q. */
static inline int32_t td_mul_by_quant_mult_rshift(int32_t a, int32_t multiplier, int32_t e)
{
    const int32_t q =
        (int32_t)(((int64_t)a * multiplier + ((int64_t)1 << 30)) >> 31) - (a < 0 ? 1 : 0);
    return (q >> e) + ((q >> (e - 1)) & 1);
}

/* td_requant_s8 with the common case (multiplier >= 0, right shift) in 32-bit steps
 * (td_mul_by_quant_mult_rshift). */
static inline int8_t td_requant_rshift_s8(int32_t acc, int32_t mult, int32_t shift, int32_t ooff,
                                          int32_t amin, int32_t amax)
{
    if (mult >= 0 && shift < 0) {
        int32_t v = td_mul_by_quant_mult_rshift(acc, mult, -shift) + ooff;
        v = v < amin ? amin : v;
        return (int8_t)(v > amax ? amax : v);
    }
    return td_requant_s8(acc, mult, shift, ooff, amin, amax);
}

/* Conv output size for one axis, or -1 if the kernel does not fit. */
static inline int32_t td_conv_out_size(int32_t in, int32_t pad_a, int32_t pad_b, int32_t k,
                                       int32_t stride)
{
    const int32_t span = in + pad_a + pad_b - k;
    return span < 0 ? -1 : span / stride + 1;
}

/* Validates conv arguments; on success writes the (unpooled) conv output size. */
td_status td_internal_check_conv(const td_conv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const void *input,
                                 const td_dims *filter_dims, const td_dims *output_dims,
                                 const void *output, int32_t *conv_h, int32_t *conv_w);

td_status td_internal_check_act(const td_activation *act);

/* Band of input rows iy0 .. iy0 + nrows - 1, each (pad_left + W + pad_right) * C bytes,
 * zero-point padded (also rows outside the image). Returns the input itself (no copy) when
 * nothing needs padding, else fills and returns `band`. */
const int8_t *td_internal_band(const td_conv_params *params, const td_dims *input_dims,
                               const int8_t *input, int32_t iy0, int32_t nrows, int8_t *band);

/* N:M descriptor checks; write log2(m) and the group count G. _rows: the structure the
 * sparse conv reads (dims, n, m, row_sum; values and meta may be NULL); the full check (fc)
 * also requires values, meta and the meta_row_bytes the layout implies. */
td_status td_internal_check_nm_rows(const td_nm_weights *w, int32_t rows, int32_t cols,
                                    int32_t *bits, int32_t *groups);
td_status td_internal_check_nm(const td_nm_weights *w, int32_t rows, int32_t cols, int32_t *bits,
                               int32_t *groups);

/* In-group position of slot `slot` of a row's packed metadata (generic, not hot). */
static inline int32_t td_nm_slot_pos(const uint8_t *row, int32_t row_bytes, int32_t slot,
                                     int32_t bits)
{
    const int32_t bit = slot * bits;
    const int32_t byte = bit >> 3;
    uint32_t v = row[byte];
    if (byte + 1 < row_bytes) {
        v |= (uint32_t)row[byte + 1] << 8;
    }
    return (int32_t)((v >> (bit & 7)) & ((1u << bits) - 1u));
}

/* CSR descriptor checks. _rows: the row structure the sparse conv reads (dims, nnz, row
 * pointers, row_sum; values and column indices may be NULL); the full check (fc) also
 * requires the values and exactly the one column representation K allows (with
 * TD_VALIDATE_INDICES: every column < cols). */
td_status td_internal_check_csr_rows(const td_csr_weights *w, int32_t rows, int32_t cols);
td_status td_internal_check_csr(const td_csr_weights *w, int32_t rows, int32_t cols);

static inline uint32_t td_csr_row_ptr(const td_csr_weights *w, int32_t r)
{
    return w->row_ptr_u16 ? (uint32_t)w->row_ptr_u16[r] : w->row_ptr_u32[r];
}

static inline int32_t td_csr_col(const td_csr_weights *w, uint32_t j)
{
    return w->col_idx_u8 ? (int32_t)w->col_idx_u8[j] : (int32_t)w->col_idx_u16[j];
}

#endif /* TD_INTERNAL_H */
