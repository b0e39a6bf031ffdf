//! Creating the plugin socket safely: the directory must be a real directory owned by root and
//! not writable by others, a stale socket left by a dead driver is replaced, a live one (another
//! driver serving the same name) is not, and the socket is not world-accessible.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// Socket permissions: owner and group (docker runs as root) only.
pub const SOCKET_MODE: u32 = 0o660;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("plugin directory {0}: {1}")]
    Directory(PathBuf, String),
    #[error("another driver is already serving {0}")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("plugin socket {0}: {1}")]
    Io(PathBuf, io::Error),
}

/// Binds `dir/name.sock`, creating `dir` (mode 0755) when missing.
pub fn bind(dir: &Path, name: &str) -> Result<(UnixListener, PathBuf), SocketError> {
    let dir_error = |reason: String| SocketError::Directory(dir.to_path_buf(), reason);
    match std::fs::symlink_metadata(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| dir_error(e.to_string()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| dir_error(e.to_string()))?;
        }
        Err(err) => return Err(dir_error(err.to_string())),
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(dir_error("is not a directory".into()));
            }
            let euid = unsafe { libc::geteuid() };
            if meta.uid() != euid && meta.uid() != 0 {
                return Err(dir_error(format!(
                    "is owned by uid {}, not by us",
                    meta.uid()
                )));
            }
            if meta.mode() & 0o002 != 0 {
                return Err(dir_error("is writable by everyone".into()));
            }
        }
    }
    let path = dir.join(format!("{name}.sock"));
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(SocketError::NotASocket(path));
            }
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(SocketError::InUse(path));
            }
            std::fs::remove_file(&path).map_err(|e| SocketError::Io(path.clone(), e))?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(SocketError::Io(path, err)),
    }
    // Bind under a restrictive umask so the socket is never world-accessible, even briefly.
    let old_umask = unsafe { libc::umask(0o117) };
    let bound = UnixListener::bind(&path);
    unsafe { libc::umask(old_umask) };
    let listener = bound.map_err(|e| SocketError::Io(path.clone(), e))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(|e| SocketError::Io(path.clone(), e))?;
    Ok((listener, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_with_mode_and_replaces_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        let (listener, path) = bind(&plugins, "t").unwrap();
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, SOCKET_MODE);
        assert!(matches!(bind(&plugins, "t"), Err(SocketError::InUse(_))));
        drop(listener);
        // The socket file stays behind, as after a SIGKILL: it is stale and gets replaced.
        assert!(path.exists());
        bind(&plugins, "t").unwrap();
    }

    #[tokio::test]
    async fn refuses_unsafe_places() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            bind(dir.path(), "t"),
            Err(SocketError::Directory(..))
        ));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("f.sock"), b"").unwrap();
        assert!(matches!(
            bind(dir.path(), "f"),
            Err(SocketError::NotASocket(_))
        ));
    }
}
