-- Fuel consumed and what was charged (millionths of the platform's
-- currency, priced when it happened) join the usage counters, for cost
-- reports and budgets.
ALTER TABLE usage_counters
  ADD COLUMN fuel bigint NOT NULL DEFAULT 0,
  ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
-- A month's (or a look-back's) day rows are read by range of period, in
-- byte order whatever the database's collation.
CREATE INDEX usage_counters_period ON usage_counters (period COLLATE "C");
