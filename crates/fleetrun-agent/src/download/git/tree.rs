//! Copying a cloned work tree into the sink: regular files as they are, `.git` never, and symlinks only
//! when they point to a regular file inside the tree (written as a copy of it; see the module docs of `git`).

use crate::download::{DownloadError, Sink};
use std::path::{Path, PathBuf};
use tokio_util::io::ReaderStream;

/// Writes every file under `root` (but `root/.git`) into `sink`, in a stable order (sorted per directory).
pub(super) async fn copy(root: &Path, sink: &mut Sink) -> Result<(), DownloadError> {
    let canonical_root = tokio::fs::canonicalize(root).await?;
    let mut directories = vec![PathBuf::new()];
    let mut skipped = Vec::new();
    while let Some(directory) = directories.pop() {
        let mut reader = tokio::fs::read_dir(root.join(&directory)).await?;
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry().await? {
            entries.push(entry);
        }
        entries.sort_by_key(|entry| entry.file_name());
        // Directories are pushed in reverse so that they come off the stack in name order.
        let mut subdirectories = Vec::new();
        for entry in entries {
            if directory.as_os_str().is_empty() && entry.file_name() == ".git" {
                continue;
            }
            let relative = directory.join(entry.file_name());
            let Some(name) = relative.to_str().map(str::to_string) else {
                return Err(DownloadError::Refused(format!(
                    "the repository has a file name that is not UTF-8 ({}); fleetrun cannot record it",
                    relative.to_string_lossy()
                )));
            };
            let file_type = entry.file_type().await?; // of the entry itself: symlinks are not followed
            if file_type.is_dir() {
                subdirectories.push(relative);
            } else if file_type.is_file() {
                write(sink, &name, &entry.path()).await?;
            } else if file_type.is_symlink() {
                match link_target(&canonical_root, &entry.path()).await {
                    Ok(target) => write(sink, &name, &target).await?,
                    Err(why) => skipped.push(format!("{name} ({why})")),
                }
            } else {
                skipped.push(format!("{name} (not a regular file)"));
            }
        }
        directories.extend(subdirectories.into_iter().rev());
    }
    if !skipped.is_empty() {
        tracing::warn!(skipped = %skipped.join(", "), "Skipped symlinks and special files of a git repository.");
    }
    Ok(())
}

/// Where the symlink `link` leads when that is a regular file inside the tree, else why it is skipped.
async fn link_target(canonical_root: &Path, link: &Path) -> Result<PathBuf, &'static str> {
    let target = tokio::fs::canonicalize(link).await.map_err(|_| "a symlink to nothing")?;
    if !target.starts_with(canonical_root) || target.starts_with(canonical_root.join(".git")) {
        return Err("a symlink out of the repository");
    }
    let metadata = tokio::fs::metadata(&target).await.map_err(|_| "a symlink to nothing")?;
    if !metadata.is_file() {
        return Err("a symlink to a directory");
    }
    Ok(target)
}

async fn write(sink: &mut Sink, name: &str, path: &Path) -> Result<(), DownloadError> {
    let file = tokio::fs::File::open(path).await?;
    sink.write_stream(name, ReaderStream::new(file)).await
}
