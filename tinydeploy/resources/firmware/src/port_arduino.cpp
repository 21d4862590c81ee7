/*
 * port_arduino.cpp - real boards through the Arduino core (STM32duino, Arduino mbed nRF52):
 * report over Serial (the board's USB/ST-LINK virtual COM port, 115200 baud), cycles from the
 * DWT cycle counter, no semihosting (it faults without a debugger attached).
 *
 * Needs the official PlatformIO platforms (internet): not built offline. Untested on hardware
 * in this repository's CI; the report format is the one QEMU runs exercise.
 */
#ifdef ARDUINO

#include <Arduino.h>
#include <stdint.h>

#include "td_port.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFC)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0)

#ifndef TD_STACK_PAINT_BYTES
#define TD_STACK_PAINT_BYTES 8192u /* painted window below the SP at start-up */
#endif

static uint32_t cyc_last, cyc_high;
static uintptr_t sp_at_start;

extern "C" {

void td_port_init(void) {
    Serial.begin(115200);
    /* Wait (at most 10 s) for the host's start byte 'S', so no report line is sent before
     * `tinydeploy bench` has opened the port after flashing. */
    uint32_t t0 = millis();
    while (millis() - t0 < 10000) {
        if (Serial && Serial.available() && Serial.read() == 'S') break;
    }
    DEMCR |= (1u << 24); /* TRCENA */
#if defined(__CORE_CM7_H_GENERIC) || defined(STM32H7xx) || defined(STM32F7xx)
    DWT_LAR = 0xC5ACCE55u; /* Cortex-M7: unlock the DWT */
#endif
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    cyc_last = 0;
    cyc_high = 0;
}

void td_port_putc(char c) { Serial.write((uint8_t)c); }
void td_port_flush(void) { Serial.flush(); }

uint64_t td_port_now(void) {
    uint32_t now = DWT_CYCCNT; /* extend to 64 bits; called far more often than every 2^32 */
    if (now < cyc_last) cyc_high++;
    cyc_last = now;
    return ((uint64_t)cyc_high << 32) | now;
}

const char *td_port_counter_kind(void) { return "dwt"; }
uint32_t td_port_counter_hz(void) { return (uint32_t)F_CPU; }
const char *td_port_notes(void) { return ""; }

void td_port_stack_region(uintptr_t *lo, uintptr_t *hi) {
    *hi = sp_at_start;
    *lo = sp_at_start - TD_STACK_PAINT_BYTES;
}

void td_port_exit(int code) {
    (void)code;
    Serial.flush();
    for (;;) {
        delay(1000);
    }
}

} /* extern "C" */

void setup() {
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    sp_at_start = sp;
    td_port_exit(td_harness_run());
}

void loop() {}

#endif /* ARDUINO */
