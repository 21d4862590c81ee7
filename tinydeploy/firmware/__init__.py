"""Firmware: the tdnn kernel library on the host, firmware builds and QEMU runs."""
