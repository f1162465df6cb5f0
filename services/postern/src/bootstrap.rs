//! First start: the installation's operator MSP and its first owner.

use anyhow::Context;
use postern_domain::Role;
use postern_store::Store;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The first owner's login, written once to `DIR/admin-credentials.json` (mode 0600).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminCredentials {
    pub email: String,
    pub password: String,
}

/// The login of the first owner.
const FIRST_OWNER_EMAIL: &str = "admin@postern.local";

/// Creates the operator MSP and its owner when the installation has no MSP yet, writes the
/// credential file and returns what was created; `None` when the installation exists.
pub async fn bootstrap_first_owner(
    store: &Store,
    data_dir: &Path,
) -> anyhow::Result<Option<(AdminCredentials, PathBuf)>> {
    let system = store.system();
    if system.msp_count().await? > 0 {
        return Ok(None);
    }
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let hash = postern_auth::hash_password(&password)?;
    let msp = system.create_msp("Postern", true).await?;
    system
        .create_user_with_membership(
            FIRST_OWNER_EMAIL,
            "Administrator",
            &hash,
            msp.id,
            None,
            Role::MspOwner,
        )
        .await?;
    let credentials = AdminCredentials {
        email: FIRST_OWNER_EMAIL.to_owned(),
        password,
    };
    let path = data_dir.join("admin-credentials.json");
    write_private(&path, &serde_json::to_vec_pretty(&credentials)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Some((credentials, path)))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}
