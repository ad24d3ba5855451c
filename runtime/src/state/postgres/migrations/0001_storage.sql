-- Classified storage: values (sealed by the host before they get here for
-- confidential classes), per-app totals kept in the same transaction as
-- each write so quota checks never scan, and each app's wrapped data key.
CREATE TABLE storage_values (
  app text NOT NULL,
  bucket text NOT NULL,
  key text NOT NULL,
  value bytea NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (app, bucket, key)
);
CREATE INDEX storage_values_expiry ON storage_values (expires_at);
CREATE TABLE storage_usage (
  app text PRIMARY KEY,
  bytes bigint NOT NULL DEFAULT 0,
  keys bigint NOT NULL DEFAULT 0
);
CREATE TABLE storage_data_keys (
  app text PRIMARY KEY,
  wrapped bytea NOT NULL
);
