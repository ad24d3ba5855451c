-- The usage batches already added, by the name their meter gave them:
-- a batch sent again after a commit whose answer was lost (it may have
-- been added after all) is not added twice. Kept a day; a meter retries
-- a batch within seconds.
CREATE TABLE usage_batches (
  batch text PRIMARY KEY,
  added_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_batches_added ON usage_batches (added_at);
