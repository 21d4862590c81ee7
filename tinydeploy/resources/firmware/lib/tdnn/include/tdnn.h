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
 *  - Cortex-M with DSP extension (__ARM_FEATURE_DSP): SMLAD paths; otherwise portable C.
 *    Both give bit-identical results.
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
td_status td_requantize_block_s8(const int32_t *acc, int32_t n, int32_t multiplier,
                                 int32_t shift, int32_t output_offset,
                                 const td_activation *activation, int8_t *output);

/* ---- conv2d ----
 * input_dims: 1 x H x W x in_c. filter_dims: out_c x kh x kw x in_c (OHWI).
 * Conv output: Ho = (H + pad_top + pad_bottom - kh) / stride_h + 1 (same for W).
 * output_dims: 1 x Ho x Wo x out_c, or with fused_maxpool 1 x Ho/2 x Wo/2 x out_c
 * (floor); the full-size conv output is never stored. */
td_status td_conv_dense_s8(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const td_dims *output_dims, int8_t *output,
                           void *scratch);
int32_t td_conv_dense_s8_get_buffer_size(const td_conv_params *params,
                                         const td_dims *input_dims, const td_dims *filter_dims);

/* Sparse conv (CSR / N:M): weights->rows == out_c, weights->cols == kh*kw*in_c; `taps`
 * holds the entries' receptive-field offsets and values for this input geometry (see
 * td_conv_taps; generated from the same weights). The weights supply the row structure
 * (row_ptr / fixed slots per row) and row_sum. Scratch: out_c int32 effective biases and one
 * zero-point padded band of (kh + stride_h) input rows, never a copy of the whole input.
 * Conv outputs are computed in 2x2 blocks (the fused pool window) sharing every tap load. */
td_status td_conv_csr_s8(const td_conv_params *params, const td_quant_params *quant,
                         const td_dims *input_dims, const int8_t *input,
                         const td_dims *filter_dims, const td_csr_weights *weights,
                         const td_conv_taps *taps, const int32_t *bias,
                         const td_dims *output_dims, int8_t *output, void *scratch);
int32_t td_conv_csr_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims, const td_csr_weights *weights);

/* N:M weights: as td_conv_csr_s8, taps->entries == rows * G * n (every slot). */
td_status td_conv_nm_s8(const td_conv_params *params, const td_quant_params *quant,
                        const td_dims *input_dims, const int8_t *input,
                        const td_dims *filter_dims, const td_nm_weights *weights,
                        const td_conv_taps *taps, const int32_t *bias,
                        const td_dims *output_dims, int8_t *output, void *scratch);
int32_t td_conv_nm_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims, const td_nm_weights *weights);

/* ---- depthwise conv2d (dense), no scratch ---- */
td_status td_dwconv_dense_s8(const td_dwconv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter,
                             const int32_t *bias, const td_dims *output_dims, int8_t *output);

/* ---- fully connected: input int8[in_features], output int8[out_features] ---- */
td_status td_fc_dense_s8(const td_fc_params *params, const td_quant_params *quant,
                         int32_t in_features, const int8_t *input, int32_t out_features,
                         const int8_t *weights, const int32_t *bias, int8_t *output,
                         void *scratch);
int32_t td_fc_dense_s8_get_buffer_size(int32_t in_features, int32_t out_features);

/* CSR fc reads the int8 input directly (bias + input_offset * row_sum folded per row);
 * no scratch (size 0, scratch may be NULL). */
td_status td_fc_csr_s8(const td_fc_params *params, const td_quant_params *quant,
                       int32_t in_features, const int8_t *input, int32_t out_features,
                       const td_csr_weights *weights, const int32_t *bias, int8_t *output,
                       void *scratch);
int32_t td_fc_csr_s8_get_buffer_size(int32_t in_features, const td_csr_weights *weights);

td_status td_fc_nm_s8(const td_fc_params *params, const td_quant_params *quant,
                      int32_t in_features, const int8_t *input, int32_t out_features,
                      const td_nm_weights *weights, const int32_t *bias, int8_t *output,
                      void *scratch);
int32_t td_fc_nm_s8_get_buffer_size(int32_t in_features, const td_nm_weights *weights);

/* ---- pooling (NHWC, channels of input and output equal), no scratch ---- */
td_status td_maxpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output);
/* Average: (sum + count/2) / count for sum > 0, (sum - count/2) / count otherwise (C
 * truncating division), count = number of non-padded cells, exactly as TFLM. */
td_status td_avgpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output);

/* ---- elementwise add of two same-shape tensors of `size` elements, no scratch ---- */
td_status td_add_s8(const td_add_params *params, const int8_t *input1, const int8_t *input2,
                    int8_t *output, int32_t size);

#ifdef __cplusplus
}
#endif

#endif /* TDNN_H */
