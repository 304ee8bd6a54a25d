//! The `Git` source of `aws:downloadContent`: clone a repository at a branch or a commit and copy its work
//! tree (never `.git`) into the destination.
//!
//! SSM's agent clones with go-git; fleetrun runs the node's `git` instead (DEPENDENCIES §A.11), in a
//! hardened way (`git/command.rs`): no system or global configuration, no prompts, only the transport the URL
//! names, credentials passed through the environment (`GIT_CONFIG_COUNT`, `http.extraHeader`) so they are
//! neither in argv nor in `.git/config`, an SSH key in a 0600 file inside a private temporary directory,
//! and `--` before every user-supplied URL. The clone happens in that temporary directory, which is deleted
//! when the download ends, however it ends.
//!
//! Choices where SSM is silent or differs:
//! - `repository` may be `https://`, `ssh://`, `git@host:path`, and also plain `http://` (SSM documents
//!   https and ssh only). Plain http is allowed because self-hosted and test git servers use it; credentials
//!   sent over it travel in clear, so a warning is logged. `file://`, `git://`, `ext::` and local paths are
//!   refused.
//! - No `getOptions` clones the remote's default branch (its `HEAD`), as a plain `git clone` does.
//!   `branch:` takes a branch or tag name (`refs/heads/` is stripped); `commitID:` a full or abbreviated SHA.
//! - `password` without `username` is sent with the user name `x-access-token`, which GitHub, GitLab and
//!   Bitbucket accept for tokens. Credentials written in the URL (`https://user:pass@host/`) are moved into
//!   the header too, so they never reach argv.
//! - Symlinks in the work tree (`git/tree.rs`): one pointing to a regular file inside the work tree is written as
//!   a copy of that file (the sink writes regular files only); any other (outside the tree, into `.git`,
//!   dangling, or to a directory) is skipped with a warning in the agent's log.
//! - Submodules are not fetched and Git LFS files stay pointer files (no filters are configured).
//!
//! It is not a git client: it runs `clone`/`fetch`/`checkout`/`rev-parse` and nothing else.

mod command;
mod remote;
mod tree;

use super::{DownloadError, Downloaded, Request, Sink};
use command::{Auth, Git};
use remote::{Remote, Transport};
use std::path::Path;
use zeroize::Zeroizing;

/// What `getOptions` asks for, in SSM's syntax (`branch:<name>` or `commitID:<sha>`), shared with the
/// `GitHub` source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// No `getOptions`: the repository's default branch.
    Default,
    Branch(String),
    Commit(String),
}

impl Checkout {
    /// Parses `getOptions` with the SSM agent's rules and error texts (`gitresource/checkoutoptions.go`):
    /// exactly one `:`, a key of `branch` or `commitID`, a non-empty value.
    pub fn parse(get_options: Option<&str>) -> Result<Self, DownloadError> {
        let text = get_options.unwrap_or("").trim();
        if text.is_empty() {
            return Ok(Self::Default);
        }
        let invalid = |message: &str| Err(DownloadError::Invalid(format!("sourceInfo.getOptions: {message}")));
        let parts: Vec<&str> = text.split(':').collect();
        let [key, value] = parts.as_slice() else {
            return if parts.len() > 2 {
                invalid("Only specify one required option")
            } else {
                invalid("getOptions is not specified in the right format")
            };
        };
        if *key != "branch" && *key != "commitID" {
            return invalid("Type of option is unknown. Please use either 'branch' or 'commitID'.");
        }
        let value = value.trim();
        if value.is_empty() {
            return invalid("Option for retrieving git content is empty");
        }
        if *key == "commitID" {
            let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex || !(4..=64).contains(&value.len()) {
                return invalid(&format!("commitID {value:?} is not a commit SHA (4 to 64 hexadecimal digits)"));
            }
            return Ok(Self::Commit(value.to_ascii_lowercase()));
        }
        if value.starts_with('-') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid(&format!("branch {value:?} is not a valid branch name"));
        }
        Ok(Self::Branch(value.to_string()))
    }

    /// For messages: "the default branch", "branch main", "commit 1a2b3c".
    pub fn describe(&self) -> String {
        match self {
            Self::Default => "the default branch".into(),
            Self::Branch(name) => format!("branch {name}"),
            Self::Commit(sha) => format!("commit {sha}"),
        }
    }
}

/// Downloads what `request` names into `sink`, with the `git` found on `PATH`.
pub async fn download(request: &Request<'_>, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    download_with(request, sink, Path::new("git")).await
}

/// [`download`] with the git program to run (a path, or a name looked up on `PATH`).
pub async fn download_with(
    request: &Request<'_>,
    sink: &mut Sink,
    program: &Path,
) -> Result<Downloaded, DownloadError> {
    let remote = Remote::parse(request.required("repository")?)?;
    let checkout = Checkout::parse(request.text("getOptions")?)?;
    let auth = auth(request, &remote)?;
    // Private (0700) and removed on drop, with the clone and the SSH key in it.
    let work = tempfile::Builder::new().prefix("fleetrun-git-").tempdir()?;
    let git = Git::new(program, work.path(), &remote, auth).await?;
    let clone = work.path().join("clone");
    git.checkout(&clone, &checkout).await?;
    let revision = git.head(&clone).await?;
    if let Checkout::Commit(sha) = &checkout
        && !revision.starts_with(sha.as_str())
    {
        return Err(DownloadError::Source(format!("{} has no commit {sha} (HEAD is {revision})", remote.location)));
    }
    tree::copy(&clone, sink).await?;
    work.close()?;
    Ok(Downloaded {
        source_type: "Git".into(),
        location: remote.location,
        revision: Some(revision),
        files: sink.files().to_vec(),
    })
}

/// The credentials `sourceInfo` gives, checked against the transport.
fn auth(request: &Request<'_>, remote: &Remote) -> Result<Auth, DownloadError> {
    let non_empty = |value: Option<Zeroizing<String>>| value.filter(|v| !v.trim().is_empty());
    let username = non_empty(request.secret_or_text("username")?);
    let password = non_empty(request.secret_or_text("password")?);
    let key = non_empty(request.secret_or_text("privateSSHKey")?);
    let skip_host_key_checking = flag(request, "skipHostKeyChecking")?;
    match remote.transport {
        Transport::Ssh => {
            if username.is_some() || password.is_some() {
                return Err(DownloadError::Invalid(
                    "sourceInfo.username and password apply to https repositories; an ssh repository takes \
                     privateSSHKey (the user name goes in the URL, as in git@host:owner/repo.git)"
                        .into(),
                ));
            }
            Ok(Auth::Ssh { key, skip_host_key_checking })
        }
        Transport::Https | Transport::Http => {
            if key.is_some() {
                return Err(DownloadError::Invalid(
                    "sourceInfo.privateSSHKey applies to ssh repositories (ssh://… or git@host:path)".into(),
                ));
            }
            let (username, password) = match (username, password) {
                (None, None) => match remote.url_credentials.clone() {
                    Some((username, password)) => (Some(username), Some(password)),
                    None => (None, None),
                },
                given => given,
            };
            match (username, password) {
                (None, None) => Ok(Auth::None),
                (Some(_), None) => {
                    Err(DownloadError::Invalid("sourceInfo.username is given without sourceInfo.password".into()))
                }
                (username, Some(password)) => Ok(Auth::Basic {
                    username: username.unwrap_or_else(|| Zeroizing::new("x-access-token".into())),
                    password,
                }),
            }
        }
    }
}

/// A boolean member, as JSON `true`/`false` or the strings `"true"`/`"false"` (SSM documents pass strings).
pub(super) fn flag(request: &Request<'_>, member: &str) -> Result<bool, DownloadError> {
    match request.source_info.get(member) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(value)) => Ok(*value),
        Some(serde_json::Value::String(text)) if text.trim().eq_ignore_ascii_case("true") => Ok(true),
        Some(serde_json::Value::String(text))
            if text.trim().eq_ignore_ascii_case("false") || text.trim().is_empty() =>
        {
            Ok(false)
        }
        Some(_) => Err(DownloadError::Invalid(format!("sourceInfo.{member} must be true or false"))),
    }
}

#[cfg(test)]
mod tests;
