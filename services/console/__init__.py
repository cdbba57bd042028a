"""The console: the web front end referrers, coordinators, agencies and auditors sign in to."""
