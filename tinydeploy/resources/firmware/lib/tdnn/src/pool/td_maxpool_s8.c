/* Max pooling (TFLM MAX_POOL_2D int8): max over the non-padded window cells, then clamp. */
#include "td_pool_common.h"

td_status td_maxpool_s8(const td_pool_params *params, const td_dims *input_dims,
                        const int8_t *input, const td_dims *output_dims, int8_t *output)
{
    return td_pool_s8(params, input_dims, input, output_dims, output, 0);
}
