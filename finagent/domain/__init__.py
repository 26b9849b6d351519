"""Pure trading domain: values and decisions, no I/O, no clock reads, no logging."""
