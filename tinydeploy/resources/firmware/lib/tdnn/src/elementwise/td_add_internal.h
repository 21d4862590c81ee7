/* td_add_internal.h - the ADD variants behind td_add_s8 (td_add_s8.c dispatches); not part
 * of the public API. */
#ifndef TD_ADD_INTERNAL_H
#define TD_ADD_INTERNAL_H

#include "../common/td_internal.h"
#include "../common/td_mve.h"

/* Helium: td_add_s8_mve (td_add_s8_mve.c, declared in common/td_mve.h), any parameters,
 * tables not used; td_add_s8_lut_mve with the tables, where td_add_s8_lut_applies. */
#if defined(__ARM_FEATURE_MVE)
void td_add_s8_lut_mve(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                       int8_t *output, int32_t size);
#endif

/* With the two input tables: one load per input and one requantisation per element
 * (td_add_s8_lut.c). Applies when both tables are set, left_shift <= 20 (the bound the
 * tables' proof needs), output_multiplier >= 0 and output_shift in [-31, -1]. */
static inline int32_t td_add_s8_lut_applies(const td_add_params *p)
{
    return p->input1_table && p->input2_table && p->left_shift <= 20 && p->output_multiplier >= 0 &&
           p->output_shift <= -1 && p->output_shift >= -31;
}
void td_add_s8_lut(const td_add_params *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output, int32_t size);

#endif /* TD_ADD_INTERNAL_H */
