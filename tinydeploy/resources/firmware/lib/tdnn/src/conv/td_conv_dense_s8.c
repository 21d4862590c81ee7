/* conv2d, dense OHWI weights: the public entry point. It checks the arguments and runs the
 * first variant that applies (each in its own file, declared in td_conv_internal.h):
 *
 *  1. td_conv_dense_s8_mve (Cortex-M55, __ARM_FEATURE_MVE): any shape with K <= 512 whose
 *     tile of one window keeps 8-bit gather offsets and fits the scratch below; with the
 *     fused pool only for multiplier >= 0 and right shifts. Returns 0 otherwise.
 *  2. td_conv_dense_s8_c1_3x3_pool: in_c == 1, 3x3, stride 1, fused 2x2 max-pool (TinyNet's
 *     conv1); on DSP cores only when every channel's quantisation fits its asm (multiplier
 *     >= 0, right shift 1..22, |bias| < 2^30 - 2^19, or an all-zero channel).
 *  3. td_conv_dense_s8_c1_k3: in_c == 1, kw == 3, stride_w == 1.
 *  4. td_conv_dense_s8_1x1: 1x1, no padding, no fused pool (any stride); on DSP cores only
 *     for in_c % 4 == 0 and the quantisation its asm takes or fully pruned channels.
 *  5. td_conv_dense_s8_band (DSP cores): 3x3, unpooled, even out_c, in_c 3, or in_c 16
 *     with stride_w 1 on conv rows wide enough (see td_conv_internal.h).
 *  6. td_conv_dense_s8_im2col: everything else.
 *
 * Scratch (td_conv_dense_s8_get_buffer_size) is the largest of the variants the shapes may
 * select: which of 2 and 3 runs depends on the quantisation, and whether 4 and 5 run on
 * the core, which the size function (built for the host too) does not see; the Helium variant
 * works within the size of the others. */
#include "td_conv_internal.h"

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

int32_t td_conv_dense_s8_get_buffer_size(const td_conv_params *params, const td_dims *input_dims,
                                         const td_dims *filter_dims)
{
    if (td_conv_dense_s8_c1_k3_applies(params, input_dims, filter_dims)) {
        const int32_t k3 = td_conv_dense_s8_c1_k3_get_buffer_size(params, input_dims, filter_dims);
        if (td_conv_dense_s8_c1_3x3_pool_shape(params, input_dims, filter_dims)) {
            return max_i32(
                k3, td_conv_dense_s8_c1_3x3_pool_get_buffer_size(params, input_dims, filter_dims));
        }
        return k3;
    }
    if (td_conv_dense_s8_1x1_shape(params, input_dims, filter_dims)) {
        return max_i32(td_conv_dense_s8_1x1_get_buffer_size(params, input_dims, filter_dims),
                       td_conv_dense_s8_im2col_get_buffer_size(params, input_dims, filter_dims));
    }
    if (td_conv_dense_s8_band_shape(params, input_dims, filter_dims)) {
        return max_i32(td_conv_dense_s8_band_get_buffer_size(params, input_dims, filter_dims),
                       td_conv_dense_s8_im2col_get_buffer_size(params, input_dims, filter_dims));
    }
    return td_conv_dense_s8_im2col_get_buffer_size(params, input_dims, filter_dims);
}

td_status td_conv_dense_s8(const td_conv_params *params, const td_quant_params *quant,
                           const td_dims *input_dims, const int8_t *input,
                           const td_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                           const td_dims *output_dims, int8_t *output, void *scratch)
{
    int32_t conv_h, conv_w;
    td_status st = td_internal_check_conv(params, quant, input_dims, input, filter_dims,
                                          output_dims, output, &conv_h, &conv_w);
    if (st != TD_OK) {
        return st;
    }
    if (!filter || !scratch) {
        return TD_ERR_ARG;
    }
#if defined(__ARM_FEATURE_MVE)
    if (td_conv_dense_s8_mve(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                             conv_w, output_dims, output, scratch)) {
        return TD_OK;
    }
#endif
    if (td_conv_dense_s8_c1_3x3_pool_applies(params, quant, input_dims, filter_dims, filter,
                                             bias)) {
        td_conv_dense_s8_c1_3x3_pool(params, quant, input_dims, input, filter_dims, filter, bias,
                                     output_dims, output, scratch);
    } else if (td_conv_dense_s8_c1_k3_applies(params, input_dims, filter_dims)) {
        td_conv_dense_s8_c1_k3(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                               conv_w, output, scratch);
    } else if (td_conv_dense_s8_1x1_applies(params, quant, input_dims, filter_dims, filter, bias)) {
        td_conv_dense_s8_1x1(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                             conv_w, output, scratch);
    } else if (td_conv_dense_s8_band_applies(params, input_dims, filter_dims)) {
        td_conv_dense_s8_band(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                              conv_w, output, scratch);
    } else {
        td_conv_dense_s8_im2col(params, quant, input_dims, input, filter_dims, filter, bias, conv_h,
                                conv_w, output_dims, output, scratch);
    }
    return TD_OK;
}
