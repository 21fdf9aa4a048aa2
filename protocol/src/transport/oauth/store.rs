//! Where a person's refresh token is kept between runs: the store the
//! platform offers (Keystore, Keychain, through the app) or, for the CLI, a
//! file only its owner can read. The token never passes through a log.

use std::fmt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::super::sasl;
use crate::secret::Secret;

/// Where a person's refresh token is kept between runs: a file for the CLI,
/// the platform's Keystore or Keychain for the apps. Rotation (a new refresh
/// token with each refresh) is saved through it.
pub trait RefreshTokenStore: Send + Sync + fmt::Debug {
    fn load(&self) -> Option<Secret>;
    fn save(&self, token: &Secret);
    /// The person signed out, or the provider refused the token.
    fn clear(&self);
}

/// A refresh token in a file readable by its owner only (0600), the CLI's
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `token`, creating the file owner-only before any byte is in it.
    pub fn write(&self, token: &Secret) -> std::io::Result<()> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            options.mode(0o600);
            // An existing file keeps its mode on open: make it owner-only.
            if self.path.exists() {
                std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        let mut file = options.open(&self.path)?;
        file.write_all(token.expose().as_bytes())?;
        file.write_all(b"\n")
    }
}

impl RefreshTokenStore for FileTokenStore {
    fn load(&self) -> Option<Secret> {
        sasl::read_token(&self.path).ok()
    }

    fn save(&self, token: &Secret) {
        if let Err(e) = self.write(token) {
            warn!(file = %self.path.display(), error = %e, "cannot save the refresh token");
        }
    }

    fn clear(&self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(file = %self.path.display(), error = %e, "cannot remove the refresh token");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mp-oauth-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_refresh_token_file_is_owner_only_and_can_be_cleared() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("store");
        let store = FileTokenStore::new(dir.join("refresh"));
        std::fs::write(store.path(), "old").unwrap();
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&Secret::new("rt-1"));
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.load().unwrap().expose(), "rt-1");
        store.clear();
        assert!(store.load().is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
