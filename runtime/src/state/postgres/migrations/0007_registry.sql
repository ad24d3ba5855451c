-- The deploy registry every node serves from: each version of each app
-- with its review state, its stored manifest (whose `app.component` is the
-- relative path `../../components/<sha256>.wasm`, so every node's copy in
-- its own data directory hashes the same) and the manifest as sent; the
-- components by digest; the operator's quota overrides and templates.
CREATE TABLE deployments (
  id bigserial PRIMARY KEY,
  app text NOT NULL,
  version text NOT NULL,
  digest text NOT NULL,
  owner text,
  deployed_by text NOT NULL,
  deployed_at text NOT NULL,
  status text NOT NULL,
  reasons text NOT NULL,
  approved boolean NOT NULL,
  reviewed_by text,
  review_note text,
  deployed_as text,
  manifest_sha256 text,
  stored_sha256 text,
  deployed_team text,
  changed_by text,
  change_why text,
  policy_revision text,
  manifest text NOT NULL,
  sent text NOT NULL
);
CREATE INDEX deployments_app ON deployments (app, status);

-- Every status a deploy takes, written by the database itself (as the
-- embedded registry's triggers do); each change is announced on the
-- `warden_registry` channel with the app's name, so every node follows.
CREATE TABLE transitions (
  seq bigserial PRIMARY KEY,
  deploy bigint NOT NULL,
  from_status text,
  to_status text NOT NULL,
  actor text,
  at text NOT NULL,
  why text,
  revision text
);
CREATE INDEX transitions_deploy ON transitions (deploy);

CREATE FUNCTION warden_deployment_moved() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status THEN
    INSERT INTO transitions (deploy, from_status, to_status, actor, at, why, revision)
    VALUES (NEW.id,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status END,
            NEW.status, NEW.changed_by,
            to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
            NEW.change_why, NEW.policy_revision);
    PERFORM pg_notify('warden_registry', NEW.app);
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER deployment_moved AFTER INSERT OR UPDATE OF status ON deployments
  FOR EACH ROW EXECUTE FUNCTION warden_deployment_moved();

CREATE TABLE components (
  digest text PRIMARY KEY,
  bytes bytea NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quotas (
  app text PRIMARY KEY,
  quota text NOT NULL,
  set_by text NOT NULL,
  set_at text NOT NULL
);

CREATE TABLE templates (
  name text PRIMARY KEY,
  template text NOT NULL,
  set_by text NOT NULL,
  set_at text NOT NULL
);
