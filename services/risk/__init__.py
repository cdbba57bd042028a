"""The risk service: versioned DASH checklists, scoring, and the four MARAC referral criteria."""
