//! The `GitHub` source of `aws:downloadContent`: a file or a directory of a GitHub repository, read through
//! the REST contents API (`GET {api}/repos/{owner}/{repo}/contents/{path}?ref=…`), as SSM's agent does; no
//! git is needed on the node. The API base is [`NodeConfig::github_api`](super::NodeConfig) (GitHub
//! Enterprise: `https://HOST/api/v3`).
//!
//! The ref is first resolved to a commit (`GET …/commits/{ref}`), and every later request asks for that
//! commit, so a directory is read from one revision even if the branch moves meanwhile, and provenance
//! records the exact commit. A file lands in the destination under its own name; a directory's content lands
//! directly in the destination, sub-directories preserved (as in SSM).
//!
//! Choices where SSM is silent or differs:
//! - No `getOptions` means the repository's default branch (the commit of `…/commits/HEAD`), as GitHub does
//!   when `ref` is omitted. SSM's agent asks for `master` instead, which fails for repositories created
//!   since October 2020 (their default is `main`) unless the document says `branch:main`; a repository whose
//!   default is still `master` gets `master` either way.
//! - `tokenInfo` must be a `{{ssm-secure:…}}` reference, as SSM requires; the token is sent as
//!   `Authorization: Bearer …` and never appears in a message or a log.
//! - Symlinks: GitHub serves a link to a file of the repository as that file, which is written as a copy
//!   (as the `Git` source does). Any other link (out of the repository, to a directory) and submodules are
//!   refused when `path` names one, and skipped with a warning in the agent's log when they are inside a
//!   downloaded directory: such a link could point anywhere, and a submodule is another repository.
//! - GitHub lists at most 1,000 entries per directory; larger directories are cut there by GitHub.

mod api;

use super::git::Checkout;
use super::{DownloadError, Downloaded, Request, Sink};
use api::{Api, Contents};
use fleetrun_core::parameter::{ReferenceKind, find_references};
use zeroize::Zeroizing;

/// Downloads what `request` names into `sink`.
pub async fn download(request: &Request<'_>, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    let owner = name(request, "owner")?;
    let repository = name(request, "repository")?;
    let path = repository_path(request.text("path")?.unwrap_or(""))?;
    let checkout = Checkout::parse(request.text("getOptions")?)?;
    let api = Api::new(request, owner, repository, &checkout)?;
    let commit = api.resolve(&checkout).await?;
    match api.contents(&path, &commit).await? {
        Contents::Listing(entries) => api.download_directory(&path, entries, &commit, sink).await?,
        Contents::Entry(entry) => match entry.kind.as_str() {
            "file" => {
                let name = path.rsplit('/').next().unwrap_or(&path);
                match entry.inline_content()? {
                    Some(bytes) => sink.write_bytes(name, bytes).await?,
                    None => api.download_file(&path, name, &commit, sink).await?,
                }
            }
            "symlink" => return Err(api.refuse(&path, "is a symlink out of the repository or to a directory")),
            "submodule" => return Err(api.refuse(&path, "is a git submodule (download its own repository instead)")),
            other => return Err(api.refuse(&path, &format!("has the unknown type {other:?}"))),
        },
    }
    let reference = match &checkout {
        Checkout::Default => "HEAD",
        Checkout::Branch(name) | Checkout::Commit(name) => name.as_str(),
    };
    let shown_path = if path.is_empty() { String::new() } else { format!("/{path}") };
    Ok(Downloaded {
        source_type: "GitHub".into(),
        location: format!("{}/{owner}/{repository}{shown_path}@{reference}", api.web_host()),
        revision: Some(commit),
        files: sink.files().to_vec(),
    })
}

/// `owner` or `repository`: one path segment.
fn name<'r>(request: &'r Request<'_>, member: &str) -> Result<&'r str, DownloadError> {
    let value = request.required(member)?.trim();
    if value.contains('/') || value == "." || value == ".." {
        return Err(DownloadError::Invalid(format!("sourceInfo.{member} {value:?} is not a GitHub {member} name")));
    }
    Ok(value)
}

/// `path` without leading or trailing `/`; `..` and `.` segments are refused.
fn repository_path(text: &str) -> Result<String, DownloadError> {
    let segments: Vec<&str> = text.trim().split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == ".." || s.contains('\0')) {
        return Err(DownloadError::Invalid(format!("sourceInfo.path {text:?} must not contain . or .. segments")));
    }
    Ok(segments.join("/"))
}

/// The token from `tokenInfo`, which must be exactly one `{{ssm-secure:…}}` reference, resolved.
fn token(request: &Request<'_>) -> Result<Option<Zeroizing<String>>, DownloadError> {
    let Some(text) = request.text("tokenInfo")?.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let references = find_references(text);
    let [reference] = references.as_slice() else {
        return Err(not_a_reference());
    };
    if reference.kind != ReferenceKind::Secure || reference.span != (0..text.len()) {
        return Err(not_a_reference());
    }
    if !request.secrets.contains_key(text) {
        return Err(DownloadError::Source(format!(
            "the SecureString parameter {} named in tokenInfo was not resolved for this step",
            reference.target
        )));
    }
    request.secret_or_text("tokenInfo")
}

fn not_a_reference() -> DownloadError {
    DownloadError::Invalid(
        "sourceInfo.tokenInfo must be a SecureString parameter reference such as {{ssm-secure:github-token}}".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_dot_segments_refused() {
        assert_eq!(repository_path("/scripts/nested/").unwrap(), "scripts/nested");
        assert_eq!(repository_path("").unwrap(), "");
        for bad in ["../x", "a/./b", "a/.."] {
            assert!(matches!(repository_path(bad), Err(DownloadError::Invalid(_))), "{bad}");
        }
    }
}
