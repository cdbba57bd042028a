"""The notify service: who must hear what, by e-mail and webhook, only agencies that signed the ISA."""
