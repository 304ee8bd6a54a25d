//! Unpacks a `.zip` attachment into the run's code directory, refusing anything that could write
//! outside it or fill the disk.
//!
//! Unpacking here rather than handing the archive to Python's `zipimport` gives the customer's code
//! real files (so `__file__`-relative data files and bundled helper scripts work, as they do in
//! SSM), serves PowerShell runtimes with the same code, and enforces the limits below before any
//! customer code runs. The rules follow DEPENDENCIES.md §A.12: only plain relative paths, no
//! symlinks, capped entry count and total size, no overwriting.

use std::fs;
use std::io::{self, Cursor, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path};

use zip::ZipArchive;

/// Most entries an attachment may have.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// Most bytes an attachment may unpack to, counted as written (the sizes in the archive's headers
/// are not trusted).
pub(crate) const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;

/// Unpacks `bytes` into the existing directory `into`. On error the reason is returned as text and
/// `into` may hold part of the archive (the caller deletes the whole run directory).
pub(crate) fn extract(bytes: &[u8], into: &Path) -> Result<(), String> {
    extract_capped(bytes, into, MAX_UNPACKED_BYTES)
}

fn extract_capped(bytes: &[u8], into: &Path, max_unpacked_bytes: u64) -> Result<(), String> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|error| format!("not a valid zip archive: {error}"))?;
    if archive.len() > MAX_ENTRIES {
        return Err(format!("{} entries; at most {MAX_ENTRIES} are allowed", archive.len()));
    }
    let mut budget = max_unpacked_bytes;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|error| format!("entry {index}: {error}"))?;
        let name = entry.name().map_or_else(|_| format!("#{index}"), |name| name.into_owned());
        // Stricter than `enclosed_name` alone, which quietly turns "/etc/x" into "etc/x" and
        // "a/../b" into "b": such names are refused, not reinterpreted.
        let plain = Path::new(&name).components().all(|part| matches!(part, Component::Normal(_)));
        let relative = entry
            .enclosed_name()
            .filter(|_| plain)
            .ok_or_else(|| format!("entry {name:?} is not a plain relative path"))?;
        if entry.is_symlink() {
            return Err(format!("entry {name:?} is a symbolic link, which is not allowed"));
        }
        let path = into.join(&relative);
        let create_dirs = |dir: &Path| fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
        if entry.is_dir() {
            create_dirs(&path).map_err(|error| format!("entry {name:?}: {error}"))?;
            continue;
        }
        if let Some(parent) = path.parent() {
            create_dirs(parent).map_err(|error| format!("entry {name:?}: {error}"))?;
        }
        // Keep the owner's execute bit (bundled helper scripts); nothing else of the archive's modes.
        let mode = if entry.unix_mode().is_some_and(|mode| mode & 0o100 != 0) { 0o700 } else { 0o600 };
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|error| format!("entry {name:?}: {error}"))?;
        let written = io::copy(&mut (&mut entry).take(budget + 1), &mut file)
            .map_err(|error| format!("entry {name:?}: {error}"))?;
        if written > budget {
            return Err(format!("it unpacks to more than {max_unpacked_bytes} bytes"));
        }
        budget -= written;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn archive(build: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        build(&mut writer);
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn unpacks_files_and_directories() {
        let bytes = archive(|zip| {
            zip.add_directory("pkg/", SimpleFileOptions::default()).unwrap();
            zip.start_file("pkg/__init__.py", SimpleFileOptions::default()).unwrap();
            zip.start_file("deep/er/tool.sh", SimpleFileOptions::default().unix_permissions(0o755)).unwrap();
            zip.write_all(b"echo hi").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        extract(&bytes, dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("pkg/__init__.py")).unwrap(), b"");
        assert_eq!(fs::read(dir.path().join("deep/er/tool.sh")).unwrap(), b"echo hi");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("deep/er/tool.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn refuses_paths_that_leave_the_directory() {
        for name in ["../escape.py", "/etc/escape.py", "a/../../escape.py", "a/../b.py"] {
            let bytes = archive(|zip| zip.start_file(name, SimpleFileOptions::default()).unwrap());
            let dir = tempfile::tempdir().unwrap();
            let into = dir.path().join("code");
            fs::create_dir(&into).unwrap();
            let error = extract(&bytes, &into).unwrap_err();
            assert!(error.contains("is not a plain relative path"), "{name}: {error}");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "{name}");
        }
    }

    #[test]
    fn refuses_symlinks_and_garbage() {
        let symlink = archive(|zip| zip.add_symlink("link", "/etc/passwd", SimpleFileOptions::default()).unwrap());
        let error = extract(&symlink, tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(error.contains("symbolic link"), "{error}");

        let error = extract(b"PK\x03\x04 not really", tempfile::tempdir().unwrap().path()).unwrap_err();
        assert!(error.starts_with("not a valid zip archive"), "{error}");
    }

    #[test]
    fn refuses_archives_that_unpack_too_large() {
        // Two entries of 600 bytes each against a cap of 1000: the second one crosses it.
        let bytes = archive(|zip| {
            for name in ["one", "two"] {
                zip.start_file(name, SimpleFileOptions::default()).unwrap();
                zip.write_all(&[0u8; 600]).unwrap();
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let error = extract_capped(&bytes, dir.path(), 1000).unwrap_err();
        assert_eq!(error, "it unpacks to more than 1000 bytes");
        extract_capped(&bytes, tempfile::tempdir().unwrap().path(), 1200).unwrap();
    }
}
