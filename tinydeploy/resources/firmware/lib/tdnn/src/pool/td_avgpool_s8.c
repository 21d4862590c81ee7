/* Average pooling (TFLM AVERAGE_POOL_2D int8): rounded mean over non-padded cells. Runs, in
 * this order: on DSP cores (Cortex-M55 included: fewer instructions than its Helium path)
 * the DSP variant for filters of at most 256 cells (td_avgpool_s8_dsp.c), then td_pool_s8
 * (Helium, or the portable window walk). */
#include "td_pool_common.h"

td_status td_avgpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output)
{
#if defined(__ARM_FEATURE_DSP)
    td_status st = td_pool_check(params, input_dims, input, output_dims, output);
    if (st == TD_OK) {
        st = td_pool_check_windows(params, input_dims, output_dims);
    }
    if (st != TD_OK) {
        return st;
    }
    if (params->filter_h <= 256 && params->filter_w <= 256 &&
        params->filter_h * params->filter_w <= 256) {
        td_avgpool_s8_dsp(params, input_dims, input, output_dims, output);
        return TD_OK;
    }
#endif
    return td_pool_s8(params, input_dims, input, output_dims, output, 1);
}
