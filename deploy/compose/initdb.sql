-- One database per service plus the key store, created at the first start of the compose
-- PostgreSQL (docker-entrypoint-initdb.d). Names follow DATABASE_URL's marac_{service};
-- `marac migrate --create-database` would create them too, this only saves it the work.
CREATE DATABASE marac_referral OWNER marac;
CREATE DATABASE marac_risk OWNER marac;
CREATE DATABASE marac_scheduling OWNER marac;
CREATE DATABASE marac_actions OWNER marac;
CREATE DATABASE marac_notify OWNER marac;
CREATE DATABASE marac_keystore OWNER marac;
