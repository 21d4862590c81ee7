/* Argument checks shared by the pooling kernels. */
#ifndef TD_POOL_COMMON_H
#define TD_POOL_COMMON_H

#include "../common/td_internal.h"

static inline td_status td_pool_check(const td_pool_params *p, const td_dims *in,
                                      const int8_t *input, const td_dims *out,
                                      const int8_t *output)
{
    if (!p || !in || !input || !out || !output) {
        return TD_ERR_ARG;
    }
    if (in->n != 1 || out->n != 1) {
        return TD_ERR_UNSUPPORTED;
    }
    if (p->stride_h < 1 || p->stride_w < 1 || p->filter_h < 1 || p->filter_w < 1 ||
        p->pad_top < 0 || p->pad_left < 0 || in->c < 1 || out->c != in->c || out->h < 1 ||
        out->w < 1 || in->h < 1 || in->w < 1 || td_internal_check_act(&p->activation) != TD_OK) {
        return TD_ERR_ARG;
    }
    return TD_OK;
}

#endif /* TD_POOL_COMMON_H */
