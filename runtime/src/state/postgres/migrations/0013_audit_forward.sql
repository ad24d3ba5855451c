-- Where each audit sink (`[[audit.sinks]]` in warden.toml) stands in the
-- chain: the seq and hash of the last entry its receiver took. Shared, so
-- whichever node forwards next goes on from there, having checked the log
-- still holds that entry as it was sent; it only moves forward.
CREATE TABLE audit_forward (
  sink text PRIMARY KEY,
  seq bigint NOT NULL,
  hash text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
