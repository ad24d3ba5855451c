-- Usage counters: deltas from every node added to one row per app, scope
-- (a connector, `hosts`, or `*` for the app) and period (a day or minute
-- key), so reports and quota windows add up across nodes.
CREATE TABLE usage_counters (
  app text NOT NULL,
  scope text NOT NULL,
  period text NOT NULL,
  calls bigint NOT NULL DEFAULT 0,
  bytes_out bigint NOT NULL DEFAULT 0,
  bytes_in bigint NOT NULL DEFAULT 0,
  denials bigint NOT NULL DEFAULT 0,
  invocations bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (app, scope, period)
);
