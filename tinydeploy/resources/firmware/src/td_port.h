/*
 * td_port.h - what the benchmark harness needs from a target (one port file per target kind).
 *
 * port_qemu.c   : QEMU MPS2/MPS3 machines (CMSDK UART0, SysTick under -icount shift=0,
 *                 semihosting exit). Compiled when TD_TARGET_QEMU is defined.
 * port_stm32.c  : bare-metal STM32 boards, real or emulated by QEMU (USART, DWT CYCCNT or a
 *                 SysTick fallback). Compiled when TD_TARGET_STM32 is defined.
 * port_arduino.cpp : real boards through the Arduino core (Serial, DWT CYCCNT). Compiled when
 *                 ARDUINO is defined (PlatformIO's official platforms, online).
 */
#ifndef TD_PORT_H
#define TD_PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes (QEMU passes them through semihosting SYS_EXIT_EXTENDED as its own exit status).
 * Mirrored in tinydeploy/firmware/report.py: keep both in sync. */
#define TD_EXIT_OK 0
#define TD_EXIT_MISMATCH 1     /* int8 outputs differ from the expected ones */
#define TD_EXIT_INVOKE 2       /* tdm_invoke returned non-zero */
#define TD_EXIT_SETUP 3        /* harness set-up problem (e.g. counter not running) */
#define TD_EXIT_STACK 4        /* the painted stack was used up entirely (overflow likely) */
#define TD_EXIT_HARDFAULT 90   /* HardFault handler */
#define TD_EXIT_UNEXPECTED 91  /* any other exception or interrupt without a handler */

void td_port_init(void);
void td_port_putc(char c);
void td_port_flush(void);
/* Monotonic counter: SysTick ticks (QEMU) or core cycles (DWT CYCCNT). */
uint64_t td_port_now(void);
/* What td_port_now counts: "systick-icount" (QEMU MPS2/MPS3), "dwt" (DWT CYCCNT: cycles) or
 * "systick" (SysTick at the core clock); and the counter frequency in Hz. */
const char *td_port_counter_kind(void);
uint32_t td_port_counter_hz(void);
/* Extra space-separated key=value tokens for the TD:BEGIN line (may be ""): what the port
 * found at start-up, e.g. "clock=pll dwt=counting". */
const char *td_port_notes(void);
/* Stack region to paint: [*lo, *hi). hi is the initial stack pointer (top). */
void td_port_stack_region(uintptr_t *lo, uintptr_t *hi);
void td_port_exit(int code) __attribute__((noreturn));

/* The harness entry point, called by the port (main() on QEMU, setup() on Arduino). */
int td_harness_run(void);

#ifdef __cplusplus
}
#endif

#endif /* TD_PORT_H */
