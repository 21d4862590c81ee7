/* tdnn micro-benchmark for QEMU mps2-an386 (Cortex-M4F) or mps3-an547 (Cortex-M55) with
 * -icount shift=0.
 * SysTick runs at 25 MHz and QEMU retires 1 instruction per ns, so one tick = 40
 * instructions retired. Each case runs once; its output is compared with the expected output
 * computed on the host (tinydeploy.firmware.hostlib, portable C path), which checks the DSP
 * path bit for bit. Log: "case <name> ticks=<t> status=<s> match=<0|1>", then "BENCH DONE". */
#include <stdint.h>
#include <string.h>

#include "semihost.h"
#include "tdnn.h"

void sh_exit_c(int c) { sh_exit(c); }

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static volatile uint32_t systick_wraps;
void SysTick_Handler(void) { systick_wraps++; }

static void systick_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFF;
    SYST_CVR = 0;
    systick_wraps = 0;
    SYST_CSR = 7;
    while (SYST_CVR == 0) {
    }
}

static uint32_t systick_now(void)
{
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    /* after the wrap interrupt the counter still reads 0 for a tick: the old period's end */
    if (v == 0 && w > 0) return (w << 24) - 1u;
    return (w << 24) + (0x00FFFFFFu - v);
}

typedef struct {
    const char *name;
    td_status (*run)(void);
    const int8_t *expected;
    int32_t out_len;
} bench_case;

static int8_t out_buf[40960] __attribute__((aligned(4)));
static uint8_t scratch[32768] __attribute__((aligned(4)));

static td_status run_nothing(void) { return TD_OK; }

#include "bench_cases.h"

int main(void)
{
    uint32_t i, overhead, t0, t1;
    (void)scratch; /* unused when only scratch-free kernels are selected */
    systick_start();
    t0 = systick_now();
    (void)run_nothing();
    t1 = systick_now();
    overhead = t1 - t0;
    sh_puts("overhead ticks=");
    sh_putu(overhead);
    sh_puts("\n");
    for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        td_status st;
        int match;
        memset(out_buf, 0x5A, sizeof(out_buf));
        t0 = systick_now();
        st = CASES[i].run();
        t1 = systick_now();
        match = memcmp(out_buf, CASES[i].expected, (size_t)CASES[i].out_len) == 0;
        sh_puts("case ");
        sh_puts(CASES[i].name);
        sh_puts(" ticks=");
        sh_putu(t1 - t0 - overhead);
        sh_puts(" status=");
        sh_putu((uint32_t)(st == TD_OK ? 0 : 1));
        sh_puts(" match=");
        sh_putu((uint32_t)match);
        sh_puts("\n");
    }
    sh_puts("BENCH DONE\n");
    return 0;
}
