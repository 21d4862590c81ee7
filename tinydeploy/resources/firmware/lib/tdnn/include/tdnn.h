/*
 * tdnn.h - public API of tdnn, tinydeploy's int8 kernel library (C99, no allocation).
 *
 * Layouts, formats and structs: see tdnn_types.h. Conventions shared by all kernels:
 *  - Every kernel returns td_status: TD_OK, TD_ERR_ARG (NULL pointer, bad dims, descriptor
 *    inconsistent with dims), TD_ERR_UNSUPPORTED (e.g. batch n != 1).
 *  - Kernels that need scratch have a *_get_buffer_size() companion returning bytes; the
 *    caller owns the buffer (any alignment; 4-byte aligned is fastest) and passes it as
 *    `scratch` (may be NULL when the size is 0). Kernels never allocate.
 *  - Accumulation: acc = bias[oc] + sum w * (x + input_offset) in int32, then
 *    td_requant_s8(acc, multiplier[oc], shift[oc], output_offset, act.min, act.max).
 *    Padded input cells contribute 0 (as TFLM: they hold the input zero point).
 *  - Legal ranges: input_offset in [-127, 128], output_offset in [-128, 127],
 *    -128 <= act.min <= act.max <= 127, shift in [-31, 30], multiplier >= 0.
 *  - Each entry point below is a wrapper that picks one of several internal variants (one
 *    source file each under src/<op>/, declared in src/<op>/td_<op>_internal.h) from the
 *    shapes, the quantisation and the core: Helium (Cortex-M55, __ARM_FEATURE_MVE) first
 *    where one exists, then the Cortex-M DSP (__ARM_FEATURE_DSP: SXTB16/SMLAD, inline asm)
 *    or portable C variants. All give bit-identical results; a wrapper's *_get_buffer_size
 *    is the largest scratch of the variants it may run and the same on every core (the
 *    generator sizes arenas with the host build).
 */
#ifndef TDNN_H
#define TDNN_H

#include <stdint.h>

#include "tdnn_types.h"
#include "tdnn_math.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- requantisation (exported copy of the inline helper, for tests and generators) ---- */
int32_t td_requantize(int32_t acc, int32_t multiplier, int32_t shift);

/* Requantises n accumulators of one channel to int8 (offset + clamp), as the kernels do. */
td_status td_requantize_block_s8(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                                 int32_t output_offset, const td_activation *activation,
                                 int8_t *output);

/* ---- conv2d ----
 * input_dims: 1 x H x W x in_c. filter_dims: out_c x kh x kw x in_c (OHWI).
 * Conv output: Ho = (H + pad_top + pad_bottom - kh) / stride_h + 1 (same for W).
 * output_dims: 1 x Ho x Wo x out_c, or with fused_maxpool 1 x Ho/2 x Wo/2 x out_c
 * (floor); the full-size conv output is never stored.
 *
 * td_conv_dense_s8 (K = kh * kw * in_c) runs the first variant that applies:
 *  - Helium (M55): gathered receptive fields, VMLADAVA.S8; K <= 512 and a tile of one
 *    window fits 8-bit gather offsets and the scratch; with the fused pool only when every
 *    channel has multiplier >= 0 and a right shift;
 *  - in_c == 1, 3x3, stride 1, fused pool: one pooling window for all channels at a time
 *    (on DSP cores only when every channel has a right shift of 1..22 and |bias| <
 *    2^30 - 2^19, or all-zero weights);
 *  - in_c == 1, kw == 3, stride_w == 1: 2x2 output blocks over a padded band;
 *  - 1x1, no padding, no fused pool (any stride): blocks of 4 pixels x all channels, inputs
 *    widened once per block (on DSP cores only for in_c % 4 == 0, every channel with
 *    multiplier >= 0, a right shift of 1..22 and |bias| + in_c * 255 * 128 < 2^30, or
 *    fully pruned: all weights 0; there in_c 8 with out_c % 8 == 0 and in_c 16 with
 *    out_c % 4 == 0 go one pixel at a time, its inputs in registers);
 *  - DSP cores, 3x3, no fused pool, even out_c, and in_c == 3, or in_c == 16 with
 *    stride_w 1 where a conv row's last position triplet wastes at most 1/16 of it
 *    (3 - Wo % 3) % 3 * 16 <= Wo: a ring of 3 widened input rows, 2 x 3 SMLAD kernels;
 *  - otherwise im2col of two positions and a 2 x 2 channel/column SMLAD kernel (on DSP
 *    cores three positions and a 2 x 3 kernel for K = 72, 144, 288, 576 and even out_c).
 * Scratch (td_conv_dense_s8_get_buffer_size, 4-byte aligned is fastest): for in_c == 1,
 * kw == 3, stride_w == 1: 3 + 8*kh*out_c + align4((kh + stride_h) * Wp + 4) with
 * Wp = W + pad_left + pad_right; otherwise I = 3 + 48*out_c + 24*(K4/4 + 1) + K4 + 4, plus
 * out_c*K4 when K % 4 != 0 (K4 = K rounded up to 4), plus 3 + 2*out_c*K for K 72 or 144,
 * even out_c and 2*out_c*K <= min(10240, H*W*in_c) (weights widened once); for the 1x1
 * shapes above max(I, 3 + 16*out_c + 12*align4(in_c)); for the band shapes above (on every
 * core) max(I, 3 + 48*out_c + 6*R (+ 56*out_c + 168 for in_c == 3; + 288*out_c for in_c ==
 * 16 when that is <= min(8192, H*W*in_c): the weights widened once)) with
 * R = (in_c * (Wp + 2*stride_w) + 5) & ~1. */
td_status td_conv_dense_s8(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const td_dims *output_dims, int8_t *output, void *scratch);
int32_t td_conv_dense_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                         const td_dims *filter_dims);

/* Sparse conv (CSR / N:M): weights->rows == out_c, weights->cols == kh*kw*in_c; `taps`
 * holds the entries' receptive-field offsets and values for this input geometry (see
 * td_conv_taps; generated from the same weights). The weights supply only the row
 * structure (row_ptr / fixed slots per row) and row_sum: their values, col_idx_u8,
 * col_idx_u16, col_delta_u8 (CSR) and values, meta, meta_row_bytes (N:M) are not read and
 * may be NULL / 0 (a generator can leave them out of flash). Variants: Helium (M55; VLD2
 * de-interleaved taps, gathers, VMLADAVA) for unpooled convs and for pooled ones whose
 * channels all have multiplier >= 0 and a right shift; otherwise 2x2 output blocks (the
 * fused pool window) sharing every tap load (UXTAH/SMLATB asm on DSP cores).
 * Scratch: 3 + 4*out_c (effective biases) + (kh + stride_h) * Wp * in_c (one zero-point
 * padded band of input rows, never a copy of the whole input). */
td_status td_conv_csr_s8(const td_conv_params *params, const td_quant_params *quant,
                         const td_dims *input_dims, const int8_t *input, const td_dims *filter_dims,
                         const td_csr_weights *weights, const td_conv_taps *taps,
                         const int32_t *bias, const td_dims *output_dims, int8_t *output,
                         void *scratch);
int32_t td_conv_csr_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims, const td_csr_weights *weights);

/* N:M weights: as td_conv_csr_s8 (same variants and scratch), taps->entries ==
 * rows * G * n (every slot, G = ceil(K / m)). */
td_status td_conv_nm_s8(const td_conv_params *params, const td_quant_params *quant,
                        const td_dims *input_dims, const int8_t *input, const td_dims *filter_dims,
                        const td_nm_weights *weights, const td_conv_taps *taps, const int32_t *bias,
                        const td_dims *output_dims, int8_t *output, void *scratch);
int32_t td_conv_nm_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims, const td_nm_weights *weights);

/* ---- depthwise conv2d (dense), no scratch ----
 * Helium (M55) for depth_multiplier 1 (8 channels per step in 16-bit lanes); on other DSP
 * cores (M4, M7, M33) 3x3 kernels with depth_multiplier 1 and in_c >= 4 in groups of 4
 * channels, the last in_c % 4 channels portable: with per-channel right shifts 1..22,
 * |bias| < 2^30 - 2^19, maps of at most 8x8 outputs (padding <= 1) take the small-map path
 * of the 4-channel variant (groups with |bias| < 2^29; each output's valid taps only, the
 * input widened once per group at stride 1: 2.3-3.0 instructions per MAC on M4 at
 * MobileNetV1's 6x6 and 3x3 layers; 1,864 bytes of stack), strides 1 / 2 with larger maps
 * the band variant (int16 pair bands, SMLAD asm, 1.9-2.4 instructions per MAC at stride 1,
 * 2.7-3.0 at stride 2 on M4; 2,192 bytes of stack: the band lives on the stack, bounded by
 * its 25-entry pass segments), the rest SXTAB16 + SMLABB/SMLATT (any stride and padding,
 * 1,272 bytes); portable C otherwise. */
td_status td_dwconv_dense_s8(const td_dwconv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             const td_dims *output_dims, int8_t *output);

/* ---- fully connected: input int8[in_features], output int8[out_features] ----
 * td_fc_dense_s8 runs: Helium (M55: 3 rows per pass, VMLADAVA.S8); on DSP cores with
 * K % 4 == 0, word-aligned weights and >= 2 rows, two rows per pass in LDM/SMLAD asm (with
 * K % 8 == 0, a bias and the full int8 clamp also the requantisation in asm);
 * otherwise 4 rows per pass sharing the widened input (DSP) and 2 rows per pass.
 * Scratch: 3 + 2 * align4(in_features) (the input widened to int16). */
td_status td_fc_dense_s8(const td_fc_params *params, const td_quant_params *quant,
                         int32_t in_features, const int8_t *input, int32_t out_features,
                         const int8_t *weights, const int32_t *bias, int8_t *output, void *scratch);
int32_t td_fc_dense_s8_get_buffer_size(int32_t in_features, int32_t out_features);

/* CSR fc reads the int8 input directly (bias + input_offset * row_sum folded per row);
 * no scratch (size 0, scratch may be NULL). Every descriptor field is read (values and
 * the column representation K allows, or col_delta_u8). Helium (M55): gathered inputs
 * (delta columns only for K <= 65536); else 8 entries per step (SXTB16 on DSP cores). */
td_status td_fc_csr_s8(const td_fc_params *params, const td_quant_params *quant,
                       int32_t in_features, const int8_t *input, int32_t out_features,
                       const td_csr_weights *weights, const int32_t *bias, int8_t *output,
                       void *scratch);
int32_t td_fc_csr_s8_get_buffer_size(int32_t in_features, const td_csr_weights *weights);

/* N:M fc: the input (+ offset) widened to int16 once, metadata decoded 8 slots per step
 * (Helium: into lane positions, gathered inputs). Scratch: 3 + 2 * ceil(in_features / m) * m.
 * Values and meta are read (never NULL). */
td_status td_fc_nm_s8(const td_fc_params *params, const td_quant_params *quant, int32_t in_features,
                      const int8_t *input, int32_t out_features, const td_nm_weights *weights,
                      const int32_t *bias, int8_t *output, void *scratch);
int32_t td_fc_nm_s8_get_buffer_size(int32_t in_features, const td_nm_weights *weights);

/* ---- pooling (NHWC, channels of input and output equal), no scratch ----
 * Average pooling on DSP cores (M4, M7, M55; filters of at most 256 cells): 8 / 4 channels
 * per word in int16 lanes. Otherwise Helium (M55): channels in lanes; portable C. Every window must hold at least
 * one non-padded cell (TD_ERR_ARG before any output is written otherwise). */
td_status td_maxpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output);
/* Average: (sum + count/2) / count for sum > 0, (sum - count/2) / count otherwise (C
 * truncating division), count = number of non-padded cells, exactly as TFLM. */
td_status td_avgpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output);

/* ---- elementwise add of two same-shape tensors of `size` elements, no scratch ----
 * Helium (M55): 4 lanes. Elsewhere, with params->input1_table / input2_table set (both or
 * neither, else TD_ERR_ARG; used when left_shift <= 20, output_multiplier >= 0 and
 * output_shift < 0, as TFLM always prepares int8 ADD): two table loads and one
 * requantisation per element (Cortex-M4, full int8 clamp: 10 instructions per element);
 * without tables the per-element TFLM arithmetic. Bit-exact with TFLM either way. */
td_status td_add_s8(const td_add_params *params, const int8_t *input1, const int8_t *input2,
                    int8_t *output, int32_t size);

/* Fills the two 256-entry tables td_add_s8 reads (layout: td_add_params in tdnn_types.h);
 * the C generator emits them as constants instead. TD_ERR_ARG unless left_shift <= 20 and
 * both input offsets are in [-128, 128] (and the checks of td_add_s8). */
td_status td_add_s8_fill_tables(const td_add_params *params, int32_t *input1_table,
                                int32_t *input2_table);

/* ---- softmax over the last axis: input and output int8 [rows][depth], no scratch ----
 * Exactly TFLM's reference int8 -> int8 Softmax (gemmlowp fixed point), per row:
 *   d = x - max(row); a = SRDHM(d * 2^input_left_shift, input_multiplier)   (Q5.26)
 *   e = exp_on_negative_values(a)        (Q0.31), for the entries with d >= diff_min
 *   S = sum of RoundingDivideByPOT(e, 12) (Q12.19, int32 adds wrap)
 *   k = CLZ(S); scale = one_over_one_plus_x((S << k) - 2^31)    (1/S, Q0.31)
 *   out = clamp(RoundingDivideByPOT(SRDHM(scale, e), 35 - k) - 128, -128, 127), and -128
 *   for the entries below diff_min.
 * Where 35 - k > 31 (S >= 2^28: 512 or more entries near the maximum) the quotient is
 * rounded exactly (to 0); TFLM's reference asserts the shift <= 31 there (a debug build
 * aborts, a release build shifts out of range). The exp is evaluated twice per entry (for
 * the sum and for the output), as in TFLM. output may be input (in place).
 * TD_ERR_ARG: NULL pointers, rows < 0, depth < 1, input_multiplier < 0, input_left_shift
 * outside [0, 31], diff_min > 0. */
td_status td_softmax_s8(const td_softmax_params *params, const int8_t *input, int8_t *output,
                        int32_t rows, int32_t depth);

/* ---- PAD, MEAN, CONCATENATION (data movement and global average pooling),
 * portable C on every core, no scratch ---- */

/* Constant pad of an int8 NHWC tensor (input_dims n == 1); output is
 * 1 x (h + pad_top + pad_bottom) x (w + pad_left + pad_right) x (c + pad_front + pad_back),
 * padded cells = pad_value (TFLM's int8 PAD / PADV2). output must not overlap input.
 * TD_ERR_ARG: NULL pointers, negative pads, pad_value outside int8. */
td_status td_pad_s8(const td_pad_params *params, const td_dims *input_dims, const int8_t *input,
                    int8_t *output);

/* Mean over H and W per channel (global average pooling, TFLM's int8 MEAN; the arithmetic
 * is in tdnn_types.h td_mean_params): input 1 x h x w x c, output c values.
 * TD_ERR_ARG: NULL pointers, empty input, multiplier < 0, shift outside [-31, 30]. */
td_status td_mean_s8(const td_mean_params *params, const td_dims *input_dims, const int8_t *input,
                     int8_t *output);

/* Concatenation of num_inputs int8 tensors along one axis (TFLM's int8 CONCATENATION: a
 * byte copy, no requantisation). With `outer` = the product of the dims before the axis
 * and block_sizes[i] = the product of input i's dims from the axis on, the output is, for
 * each outer index o, the blocks input_i[o * block_sizes[i] ...] in input order.
 * TD_ERR_ARG: NULL pointers, num_inputs < 1, outer < 0, a negative block size. */
td_status td_concat_s8(const int8_t *const *inputs, const int32_t *block_sizes, int32_t num_inputs,
                       int32_t outer, int8_t *output);
/* ---- 8-bit table lookup, QUANTIZE / DEQUANTIZE ---- */
/* Elementwise table lookup over `size` bytes: output[i] = table[(uint8_t)input[i]]. For ops
 * on int8 / uint8 tensors whose result depends only on the input byte (LOGISTIC, HARD_SWISH,
 * QUANTIZE uint8 -> int8, int8 -> uint8, int8 -> int8): the generator fills `table` (256
 * entries, indexed by the input's bit pattern) with TFLM's integer arithmetic for each input
 * value, so the kernel is bit-exact by construction. uint8 tensors are passed as bytes.
 * output may be input (in place). No scratch. TD_ERR_ARG: NULL pointers, size < 0. */
td_status td_lut_s8(const int8_t *table, const int8_t *input, int8_t *output, int32_t size);

/* QUANTIZE float32 -> int8 (a float-input model's first op), exactly TFLM's AffineQuantize:
 *   q = clamp(round(x / scale) + zero_point, -128, 127)
 * with one IEEE float32 division and round half away from zero (std::round); NaN gives -128.
 * A quotient outside int32 saturates (TFLM's float -> int cast is undefined there: its x86
 * build gives -128 for both signs, an Arm core saturates).
 * No scratch. TD_ERR_ARG: NULL pointers, size < 0, scale not > 0, zero_point outside int8. */
td_status td_quantize_f32_s8(const td_quantize_params *params, const float *input, int8_t *output,
                             int32_t size);

/* DEQUANTIZE int8 -> float32 (a float-output model's last op), exactly TFLM's Dequantize:
 *   x = (float)(q - zero_point) * scale   (one float32 multiply; TFLM's double product
 *   rounded to float is the same number). No scratch. TD_ERR_ARG as td_quantize_f32_s8. */
td_status td_dequantize_s8_f32(const td_dequantize_params *params, const int8_t *input,
                               float *output, int32_t size);
/* ---- end of the table lookup / QUANTIZE / DEQUANTIZE block ---- */

#ifdef __cplusplus
}
#endif

#endif /* TDNN_H */
