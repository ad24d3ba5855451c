-- Invocation tallies every node keeps for SLO burn rates: per app, per
-- 10-second bucket and per node, the node's own counts and latency
-- histogram (bucket i of warden's geometric bounds), replaced by the node
-- as its bucket grows — so a retried write never counts twice — and
-- summed over nodes by whoever evaluates an objective.
CREATE TABLE slo_tallies (
  app text NOT NULL,
  bucket bigint NOT NULL,
  node text NOT NULL,
  invocations bigint NOT NULL,
  errors bigint NOT NULL,
  histogram bigint[] NOT NULL,
  PRIMARY KEY (app, bucket, node)
);
CREATE INDEX slo_tallies_bucket ON slo_tallies (bucket);
