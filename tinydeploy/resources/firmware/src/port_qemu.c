/*
 * port_qemu.c - QEMU MPS2/MPS3 port: vector table, reset handler, CMSDK UART0, SysTick
 * timing and semihosting exit. Built only for the local platform (TD_TARGET_QEMU).
 *
 * Timing: with `-icount shift=0` every retired instruction advances virtual time by 1 ns and
 * SysTick counts the board clock (TD_CLOCK_HZ), so ticks * 1e9 / TD_CLOCK_HZ is the exact
 * number of instructions retired (to within one tick). DWT CYCCNT reads 0 under QEMU.
 */
#ifdef TD_TARGET_QEMU

#include <stdint.h>

#include "td_port.h"

#ifndef TD_UART_BASE
#error "TD_UART_BASE must be defined by the board (CMSDK UART0 base address)"
#endif
#ifndef TD_CLOCK_HZ
#error "TD_CLOCK_HZ must be defined by the board"
#endif

/* ---- CMSDK UART ---- */
#define UART_DATA (*(volatile uint32_t *)(TD_UART_BASE + 0x000))
#define UART_STATE (*(volatile uint32_t *)(TD_UART_BASE + 0x004))
#define UART_CTRL (*(volatile uint32_t *)(TD_UART_BASE + 0x008))
#define UART_BAUDDIV (*(volatile uint32_t *)(TD_UART_BASE + 0x010))

/* ---- System control ---- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88)
#define ICSR_PENDSTSET (1u << 26)

/* ---- semihosting ---- */
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost_call(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void td_port_exit(int code) {
#ifdef TD_EXIT_HANDSHAKE
    /* Under `-serial pty` QEMU's exit would drop output the host has not read yet: wait for
     * the host's ACK byte (sent after it has read the last report line) before exiting. The
     * host side has its own timeout and kills QEMU if the ACK never comes. */
    UART_CTRL |= 3u; /* TX | RX enable */
    while (!(UART_STATE & 2u)) { /* RX empty */
    }
    (void)UART_DATA;
#endif
    /* SYS_EXIT_EXTENDED: QEMU exits with `code` (plain SYS_EXIT only says 0/1 on Thumb). */
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

void td_port_putc(char c) {
    while (UART_STATE & 1u) { /* TX full */
    }
    UART_DATA = (uint8_t)c;
}

void td_port_flush(void) {}

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void td_port_init(void) {
    UART_BAUDDIV = 16;
    UART_CTRL = 1; /* TX enable (RX only for the exit handshake) */
    SYST_CSR = 0;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    systick_wraps = 0;
    SYST_CSR = 7; /* ENABLE | TICKINT | CLKSOURCE = processor clock */
    while (SYST_CVR == 0) { /* QEMU reads 0 until the first reload */
    }
}

uint64_t td_port_now(void) {
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n cpsid i" : "=r"(primask)::"memory");
    uint32_t wraps = systick_wraps;
    uint32_t value = SYST_CVR;
    if (SCB_ICSR & ICSR_PENDSTSET) { /* reloaded, interrupt not yet taken */
        value = SYST_CVR;
        wraps++;
    }
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
    return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
}

const char *td_port_counter_kind(void) { return "systick-icount"; }
uint32_t td_port_counter_hz(void) { return (uint32_t)TD_CLOCK_HZ; }

extern uint32_t __td_stack_limit, __td_stack_top;

void td_port_stack_region(uintptr_t *lo, uintptr_t *hi) {
    *lo = (uintptr_t)&__td_stack_limit;
    *hi = (uintptr_t)&__td_stack_top;
}

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
extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
void Reset_Handler(void);

__attribute__((section(".isr_vector"), used)) const void *const td_vector_table[16 + 32] = {
    &_estack,        Reset_Handler,   Default_Handler, HardFault_Handler,
    HardFault_Handler, HardFault_Handler, HardFault_Handler, 0,
    0,               0,               0,               Default_Handler,
    Default_Handler, 0,               Default_Handler, SysTick_Handler,
    /* external IRQs: unused, left 0 */
};

int main(void) { return td_harness_run(); }

/* Cortex-M55 pitfall: GCC may vectorise the .bss loop with MVE before CPACR enables the
 * FPU/MVE (-> NOCP UsageFault -> HardFault). Enable CP10/CP11 first and keep this function
 * unvectorised. */
__attribute__((optimize("no-tree-vectorize"), noreturn)) void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    td_port_exit(main());
}

#endif /* TD_TARGET_QEMU */
