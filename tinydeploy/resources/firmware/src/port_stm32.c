/*
 * port_stm32.c - bare-metal STM32 port (register level: no vendor HAL, no Arduino core).
 *
 * One port for every STM32 board profile, real or emulated: vector table and reset handler
 * (the Cortex-M parts shared with port_qemu.c in td_cortexm.c), clock set-up
 * (port_stm32_clock.c), the report over the board's USART (the ST-LINK virtual COM port on
 * Nucleo/Discovery boards), and timing:
 *
 *   - DWT CYCCNT when it counts (real Cortex-M3/M4/M7 silicon): core cycles;
 *   - otherwise SysTick at the core clock, extended to 64 bits by its wrap interrupt. DWT is
 *     checked at start-up; under QEMU it never counts, and SysTick under `-icount shift=0`
 *     gives instructions retired (the host knows it ran QEMU and converts). On a real board
 *     the fallback still counts core cycles, and the report says which counter was used.
 *
 * Two modes, chosen by the board profile (`semihosting`):
 *   - TD_SEMIHOSTING (QEMU machines): exit through semihosting with the harness's status,
 *     after the host's ACK byte when TD_EXIT_HANDSHAKE is set;
 *   - board mode (real boards): wait up to TD_START_WAIT_S seconds for the host's start
 *     byte 'S' (so no line is sent before `tinydeploy bench` has opened the port after
 *     flashing), run once, then park: semihosting would fault without a debugger.
 */
#ifdef TD_TARGET_STM32

#include <stdint.h>

#include "port_stm32.h"
#include "td_cortexm.h"
#include "td_port.h"

#ifndef TD_SERIAL_BAUD
#define TD_SERIAL_BAUD 115200u
#endif
#ifndef TD_START_WAIT_S
#define TD_START_WAIT_S 10u
#endif

#ifdef TD_UART_BASE
_Static_assert(USART_BASE == TD_UART_BASE, "board uart_base does not match its USART number");
#endif

static struct td_stm32_clocks clocks;
static int use_dwt;
static uint32_t dwt_last, dwt_high;

/* ---- USART ---- */
static void gpio_usart_pin(uint32_t port, uint32_t pin, int is_tx) {
    volatile uint32_t *g = (volatile uint32_t *)(uintptr_t)GPIO_BASE(port);
    GPIO_ENR |= GPIO_EN_BIT(port);
    (void)GPIO_ENR; /* the enable takes effect before the first GPIO access */
#if defined(TD_STM32_F1)
    /* CRL/CRH: 4 bits per pin. TX: alternate push-pull 50 MHz; RX: input with pull-up. */
    uint32_t cfg = is_tx ? 0xBu : 0x8u;
    uint32_t shift = 4u * (pin & 7u);
    g[pin >> 3] = (g[pin >> 3] & ~(0xFu << shift)) | (cfg << shift);
    if (!is_tx) g[3] |= 1u << pin; /* ODR = 1 selects the pull-up */
#else
    /* MODER = alternate function, high speed, RX pulled up, AFR = the board's AF number. */
    uint32_t two = 2u * pin, four = 4u * (pin & 7u);
    g[0] = (g[0] & ~(3u << two)) | (2u << two);
    g[2] = (g[2] & ~(3u << two)) | (2u << two);
    g[3] = (g[3] & ~(3u << two)) | ((is_tx ? 0u : 1u) << two);
    g[8 + (pin >> 3)] = (g[8 + (pin >> 3)] & ~(0xFu << four)) | ((uint32_t)TD_STM32_UART_AF << four);
#endif
}

static void usart_init(uint32_t usart_hz) {
    USART_ENR |= USART_EN_BIT;
    (void)USART_ENR;
    gpio_usart_pin(TD_STM32_TX_PORT, TD_STM32_TX_PIN, 1);
    gpio_usart_pin(TD_STM32_RX_PORT, TD_STM32_RX_PIN, 0);
    USART_CR1 = 0;
    USART_BRR = (usart_hz + TD_SERIAL_BAUD / 2u) / TD_SERIAL_BAUD; /* oversampling by 16 */
    USART_CR1 = USART_CR1_ENABLE;
}

static int usart_getc(void) {
#if defined(USART_ICR)
    USART_ICR = 0xFu; /* clear overrun & co, which would stop the receiver */
#endif
    if (!(USART_STATUS & USART_RXNE)) return -1;
    return (int)(USART_RDR & 0xFFu);
}

void td_port_putc(char c) {
    while (!(USART_STATUS & USART_TXE)) {
    }
    USART_TDR = (uint8_t)c;
}

void td_port_flush(void) {
    while (!(USART_STATUS & USART_TC)) {
    }
}

/* ---- counters ---- */
void SysTick_Handler(void) {
    td_cm_systick_wraps++;
    if (use_dwt) { /* sample CYCCNT at least every 2^24 cycles so no 2^32 wrap is missed */
        uint32_t now = DWT_CYCCNT;
        if (now < dwt_last) dwt_high++;
        dwt_last = now;
    }
}

/* Enable DWT CYCCNT and check that it advances: QEMU does not emulate it (reads 0), and a
 * part may lack it (DWT_CTRL.NOCYCCNT). */
static int dwt_start(void) {
    DEMCR |= DEMCR_TRCENA;
#ifdef TD_CPU_CORTEX_M7
    DWT_LAR = 0xC5ACCE55u; /* Cortex-M7: unlock the DWT's CoreSight lock */
#endif
    if (DWT_CTRL & DWT_CTRL_NOCYCCNT) return 0;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;
    uint32_t before = DWT_CYCCNT;
    for (volatile int i = 0; i < 16; i++) {
    }
    return DWT_CYCCNT != before;
}

uint64_t td_port_now(void) {
    if (!use_dwt) return td_cm_systick_now();
    uint32_t primask = td_cm_irq_save();
    uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) dwt_high++;
    dwt_last = now;
    uint64_t t = ((uint64_t)dwt_high << 32) | now;
    td_cm_irq_restore(primask);
    return t;
}

const char *td_port_counter_kind(void) { return use_dwt ? "dwt" : "systick"; }
uint32_t td_port_counter_hz(void) { return clocks.core_hz; }

const char *td_port_notes(void) {
    static const char *const notes[2][2] = {
        {"clock=reset dwt=not-counting", "clock=reset dwt=counting"},
        {"clock=pll dwt=not-counting", "clock=pll dwt=counting"},
    };
    return notes[clocks.pll ? 1 : 0][use_dwt ? 1 : 0];
}

void td_port_init(void) {
    td_stm32_clock_init(&clocks);
    usart_init(clocks.usart_hz);
    td_cm_systick_start();
    use_dwt = dwt_start();
    if (use_dwt) dwt_last = DWT_CYCCNT;
#ifndef TD_SEMIHOSTING
    /* board mode: wait for the host's start byte, then run (with or without it) */
    uint64_t limit = (uint64_t)clocks.core_hz * TD_START_WAIT_S;
    uint64_t t0 = td_cm_systick_now();
    while (td_cm_systick_now() - t0 < limit)
        if (usart_getc() == 'S') break;
#endif
}

/* ---- exit ---- */
void td_port_exit(int code) {
    td_port_flush();
#ifdef TD_SEMIHOSTING
#ifdef TD_EXIT_HANDSHAKE
    /* Under `-serial pty` QEMU's exit would drop output the host has not read yet: wait for
     * the host's ACK byte (sent after the last report line); the host has its own timeout. */
    while (usart_getc() < 0) {
    }
#endif
    td_cm_semihost_exit(code);
#else
    (void)code; /* a real board: the report said everything; park */
#endif
    for (;;) __asm__ volatile("wfi");
}

/* ---- start-up ---- */
/* The 16 system exception vectors; no peripheral interrupt is enabled, so none is listed. */
__attribute__((section(".isr_vector"), used)) const void *const td_vector_table[16] = {
    &_estack,          Reset_Handler,     Default_Handler,   HardFault_Handler,
    HardFault_Handler, HardFault_Handler, HardFault_Handler, 0,
    0,                 0,                 0,                 Default_Handler,
    Default_Handler,   0,                 Default_Handler,   SysTick_Handler,
};

__attribute__((noreturn)) void Reset_Handler(void) {
    td_cm_reset_init(); /* FPU, .data, .bss: before anything else */
    SCB_VTOR = (uint32_t)(uintptr_t)td_vector_table;
    /* Cortex-M7 only, a no-op elsewhere. The D-cache was off for the RAM set-up, so its
     * writes are in memory and the invalidation loses none of them. */
    td_stm32_caches_enable();
    td_port_exit(main());
}

#endif /* TD_TARGET_STM32 */
