"""Referral service: the MARAC referral form, its lifecycle, screening and identity matching."""
