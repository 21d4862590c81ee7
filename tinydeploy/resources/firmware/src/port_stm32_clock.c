/*
 * port_stm32_clock.c - clock tree of the bare-metal STM32 port (and the Cortex-M7 caches).
 *
 * The core clock comes from the internal HSI oscillator through the main PLL (every STM32
 * board has an HSI; crystals differ per board). The PLL settings are the board's
 * (`build.stm32.pll` in its PlatformIO JSON, checked there against f_cpu). Every ready flag
 * is polled with a bound: when one never comes, the port stays on the reset clock and says
 * so in the report (`clock=reset`). That is what happens under QEMU, whose STM32 machines do
 * not emulate RCC; their SysTick runs at the machine's fixed clock whatever the firmware asks.
 */
#ifdef TD_TARGET_STM32

#include "port_stm32.h"

#ifndef TD_CLOCK_HZ
#error "TD_CLOCK_HZ must be defined by the board"
#endif
#define CLOCK_WAIT 200000u /* polls of a ready flag before giving up (~50 ms at 16 MHz) */

static int wait_set(volatile uint32_t *reg, uint32_t mask) {
    for (uint32_t n = 0; n < CLOCK_WAIT; n++)
        if ((*reg & mask) == mask) return 1;
    return 0;
}

/* APB prescaler field value for a divider (1, 2, 4, 8, 16): 0 = /1, 4 = /2 ... 7 = /16. */
#define PPRE(div) ((div) == 1 ? 0u : (div) == 2 ? 4u : (div) == 4 ? 5u : (div) == 8 ? 6u : 7u)

#if defined(TD_STM32_F1)
/* STM32F1: HSI/2 x PLLMUL (the value line tops out at 24 MHz: no flash wait states). */
static int clock_pll(void) {
    RCC_CR |= RCC_CR_HSION;
    if (!wait_set(&RCC_CR, RCC_CR_HSIRDY)) return 0;
    uint32_t cfgr = RCC_CFGR & ~((0xFu << 18) | (3u << 16) | (0x3Fu << 8) | 0xF3u);
    RCC_CFGR = cfgr | ((uint32_t)(TD_STM32_PLL_MUL - 2) << 18) |
               (PPRE(TD_STM32_APB1_DIV) << 8) | (PPRE(TD_STM32_APB2_DIV) << 11);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_set(&RCC_CR, RCC_CR_PLLRDY)) return 0;
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SW = PLL */
    for (uint32_t n = 0; n < CLOCK_WAIT; n++)
        if (((RCC_CFGR >> 2) & 3u) == 2u) return 1;
    return 0;
}

static void prescalers_reset(void) { RCC_CFGR &= ~(0x3Fu << 8); }

#elif defined(TD_STM32_F4) || defined(TD_STM32_F7)
#define PWR_ODEN (1u << 16)
#define PWR_ODSWEN (1u << 17)
#define PWR_ODRDY (1u << 16)
#define PWR_ODSWRDY (1u << 17)
#if defined(TD_STM32_F7)
#define FLASH_ACR_VALUE ((uint32_t)TD_STM32_FLASH_LATENCY | (1u << 8) | (1u << 9)) /* PRFTEN|ARTEN */
#else
#define FLASH_ACR_VALUE ((uint32_t)TD_STM32_FLASH_LATENCY | (7u << 8)) /* PRFTEN|ICEN|DCEN */
#endif
/* Voltage scale 1: one VOS bit on F405/F407, two on the over-drive parts (F42x, F446, F7). */
#if TD_STM32_OVERDRIVE
#define PWR_VOS_SCALE1 (3u << 14)
#else
#define PWR_VOS_SCALE1 (1u << 14)
#endif

/* STM32F4/F7: HSI / M x N / P, over-drive above 168 MHz (RM0390 5.1.4 order of steps). */
static int clock_pll(void) {
    RCC_APB1ENR |= 1u << 28; /* PWREN */
    (void)RCC_APB1ENR;
    RCC_CR |= RCC_CR_HSION;
    if (!wait_set(&RCC_CR, RCC_CR_HSIRDY)) return 0;
    PWR_CR = (PWR_CR & ~(3u << 14)) | PWR_VOS_SCALE1; /* only while the PLL is off */
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000u) | ((uint32_t)TD_STM32_PLL_Q << 24) |
                  ((uint32_t)(TD_STM32_PLL_P / 2 - 1) << 16) | ((uint32_t)TD_STM32_PLL_N << 6) |
                  (uint32_t)TD_STM32_PLL_M; /* PLLSRC = HSI */
    RCC_CR |= RCC_CR_PLLON;
#if TD_STM32_OVERDRIVE
    PWR_CR |= PWR_ODEN;
    if (!wait_set(&PWR_CSR, PWR_ODRDY)) return 0;
    PWR_CR |= PWR_ODSWEN;
    if (!wait_set(&PWR_CSR, PWR_ODSWRDY)) return 0;
#endif
    FLASH_ACR = FLASH_ACR_VALUE; /* wait states before the clock goes up */
    if ((FLASH_ACR & 0xFu) != (uint32_t)TD_STM32_FLASH_LATENCY) return 0;
    RCC_CFGR = (RCC_CFGR & ~((0x3Fu << 10) | (0xFu << 4))) |
               (PPRE(TD_STM32_APB1_DIV) << 10) | (PPRE(TD_STM32_APB2_DIV) << 13);
    if (!wait_set(&RCC_CR, RCC_CR_PLLRDY)) return 0;
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u; /* SW = PLL */
    for (uint32_t n = 0; n < CLOCK_WAIT; n++)
        if (((RCC_CFGR >> 2) & 3u) == 2u) return 1;
    return 0;
}

static void prescalers_reset(void) { RCC_CFGR &= ~(0x3Fu << 10); }

#elif defined(TD_STM32_H7)
/* STM32H7: the port keeps the reset clock (HSI 64 MHz, all buses /1) and only commits the
 * supply configuration to the LDO, which ends the Run* state after reset (RM0433 6.4.1). */
static int clock_pll(void) {
    PWR_CR3 = (PWR_CR3 & ~7u) | (1u << 1); /* LDOEN; SCUEN and BYPASS cleared */
    wait_set(&PWR_CSR1, 1u << 13);           /* ACTVOSRDY */
    return 0;
}

static void prescalers_reset(void) {}
#endif

void td_stm32_clock_init(struct td_stm32_clocks *out) {
    int pll = clock_pll();
    if (!pll) prescalers_reset(); /* the APB clocks stay equal to the (HSI) core clock */
    out->pll = pll;
    out->core_hz = pll ? (uint32_t)TD_CLOCK_HZ : HSI_HZ;
    uint32_t div = USART_ON_APB2 ? TD_STM32_APB2_DIV : TD_STM32_APB1_DIV;
    out->usart_hz = pll ? (uint32_t)TD_CLOCK_HZ / div : HSI_HZ;
}

#ifdef TD_CPU_CORTEX_M7
/* Invalidate the I-cache, invalidate the D-cache set by set and way, then enable both. */
void td_stm32_caches_enable(void) {
    __asm__ volatile("dsb\n isb" ::: "memory");
    SCB_ICIALLU = 0;
    __asm__ volatile("dsb\n isb" ::: "memory");
    SCB_CCR |= CCR_IC;
    __asm__ volatile("dsb\n isb" ::: "memory");

    SCB_CSSELR = 0; /* level 1 data cache */
    __asm__ volatile("dsb" ::: "memory");
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    uint32_t line_shift = (ccsidr & 7u) + 4u; /* log2(bytes per line) */
    uint32_t way_shift = ways > 1 ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (uint32_t s = 0; s < sets; s++)
        for (uint32_t w = 0; w < ways; w++) SCB_DCISW = (w << way_shift) | (s << line_shift);
    __asm__ volatile("dsb" ::: "memory");
    SCB_CCR |= CCR_DC;
    __asm__ volatile("dsb\n isb" ::: "memory");
}
#else
void td_stm32_caches_enable(void) {}
#endif

#endif /* TD_TARGET_STM32 */
