//! The destination of a download: the one place downloaded files are written.

use super::{DownloadError, Limits};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// One downloaded file, as the invocation's provenance records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// Relative to the destination, with `/` separators.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A destination directory being filled.
///
/// Invariant: every file it writes is inside `root` (no `..`, no absolute path, no symlink on the way),
/// has mode 0700, and counts against the limits; `files` lists them in the order written.
#[derive(Debug)]
pub struct Sink {
    root: PathBuf,
    limits: Limits,
    bytes: u64,
    files: Vec<FileRecord>,
}

impl Sink {
    /// Creates the destination directory (and its parents) when missing.
    pub fn new(root: PathBuf, limits: Limits) -> Result<Self, DownloadError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&root)?;
        Ok(Self { root, limits, bytes: 0, files: Vec::new() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a path named by a source lands, or a refusal when it would leave the destination: an empty
    /// or absolute path, a `..` component, a NUL, or an existing symlink on the way.
    pub fn target(&self, relative: &str) -> Result<PathBuf, DownloadError> {
        let refuse = |why: &str| DownloadError::Refused(format!("refusing to write {relative:?}: {why}"));
        if relative.contains('\0') {
            return Err(refuse("it contains a NUL character"));
        }
        let path = Path::new(relative);
        let mut target = self.root.clone();
        let mut depth = 0;
        for component in path.components() {
            match component {
                Component::Normal(part) => {
                    target.push(part);
                    depth += 1;
                    if let Ok(meta) = std::fs::symlink_metadata(&target)
                        && meta.file_type().is_symlink()
                    {
                        return Err(refuse("a symlink is in the way"));
                    }
                }
                Component::CurDir => {}
                Component::ParentDir => return Err(refuse("it goes up out of the destination (`..`)")),
                Component::RootDir | Component::Prefix(_) => return Err(refuse("it is an absolute path")),
            }
        }
        if depth == 0 {
            return Err(refuse("it names no file"));
        }
        Ok(target)
    }

    /// Writes one file from a stream of chunks, hashing it and holding it to the limits. A file that breaks
    /// a limit or whose stream fails is removed.
    pub async fn write_stream<S, E>(&mut self, relative: &str, mut chunks: S) -> Result<(), DownloadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if self.files.len() >= self.limits.max_files {
            return Err(DownloadError::Refused(format!(
                "the download has more than {} files (the limit); stopped at {relative:?}",
                self.limits.max_files
            )));
        }
        let target = self.target(relative)?;
        if let Some(parent) = target.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        }
        let mut options = tokio::fs::OpenOptions::new();
        // O_NOFOLLOW: a symlink planted at the target after the check above is not followed.
        options.write(true).create(true).truncate(true).mode(0o700).custom_flags(nix::libc::O_NOFOLLOW);
        let mut file = options.open(&target).await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let result: Result<(), DownloadError> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| DownloadError::Source(format!("reading {relative:?} failed: {e}")))?;
                size += chunk.len() as u64;
                if self.bytes + size > self.limits.max_bytes {
                    return Err(DownloadError::Refused(format!(
                        "the download is larger than {} bytes (the limit); stopped in {relative:?}",
                        self.limits.max_bytes
                    )));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            Ok(())
        }
        .await;
        if let Err(error) = result {
            drop(file);
            let _ = tokio::fs::remove_file(&target).await;
            return Err(error);
        }
        self.bytes += size;
        let path = relative.trim_start_matches("./").to_string();
        self.files.push(FileRecord { path, sha256: hex::encode(hasher.finalize()), bytes: size });
        Ok(())
    }

    /// Writes one file from bytes in memory.
    pub async fn write_bytes(&mut self, relative: &str, bytes: Bytes) -> Result<(), DownloadError> {
        let chunks = futures::stream::iter([Ok::<Bytes, std::convert::Infallible>(bytes)]);
        self.write_stream(relative, chunks).await
    }

    /// The files written so far.
    pub fn files(&self) -> &[FileRecord] {
        &self.files
    }

    /// The files written, in order.
    pub fn finish(self) -> Vec<FileRecord> {
        self.files
    }
}
