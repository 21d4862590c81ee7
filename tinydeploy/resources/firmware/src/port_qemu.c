/*
 * port_qemu.c - QEMU MPS2/MPS3 port: vector table, reset handler, CMSDK UART0, SysTick
 * timing and semihosting exit (the Cortex-M parts in td_cortexm.c). Built only for the local
 * platform (TD_TARGET_QEMU).
 *
 * Timing: with `-icount shift=0` every retired instruction advances virtual time by 1 ns and
 * SysTick counts the board clock (TD_CLOCK_HZ), so ticks * 1e9 / TD_CLOCK_HZ is the exact
 * number of instructions retired (to within one tick). DWT CYCCNT reads 0 under QEMU.
 */
#ifdef TD_TARGET_QEMU

#include <stdint.h>

#include "td_cortexm.h"
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
    td_cm_semihost_exit(code);
    for (;;) {
    }
}

void td_port_putc(char c) {
    while (UART_STATE & 1u) { /* TX full */
    }
    UART_DATA = (uint8_t)c;
}

void td_port_flush(void) {}

void SysTick_Handler(void) { td_cm_systick_wraps++; }

void td_port_init(void) {
    UART_BAUDDIV = 16;
    UART_CTRL = 1; /* TX enable (RX only for the exit handshake) */
    td_cm_systick_start();
}

uint64_t td_port_now(void) { return td_cm_systick_now(); }

const char *td_port_counter_kind(void) { return "systick-icount"; }
uint32_t td_port_counter_hz(void) { return (uint32_t)TD_CLOCK_HZ; }
const char *td_port_notes(void) { return ""; }

/* ---- start-up ---- */
__attribute__((section(".isr_vector"), used)) const void *const td_vector_table[16 + 32] = {
    &_estack,        Reset_Handler,   Default_Handler, HardFault_Handler,
    HardFault_Handler, HardFault_Handler, HardFault_Handler, 0,
    0,               0,               0,               Default_Handler,
    Default_Handler, 0,               Default_Handler, SysTick_Handler,
    /* external IRQs: unused, left 0 */
};

__attribute__((noreturn)) void Reset_Handler(void) {
    td_cm_reset_init();
    td_port_exit(main());
}

#endif /* TD_TARGET_QEMU */
