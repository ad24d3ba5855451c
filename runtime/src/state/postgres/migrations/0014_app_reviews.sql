-- Periodic reviews of apps (`POST /v1/apps/{app}/review`): who looked at
-- an app again, when, at which version and risk tier, and what they said.
-- An app's next review comes due from its latest one.
CREATE TABLE app_reviews (
  seq bigserial PRIMARY KEY,
  app text NOT NULL,
  version text NOT NULL,
  tier text NOT NULL,
  reviewer text NOT NULL,
  note text NOT NULL,
  at text NOT NULL
);
CREATE INDEX app_reviews_app ON app_reviews (app, seq);
