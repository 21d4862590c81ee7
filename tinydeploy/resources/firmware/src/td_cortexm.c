/*
 * td_cortexm.c - start-up and fault code common to the bare-metal ports (see td_cortexm.h).
 * Built for the local platform only (TD_TARGET_QEMU, TD_TARGET_STM32); the Arduino envs
 * compile every file in src/ and get their start-up code from the Arduino core.
 */
#if defined(TD_TARGET_QEMU) || defined(TD_TARGET_STM32)

#include "td_cortexm.h"

#include "td_port.h"

/* ---- exceptions ---- */
static void put_str(const char *s) {
    while (*s) td_port_putc(*s++);
}

void HardFault_Handler(void) {
    put_str("\nTD:FAULT kind=hardfault\n");
    td_port_exit(TD_EXIT_HARDFAULT);
}

void Default_Handler(void) {
    put_str("\nTD:FAULT kind=unexpected_exception\n");
    td_port_exit(TD_EXIT_UNEXPECTED);
}

/* ---- start-up ---- */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;

int main(void) { return td_harness_run(); }

/* Cortex-M55 pitfall: GCC may vectorise the .bss loop with MVE before CPACR enables the
 * FPU/MVE (-> NOCP UsageFault -> HardFault). Enable CP10/CP11 first and keep this function
 * unvectorised. */
__attribute__((optimize("no-tree-vectorize"))) void td_cm_reset_init(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
}

/* ---- stack region (the linker script's reserved stack) ---- */
extern uint32_t __td_stack_limit, __td_stack_top;

void td_port_stack_region(uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)&__td_stack_limit;
    *hi = (uintptr_t)&__td_stack_top;
}

/* ---- semihosting exit ---- */
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

void td_cm_semihost_exit(int code) {
    /* SYS_EXIT_EXTENDED, not SYS_EXIT: on Thumb the latter only says 0 or 1. */
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    register int r0 __asm__("r0") = SYS_EXIT_EXTENDED;
    register const void *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

/* ---- SysTick ---- */
volatile uint32_t td_cm_systick_wraps;

void td_cm_systick_start(void) {
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    td_cm_systick_wraps = 0;
    SYST_CSR = 7; /* ENABLE | TICKINT | CLKSOURCE = processor clock */
    while (SYST_CVR == 0) { /* QEMU reads 0 until the first reload */
    }
}

#endif /* TD_TARGET_QEMU || TD_TARGET_STM32 */
