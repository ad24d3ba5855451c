-- Kill switches every node obeys: one row per killed app. A change is
-- announced on the `warden_kills` channel (NOTIFY, delivered at commit);
-- each node listens on a connection of its own and reloads this table.
CREATE TABLE kill_state (
  app text PRIMARY KEY,
  reason text NOT NULL,
  actor text NOT NULL,
  at text NOT NULL
);
