/*
 * port_stm32.h - the few STM32 registers the bare-metal port uses, per chip family.
 *
 * Only what port_stm32.c and port_stm32_clock.c touch: RCC (clocks and enables), GPIO (the
 * two USART pins), one USART, FLASH_ACR and PWR. Addresses and bit positions are from ST's
 * reference manuals (RM0008 F1, RM0090/RM0390 F4, RM0385 F7, RM0433 H7). The board's
 * PlatformIO JSON (`build.stm32`) picks the family and the USART; the builder turns it into
 * TD_STM32_* defines (platform/builder/main.py).
 */
#ifndef PORT_STM32_H
#define PORT_STM32_H

#include <stdint.h>

#include "td_cortexm.h" /* TD_REG, SysTick, SCB_ICSR, SCB_CPACR */

/* ---- Cortex-M system registers only this port uses (ARMv7-M) ---- */
#define SCB_VTOR TD_REG(0xE000ED08)
#define SCB_CCR TD_REG(0xE000ED14)
#define SCB_CCSIDR TD_REG(0xE000ED80)
#define SCB_CSSELR TD_REG(0xE000ED84)
#define SCB_ICIALLU TD_REG(0xE000EF50)
#define SCB_DCISW TD_REG(0xE000EF60)
#define DEMCR TD_REG(0xE000EDFC)
#define DWT_CTRL TD_REG(0xE0001000)
#define DWT_CYCCNT TD_REG(0xE0001004)
#define DWT_LAR TD_REG(0xE0001FB0)

#define CCR_DC (1u << 16)
#define CCR_IC (1u << 17)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL_CYCCNTENA (1u << 0)
#define DWT_CTRL_NOCYCCNT (1u << 25)

/* ---- per family: RCC, GPIO, HSI frequency ---- */
#if defined(TD_STM32_F1)
#define RCC_BASE 0x40021000u
#define RCC_CR TD_REG(RCC_BASE + 0x00)
#define RCC_CFGR TD_REG(RCC_BASE + 0x04)
#define RCC_APB2ENR TD_REG(RCC_BASE + 0x18)
#define RCC_APB1ENR TD_REG(RCC_BASE + 0x1C)
#define GPIO_BASE(port) (0x40010800u + 0x400u * (port))
#define GPIO_ENR RCC_APB2ENR
#define GPIO_EN_BIT(port) (1u << (2u + (port))) /* IOPAEN is bit 2 */
#define HSI_HZ 8000000u
#define RCC_CR_HSIRDY (1u << 1)

#elif defined(TD_STM32_F4) || defined(TD_STM32_F7)
#define RCC_BASE 0x40023800u
#define RCC_CR TD_REG(RCC_BASE + 0x00)
#define RCC_PLLCFGR TD_REG(RCC_BASE + 0x04)
#define RCC_CFGR TD_REG(RCC_BASE + 0x08)
#define RCC_AHB1ENR TD_REG(RCC_BASE + 0x30)
#define RCC_APB1ENR TD_REG(RCC_BASE + 0x40)
#define RCC_APB2ENR TD_REG(RCC_BASE + 0x44)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))
#define GPIO_ENR RCC_AHB1ENR
#define GPIO_EN_BIT(port) (1u << (port))
#define HSI_HZ 16000000u
#define RCC_CR_HSIRDY (1u << 1)
#define FLASH_ACR TD_REG(0x40023C00u)
#define PWR_CR TD_REG(0x40007000u) /* PWR_CR1 on F7 */
#define PWR_CSR TD_REG(0x40007004u) /* PWR_CSR1 on F7 */

#elif defined(TD_STM32_H7)
#define RCC_BASE 0x58024400u
#define RCC_CR TD_REG(RCC_BASE + 0x000)
#define RCC_AHB4ENR TD_REG(RCC_BASE + 0x0E0)
#define RCC_APB1LENR TD_REG(RCC_BASE + 0x0E8)
#define RCC_APB2ENR TD_REG(RCC_BASE + 0x0F0)
#define GPIO_BASE(port) (0x58020000u + 0x400u * (port))
#define GPIO_ENR RCC_AHB4ENR
#define GPIO_EN_BIT(port) (1u << (port))
#define HSI_HZ 64000000u
#define PWR_CR3 TD_REG(0x5802480Cu)
#define PWR_CSR1 TD_REG(0x58024804u)

#else
#error "define one of TD_STM32_F1, TD_STM32_F4, TD_STM32_F7, TD_STM32_H7 (board build.stm32.family)"
#endif

#define RCC_CR_HSION (1u << 0)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)

/* ---- the report USART: base address and where its clock is enabled ---- */
#ifndef TD_STM32_USART
#error "TD_STM32_USART (the board's USART number) must be defined"
#endif
#if defined(TD_STM32_F1)
#if TD_STM32_USART == 1
#define USART_BASE 0x40013800u
#define USART_ENR RCC_APB2ENR
#define USART_EN_BIT (1u << 14)
#define USART_ON_APB2 1
#elif TD_STM32_USART == 2 || TD_STM32_USART == 3
#define USART_BASE (0x40004400u + 0x400u * (TD_STM32_USART - 2))
#define USART_ENR RCC_APB1ENR
#define USART_EN_BIT (1u << (15 + TD_STM32_USART))
#define USART_ON_APB2 0
#endif
#else /* F4, F7, H7 share the addresses of USART1/2/3/6 */
#if TD_STM32_USART == 1 || TD_STM32_USART == 6
#define USART_BASE (TD_STM32_USART == 1 ? 0x40011000u : 0x40011400u)
#define USART_ENR RCC_APB2ENR
#define USART_EN_BIT (TD_STM32_USART == 1 ? (1u << 4) : (1u << 5))
#define USART_ON_APB2 1
#elif TD_STM32_USART == 2 || TD_STM32_USART == 3
#define USART_BASE (0x40004400u + 0x400u * (TD_STM32_USART - 2))
#if defined(TD_STM32_H7)
#define USART_ENR RCC_APB1LENR
#else
#define USART_ENR RCC_APB1ENR
#endif
#define USART_EN_BIT (1u << (15 + TD_STM32_USART))
#define USART_ON_APB2 0
#endif
#endif
#ifndef USART_BASE
#error "this port knows USART1, 2, 3 (and 6 on F4/F7) only"
#endif

/* Two USART register layouts: the classic one (F1, F2, F4) and the newer one (F7, H7). */
#if defined(TD_STM32_F1) || defined(TD_STM32_F4)
#define USART_SR TD_REG(USART_BASE + 0x00)
#define USART_DR TD_REG(USART_BASE + 0x04)
#define USART_BRR TD_REG(USART_BASE + 0x08)
#define USART_CR1 TD_REG(USART_BASE + 0x0C)
#define USART_CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2)) /* UE | TE | RE */
#define USART_STATUS USART_SR
#define USART_TDR USART_DR
#define USART_RDR USART_DR
#else
#define USART_CR1 TD_REG(USART_BASE + 0x00)
#define USART_BRR TD_REG(USART_BASE + 0x0C)
#define USART_ISR TD_REG(USART_BASE + 0x1C)
#define USART_ICR TD_REG(USART_BASE + 0x20)
#define USART_RDR TD_REG(USART_BASE + 0x24)
#define USART_TDR TD_REG(USART_BASE + 0x28)
#define USART_CR1_ENABLE ((1u << 0) | (1u << 3) | (1u << 2)) /* UE | TE | RE */
#define USART_STATUS USART_ISR
#endif
#define USART_TXE (1u << 7)
#define USART_TC (1u << 6)
#define USART_RXNE (1u << 5)

/* ---- between port_stm32.c and port_stm32_clock.c ---- */
struct td_stm32_clocks {
    uint32_t core_hz;  /* what the core (and SysTick, DWT) runs at */
    uint32_t usart_hz; /* the report USART's kernel clock (its APB) */
    int pll;           /* 1: the PLL drives the core; 0: still the reset clock (HSI) */
};

/* Set up the clock tree for TD_CLOCK_HZ; falls back to the reset clock when a ready flag
 * never comes (QEMU does not emulate RCC: its reads return 0). */
void td_stm32_clock_init(struct td_stm32_clocks *out);
/* Cortex-M7: invalidate and enable the L1 instruction and data caches. */
void td_stm32_caches_enable(void);

#endif /* PORT_STM32_H */
