/* td_conv_internal.h - the conv kernel variants behind the public entry points (not part of
 * the public API). The wrappers td_conv_dense_s8.c (dense) and td_conv_sparse_s8.c (CSR and
 * N:M, called by td_conv_csr_s8.c / td_conv_nm_s8.c) check the arguments and pick a variant;
 * every variant has its own *_get_buffer_size, and a wrapper's size is the largest of the
 * variants it may run for the given shapes. Helium (MVE) variants use only that scratch and
 * return 0 (the wrapper then runs the next variant) when a call does not fit them. */
#ifndef TD_CONV_INTERNAL_H
#define TD_CONV_INTERNAL_H

#include "../common/td_internal.h"

/* ---- dense conv (td_conv_dense_s8.c dispatches, in this order) ---- */

/* Helium: gathered receptive fields, VMLADAVA.S8 (td_conv_dense_s8_mve.c). Returns 1 when it
 * handled the call, 0 when it declined (K > 512, a tile of one window does not fit 8-bit
 * gather offsets or the scratch, or left shifts with the fused pool). */
#if defined(__ARM_FEATURE_MVE)
int32_t td_conv_dense_s8_mve(const td_conv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             int32_t conv_h, int32_t conv_w, const td_dims *output_dims,
                             int8_t *output, void *scratch);
#endif

/* in_c == 1, 3x3, stride 1, fused 2x2 max-pool, one pooling window at a time for all
 * channels (td_conv_dense_s8_c1_3x3_pool.c). On DSP cores also only for the quantisation its asm
 * takes (see there). */
int32_t td_conv_dense_s8_c1_3x3_pool_shape(const td_conv_params *params, const td_dims *input_dims,
                                           const td_dims *filter_dims);
int32_t td_conv_dense_s8_c1_3x3_pool_applies(const td_conv_params *params,
                                             const td_quant_params *quant,
                                             const td_dims *input_dims, const td_dims *filter_dims,
                                             const int8_t *filter, const int32_t *bias);
int32_t td_conv_dense_s8_c1_3x3_pool_get_buffer_size(const td_conv_params *params,
                                                     const td_dims *input_dims,
                                                     const td_dims *filter_dims);
void td_conv_dense_s8_c1_3x3_pool(const td_conv_params *params, const td_quant_params *quant,
                                  const td_dims *input_dims, const int8_t *input,
                                  const td_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const td_dims *output_dims, int8_t *output,
                                  void *scratch);

/* in_c == 1, kw == 3, stride_w == 1: 2x2 output blocks over a padded band, one word of band
 * bytes per two windows (td_conv_dense_s8_c1_k3.c). */
int32_t td_conv_dense_s8_c1_k3_applies(const td_conv_params *params, const td_dims *input_dims,
                                       const td_dims *filter_dims);
int32_t td_conv_dense_s8_c1_k3_get_buffer_size(const td_conv_params *params,
                                               const td_dims *input_dims,
                                               const td_dims *filter_dims);
void td_conv_dense_s8_c1_k3(const td_conv_params *params, const td_quant_params *quant,
                            const td_dims *input_dims, const int8_t *input,
                            const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                            int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch);

/* 1x1, no padding, no fused pool, any stride: blocks of 4 pixels x all channels, inputs
 * widened once per block (td_conv_dense_s8_1x1.c). _shape: the shapes (for the scratch
 * size); _applies: on DSP cores also in_c % 4 == 0 and the quantisation of its asm. */
int32_t td_conv_dense_s8_1x1_shape(const td_conv_params *params, const td_dims *input_dims,
                                   const td_dims *filter_dims);
int32_t td_conv_dense_s8_1x1_applies(const td_conv_params *params, const td_quant_params *quant,
                                     const td_dims *input_dims, const td_dims *filter_dims,
                                     const int8_t *filter, const int32_t *bias);
int32_t td_conv_dense_s8_1x1_get_buffer_size(const td_conv_params *params,
                                             const td_dims *input_dims, const td_dims *filter_dims);
void td_conv_dense_s8_1x1(const td_conv_params *params, const td_quant_params *quant,
                          const td_dims *input_dims, const int8_t *input,
                          const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                          int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch);

/* 3x3, unpooled, even out_c, in_c 3, or in_c 16 with stride_w 1 and conv rows whose
 * last position triplet wastes <= 1/16: a ring of widened input rows read by 2 x 3 SMLAD
 * kernels (td_conv_dense_s8_band.c). _shape: the shapes (for the scratch size, on every
 * core); _applies: also a DSP core (0 elsewhere). */
int32_t td_conv_dense_s8_band_shape(const td_conv_params *params, const td_dims *input_dims,
                                    const td_dims *filter_dims);
int32_t td_conv_dense_s8_band_applies(const td_conv_params *params, const td_dims *input_dims,
                                      const td_dims *filter_dims);
int32_t td_conv_dense_s8_band_get_buffer_size(const td_conv_params *params,
                                              const td_dims *input_dims,
                                              const td_dims *filter_dims);
void td_conv_dense_s8_band(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch);

/* Any shape: im2col of two or three positions into int16 columns, 2 channels x 2 columns
 * SMLAD kernel, or 2 x 3 for the K of td_conv_dsp_mm3.h (td_conv_dense_s8_im2col.c). */
int32_t td_conv_dense_s8_im2col_get_buffer_size(const td_conv_params *params,
                                                const td_dims *input_dims,
                                                const td_dims *filter_dims);
void td_conv_dense_s8_im2col(const td_conv_params *params, const td_quant_params *quant,
                             const td_dims *input_dims, const int8_t *input,
                             const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                             int32_t conv_h, int32_t conv_w, const td_dims *output_dims,
                             int8_t *output, void *scratch);

/* ---- sparse conv (CSR and N:M through their taps) ----
 * What the kernels need of the weights, after the format-specific checks: row r uses taps
 * [row_ptr[r], row_ptr[r+1]) (CSR, u16 or u32 pointers) or [r*per_row, (r+1)*per_row)
 * (N:M, both row pointers NULL). Nothing else of the descriptor (values, column indices,
 * N:M metadata) is read. */
typedef struct {
    int32_t rows;
    const uint16_t *row_ptr_u16;
    const uint32_t *row_ptr_u32;
    int32_t per_row;
    const td_conv_taps *taps;
    const int32_t *row_sum;
} td_sparse_conv_desc;

/* Shared by td_conv_csr_s8 and td_conv_nm_s8 (td_conv_sparse_s8.c): checks the taps, folds
 * the input offset into beff = bias + input_offset * row_sum (scratch), then runs the Helium
 * variant when it takes the call, else the 2x2 one. */
td_status td_conv_sparse_s8(const td_sparse_conv_desc *d, const td_conv_params *params,
                            const td_quant_params *quant, const td_dims *input_dims,
                            const int8_t *input, const td_dims *filter_dims, const int32_t *bias,
                            int32_t conv_h, int32_t conv_w, int8_t *output, void *scratch);
int32_t td_conv_sparse_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                          const td_dims *filter_dims);

/* The variants get beff[rows] and the band buffer (kh + stride_h padded rows) from the
 * scratch td_conv_sparse_s8 laid out. */

/* 2x2 output blocks (the fused pool window) sharing every tap load (td_conv_sparse_s8_2x2.c);
 * portable C, on DSP cores UXTAH/SMLATB asm. Any shape and quantisation; returns TD_OK (a
 * status, so that td_conv_sparse_s8 can tail-call it: its frame is gone by then, which keeps
 * the deepest stack of a sparse conv as low as one function's). */
int32_t td_conv_sparse_s8_2x2_get_buffer_size(const td_conv_params *params,
                                              const td_dims *input_dims,
                                              const td_dims *filter_dims);
td_status td_conv_sparse_s8_2x2(const td_sparse_conv_desc *d, const td_conv_params *params,
                                const td_quant_params *quant, const td_dims *input_dims,
                                const int8_t *input, const td_dims *filter_dims,
                                const int32_t *beff, int8_t *band, int32_t conv_h, int32_t conv_w,
                                int8_t *output);

/* Helium: de-interleaved tap loads, gathers, VMLADAVA (td_conv_sparse_s8_mve.c). Returns 0
 * (declined) for left shifts or negative multipliers with the fused pool, or a pooled conv
 * less than 2 columns wide. */
#if defined(__ARM_FEATURE_MVE)
int32_t td_conv_sparse_s8_mve(const td_sparse_conv_desc *d, const td_conv_params *params,
                              const td_quant_params *quant, const td_dims *input_dims,
                              const int8_t *input, const td_dims *filter_dims, const int32_t *beff,
                              int8_t *band, int32_t conv_h, int32_t conv_w, int8_t *output);
#endif

/* ---- depthwise conv: Helium, depth multiplier 1 (td_dwconv_dense_s8_mve.c); returns 0 for
 * other multipliers (td_dwconv_dense_s8 then runs its portable loop) ---- */
#if defined(__ARM_FEATURE_MVE)
int32_t td_dwconv_dense_s8_mve(const td_dwconv_params *params, const td_quant_params *quant,
                               const td_dims *input_dims, const int8_t *input,
                               const td_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const td_dims *output_dims, int8_t *output);
#endif

/* DSP cores (not Helium): 3x3, depth multiplier 1, in_c >= 4; channels 0 .. 4 * floor(in_c / 4)
 * - 1 in groups of 4 (SXTAB16 + SMLABB/SMLATT, two outputs per weight load), the wrapper runs
 * the portable loop for the rest (td_dwconv_dense_s8_3x3_dsp.c). */
#if defined(__ARM_FEATURE_DSP) && !defined(__ARM_FEATURE_MVE)
/* First choice on DSP cores: 3x3, depth multiplier 1, strides 1 / 2, in_c >= 4 and every
 * channel's quantisation within the SMMLAR requantisation; int16 pair bands widened once
 * per input line, one channel per pass with its weights in registers
 * (td_dwconv_dense_s8_3x3_band.c). Channels 0 .. 4 * floor(in_c / 4) - 1. */
int32_t td_dwconv_dense_s8_3x3_band_applies(const td_dwconv_params *params,
                                            const td_quant_params *quant, const int32_t *bias,
                                            const td_dims *input_dims, const td_dims *filter_dims);
void td_dwconv_dense_s8_3x3_band(const td_dwconv_params *params, const td_quant_params *quant,
                                 const td_dims *input_dims, const int8_t *input,
                                 const int8_t *filter, const int32_t *bias,
                                 const td_dims *output_dims, int8_t *output);
int32_t td_dwconv_dense_s8_3x3_dsp_applies(const td_dwconv_params *params,
                                           const td_dims *input_dims, const td_dims *filter_dims);
void td_dwconv_dense_s8_3x3_dsp(const td_dwconv_params *params, const td_quant_params *quant,
                                const td_dims *input_dims, const int8_t *input,
                                const int8_t *filter, const int32_t *bias,
                                const td_dims *output_dims, int8_t *output);
/* Whether td_dwconv_dense_s8_3x3_dsp takes its small-map path (at most 8 x 8 outputs, every
 * window's rows and columns full or missing one padded end): each output on its own, its
 * valid taps only; the wrapper prefers it to the band variant. */
int32_t td_dwconv_dense_s8_3x3_dsp_small(const td_dwconv_params *params, const td_dims *input_dims,
                                         const td_dims *output_dims);
#endif

#endif /* TD_CONV_INTERNAL_H */
