"""The scheduling service: area MARAC calendars, cut-offs and giving accepted cases a MARAC date."""
