/*
 * td_cortexm.h - Cortex-M code shared by the bare-metal ports (port_qemu.c, port_stm32.c):
 * fault handlers, RAM set-up at reset, the semihosting exit, the stack region from the linker
 * script and SysTick as a 64-bit counter. Each port keeps its vector table (their sizes
 * differ), Reset_Handler, SysTick_Handler and I/O. td_cortexm.c compiles only for
 * TD_TARGET_QEMU / TD_TARGET_STM32: on Arduino boards the core does the start-up.
 */
#ifndef TD_CORTEXM_H
#define TD_CORTEXM_H

#include <stdint.h>

#define TD_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* ---- system registers the shared code uses (same addresses on ARMv7-M and ARMv8-M) ---- */
#define SYST_CSR TD_REG(0xE000E010)
#define SYST_RVR TD_REG(0xE000E014)
#define SYST_CVR TD_REG(0xE000E018)
#define SCB_ICSR TD_REG(0xE000ED04)
#define SCB_CPACR TD_REG(0xE000ED88)
#define ICSR_PENDSTSET (1u << 26)

/* ---- start-up (td_cortexm.c) ---- */
extern uint32_t _estack; /* initial stack pointer: entry 0 of each port's vector table */
void Reset_Handler(void);
void HardFault_Handler(void); /* reports TD:FAULT kind=hardfault, exits TD_EXIT_HARDFAULT */
void Default_Handler(void);   /* any other exception: TD_EXIT_UNEXPECTED */
int main(void);               /* runs the harness; Reset_Handler exits with its status */
/* Enable the FPU/MVE (when compiled for one), copy .data and zero .bss: first thing in
 * Reset_Handler, before any code that uses initialised data or floating point. */
void td_cm_reset_init(void);

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code`. Returns only without a semihosting
 * host (the caller parks). */
void td_cm_semihost_exit(int code);

/* ---- SysTick at the processor clock, extended to 64 bits by its wrap interrupt ---- */
extern volatile uint32_t td_cm_systick_wraps; /* the port's SysTick_Handler increments it */
void td_cm_systick_start(void);

/* Inline: td_port_now() runs inside the timed window, so no extra call is measured. */
static inline uint32_t td_cm_irq_save(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    return primask;
}

static inline void td_cm_irq_restore(uint32_t primask) {
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

/* The wrap is signalled (interrupt pending, then taken) when the counter reaches 0, and the
 * counter reads 0 for one more tick before it reloads (QEMU too, measured by
 * tests/firmware/test_systick.py): a 0 once the wrap is counted is the last tick of the old
 * period. Reading it as the new period's put one timestamp 2^24 ticks ahead. */
static inline uint64_t td_cm_systick_now(void) {
    uint32_t primask = td_cm_irq_save();
    uint32_t wraps = td_cm_systick_wraps;
    uint32_t value = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) { /* wrapped, interrupt not yet taken */
        value = SYST_CVR;
        wraps++;
    }
    td_cm_irq_restore(primask);
    if (value == 0 && wraps > 0) return ((uint64_t)wraps << 24) - 1u;
    return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
}

#endif /* TD_CORTEXM_H */
