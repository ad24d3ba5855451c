-- The salt of DLP redaction tokens every node uses, so an equal value
-- redacts to an equal token on every node. Sealed (AES-256-GCM) under a
-- key derived from the master key: the server never sees the salt, which
-- would let anyone holding a token test guesses of the value.
CREATE TABLE dlp_salt (
  id smallint PRIMARY KEY CHECK (id = 1),
  sealed bytea NOT NULL
);
