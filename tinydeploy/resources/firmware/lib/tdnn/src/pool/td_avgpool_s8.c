/* Average pooling (TFLM AVERAGE_POOL_2D int8): rounded mean over non-padded cells. */
#include "td_pool_common.h"

td_status td_avgpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output)
{
    return td_pool_s8(params, input_dims, input, output_dims, output, 1);
}
