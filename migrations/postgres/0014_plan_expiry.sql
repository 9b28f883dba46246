-- A paid plan lasts the month it was paid for: the expire-plans job moves users whose plan
-- ran out back to the free plan (nothing is deleted; above the free quota, uploads stop).
ALTER TABLE users ADD COLUMN plan_expires_at BIGINT;
CREATE INDEX users_plan_expiry ON users (plan_expires_at);
