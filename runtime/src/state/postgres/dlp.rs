//! The DLP token salt nodes share (`dlp_salt`): made by the first node
//! that needs it (or moved by `warden state copy` from a single node's
//! `dlp.salt`), sealed under the master key, so an equal value redacts
//! to an equal token whichever node redacts it.

use super::{PgError, Postgres};
use warden_host_apis::secrets::MasterKey;

/// What the sealing key is derived for (and bound to, as associated data).
const PURPOSE: &[u8] = b"warden dlp salt v1";

/// `salt` sealed for the `dlp_salt` table under `key`.
///
/// # Errors
/// The key cannot be derived from, or there is no randomness.
pub(crate) fn seal(key: &MasterKey, salt: &[u8; 32]) -> Result<Vec<u8>, PgError> {
    let sealing = key.derive(PURPOSE).map_err(PgError::Config)?;
    warden_host_apis::aead::seal(&sealing, salt, PURPOSE).map_err(PgError::Config)
}

impl Postgres {
    /// The salt every node uses: the one on record, or a new one recorded
    /// now if none is (the first node to record it wins).
    ///
    /// # Errors
    /// The server cannot be reached, or the salt on record was sealed
    /// under another master key ([`PgError::OtherMasterKey`]).
    pub async fn dlp_salt(&self, key: &MasterKey) -> Result<[u8; 32], PgError> {
        let fresh = warden_host_apis::aead::random_key().map_err(PgError::Config)?;
        let sealed = seal(key, &fresh)?;
        let recorded: Vec<u8> = self
            .call(move |client| async move {
                client
                    .execute(
                        "INSERT INTO dlp_salt (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                        &[&sealed],
                    )
                    .await?;
                Ok(client
                    .query_one("SELECT sealed FROM dlp_salt WHERE id = 1", &[])
                    .await?
                    .get(0))
            })
            .await?;
        let sealing = key.derive(PURPOSE).map_err(PgError::Config)?;
        warden_host_apis::aead::open(&sealing, &recorded, PURPOSE)
            .and_then(|salt| <[u8; 32]>::try_from(salt.as_slice()).ok())
            .ok_or(PgError::OtherMasterKey)
    }
}
