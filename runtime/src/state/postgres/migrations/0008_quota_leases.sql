-- Quota units handed out to nodes, per app, quota and window: never more
-- than the limit in all, so a quota counted on several nodes is exact
-- (see warden_host_apis::metering::lease).
CREATE TABLE quota_leases (
  app text NOT NULL,
  quota text NOT NULL,
  period text NOT NULL,
  granted bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (app, quota, period)
);
