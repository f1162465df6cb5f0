//! The JWT signing secret kept in the data directory when configuration does not give one.

use crate::error::AuthError;
use crate::jwt::MIN_SECRET_LEN;
use rand::RngCore;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Reads the signing secret at `path`, or makes one (32 random bytes) if the file does not
/// exist yet.
///
/// A new secret is written to a temporary file (mode 0600) beside `path`, synced, and then
/// linked into place without replacing anything (create-new semantics): when two processes
/// start at once, exactly one secret wins and both use it, and no reader ever sees a
/// half-written file. An existing file is used as it is; one shorter than
/// [`MIN_SECRET_LEN`] bytes is an error, and one readable by group or others is logged.
pub fn load_or_generate_secret(path: &Path) -> Result<Vec<u8>, AuthError> {
    match read_secret(path) {
        Ok(secret) => return Ok(secret),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuthError::Io(e)),
    }

    let mut secret = vec![0u8; MIN_SECRET_LEN];
    rand::rng().fill_bytes(&mut secret);

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".jwt-secret-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(AuthError::Io)?;
    tmp.write_all(&secret).map_err(AuthError::Io)?;
    tmp.as_file().sync_all().map_err(AuthError::Io)?;

    match tmp.persist_noclobber(path) {
        Ok(_) => {
            tracing::info!(path = %path.display(), "generated jwt signing secret");
            Ok(secret)
        }
        // Another process got there first: use its secret.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
            read_secret(path).map_err(AuthError::Io)
        }
        Err(e) => Err(AuthError::Io(e.error)),
    }
}

fn read_secret(path: &Path) -> io::Result<Vec<u8>> {
    let secret = fs::read(path)?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds {} bytes; at least {MIN_SECRET_LEN} are required",
                path.display(),
                secret.len()
            ),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "jwt signing secret is readable by group or others"
            );
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        let first = load_or_generate_secret(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(fs::read(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load_or_generate_secret(&path).unwrap();
        assert_eq!(first, second);
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn different_files_get_different_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_generate_secret(&dir.path().join("a")).unwrap();
        let b = load_or_generate_secret(&dir.path().join("b")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn short_existing_secret_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        fs::write(&path, b"too short").unwrap();
        assert!(matches!(
            load_or_generate_secret(&path),
            Err(AuthError::Io(e)) if e.kind() == io::ErrorKind::InvalidData
        ));
        assert_eq!(fs::read(&path).unwrap(), b"too short");
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope").join("jwt-secret");
        assert!(matches!(
            load_or_generate_secret(&path),
            Err(AuthError::Io(_))
        ));
    }
}
