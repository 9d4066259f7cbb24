//! Files a service keeps beside its data: made private (mode 0700 directories, 0600 files), and
//! published whole, so that a process that dies mid-write leaves nothing half-written behind.

use std::io::Write;
use std::path::Path;

/// Makes `dir` and its missing parents, readable by the owner only (they hold keys, tokens and
/// databases of personal data). An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes `contents` to `path` (mode 0600) if no file is there: in full under a temporary name,
/// synced, then hard-linked into place, which fails if another process got there first. True
/// when this call published it, false when a file was there already (left as it is).
pub fn publish_private_file(path: &Path, contents: &[u8]) -> std::io::Result<bool> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        create_private_dir(parent)?;
    }
    let temporary = path.with_extension(format!("tmp-{}", hex::encode(rand::random::<[u8; 8]>())));
    let linked =
        write_new(&temporary, contents).and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links (vfat, some network mounts): made in place, which a
        // process dying mid-write can leave short (a key then fails to load; a token is refused
        // empty).
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            match write_new(path, contents) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` (mode 0600; an error if it exists) holding `contents`, synced.
fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_published_once_and_privately() {
        let dir = std::env::temp_dir().join(format!("scanpay-files-{}", uuid::Uuid::new_v4()));
        let path = dir.join("secrets").join("one.key");
        assert!(publish_private_file(&path, b"first").unwrap());
        assert!(!publish_private_file(&path, b"second").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join("secrets")), 0o700);
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.join("secrets")).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
