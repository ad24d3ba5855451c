-- The company's people, as its identity provider keeps them over SCIM 2.0
-- (`/scim/v2/Users`): one row per person with the resource as last sent.
-- A deleted person is kept (deleted = true) so the name stays deactivated
-- and the apps it owned stay orphaned. `aliases` holds the names the
-- person signs in and owns apps as, each between newlines.
CREATE TABLE people (
  id text PRIMARY KEY,
  user_name text NOT NULL,
  active boolean NOT NULL,
  deleted boolean NOT NULL,
  resource text NOT NULL,
  aliases text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  version bigint NOT NULL
);
CREATE UNIQUE INDEX people_user_name ON people (user_name) WHERE NOT deleted;
