//! The GitHub REST API as the `GitHub` source uses it, for one repository: resolving a ref to a commit,
//! reading contents (a listing or one object), streaming a file, walking a directory, and turning error
//! answers into messages. The token is sent as a Bearer header and never appears in a message.

use crate::download::git::Checkout;
use crate::download::http::{USER_AGENT, describe};
use crate::download::{DownloadError, Request, Sink};
use base64::Engine;
use bytes::Bytes;
use futures::TryStreamExt;
use reqwest::{StatusCode, Url, header};
use serde::Deserialize;
use std::time::Duration;
use zeroize::Zeroizing;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const JSON: &str = "application/vnd.github+json";
const RAW: &str = "application/vnd.github.raw";

/// What the contents API answers: a directory listing, or one object (file, symlink, submodule).
pub(super) enum Contents {
    Listing(Vec<Entry>),
    Entry(Entry),
}

#[derive(Deserialize)]
pub(super) struct Entry {
    #[serde(rename = "type")]
    pub(super) kind: String,
    name: String,
    #[serde(default)]
    download_url: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

impl Entry {
    /// The file's bytes when GitHub sent them in the JSON (files up to 1 MB); None when they must be fetched.
    pub(super) fn inline_content(&self) -> Result<Option<Bytes>, DownloadError> {
        let (Some("base64"), Some(content)) = (self.encoding.as_deref(), self.content.as_deref()) else {
            return Ok(None);
        };
        let compact: String = content.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if compact.is_empty() {
            return Ok(None);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| DownloadError::Source(format!("GitHub sent file content that is not base64: {e}")))?;
        Ok(Some(Bytes::from(bytes)))
    }
}

/// The REST API, for one repository.
pub(super) struct Api {
    client: reqwest::Client,
    base: Url,
    token: Option<Zeroizing<String>>,
    owner: String,
    repository: String,
    /// For messages: "branch main", "the default branch"…
    wanted: String,
}

impl Api {
    pub(super) fn new(
        request: &Request<'_>,
        owner: &str,
        repository: &str,
        checkout: &Checkout,
    ) -> Result<Self, DownloadError> {
        let api = &request.config.github_api;
        let base = Url::parse(api)
            .ok()
            .filter(|url| !url.cannot_be_a_base())
            .ok_or_else(|| DownloadError::Invalid(format!("the GitHub API URL {api:?} of this node is not a URL")))?;
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| DownloadError::Source(format!("could not set up an HTTP client: {}", describe(&e))))?;
        Ok(Self {
            client,
            base,
            token: super::token(request)?,
            owner: owner.into(),
            repository: repository.into(),
            wanted: checkout.describe(),
        })
    }

    /// `{api}/repos/{owner}/{repo}/{endpoint}/{tail…}`, each segment percent-encoded.
    fn url(&self, endpoint: &str, tail: &str) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("checked in Api::new");
            segments.pop_if_empty().extend(["repos", &self.owner, &self.repository, endpoint]);
            segments.extend(tail.split('/').filter(|s| !s.is_empty()));
            if tail.is_empty() && endpoint == "contents" {
                segments.push("");
            }
        }
        url
    }

    async fn get(&self, url: Url, accept: &str, path: &str) -> Result<reqwest::Response, DownloadError> {
        let mut request =
            self.client.get(url).header(header::ACCEPT, accept).header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.as_str());
        }
        let response = request.send().await.map_err(|e| {
            DownloadError::Source(format!("could not reach the GitHub API at {}: {}", self.base, describe(&e)))
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.status_error(response, path).await)
    }

    /// The commit `checkout` names, as a full SHA.
    pub(super) async fn resolve(&self, checkout: &Checkout) -> Result<String, DownloadError> {
        let reference = match checkout {
            Checkout::Default => "HEAD",
            Checkout::Branch(name) | Checkout::Commit(name) => name.as_str(),
        };
        // GitHub wants the `/` of a ref like `refs/heads/x` unescaped, so each part is one segment.
        let response = self.get(self.url("commits", reference), "application/vnd.github.sha", "").await?;
        let body = response.text().await.map_err(|e| self.read_error(&e))?;
        let sha = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(json) => json.get("sha").and_then(|s| s.as_str()).unwrap_or_default().to_string(),
            Err(_) => body.trim().to_string(),
        };
        if sha.len() < 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DownloadError::Source(format!(
                "GitHub did not answer a commit SHA for {} of {}/{}",
                self.wanted, self.owner, self.repository
            )));
        }
        Ok(sha)
    }

    pub(super) async fn contents(&self, path: &str, commit: &str) -> Result<Contents, DownloadError> {
        let mut url = self.url("contents", path);
        url.query_pairs_mut().append_pair("ref", commit);
        let response = self.get(url, JSON, path).await?;
        let body = response.bytes().await.map_err(|e| self.read_error(&e))?;
        let parsed = if body.trim_ascii_start().starts_with(b"[") {
            serde_json::from_slice(&body).map(Contents::Listing)
        } else {
            serde_json::from_slice(&body).map(Contents::Entry)
        };
        parsed
            .map_err(|e| DownloadError::Source(format!("GitHub's answer for {} is not understood: {e}", self.at(path))))
    }

    /// Streams the file at `path` into `sink` as `name`.
    pub(super) async fn download_file(
        &self,
        path: &str,
        name: &str,
        commit: &str,
        sink: &mut Sink,
    ) -> Result<(), DownloadError> {
        let mut url = self.url("contents", path);
        url.query_pairs_mut().append_pair("ref", commit);
        let response = self.get(url, RAW, path).await?;
        sink.write_stream(name, Box::pin(response.bytes_stream().map_err(reqwest::Error::without_url))).await
    }

    /// Writes every file under the directory `root` (listed as `entries`) into `sink`, relative to `root`.
    pub(super) async fn download_directory(
        &self,
        root: &str,
        entries: Vec<Entry>,
        commit: &str,
        sink: &mut Sink,
    ) -> Result<(), DownloadError> {
        // (directory relative to root, its entries); depth first, in GitHub's (name) order.
        let mut pending = vec![(String::new(), entries)];
        let mut skipped = Vec::new();
        while let Some((directory, entries)) = pending.pop() {
            let mut subdirectories = Vec::new();
            for entry in entries {
                let name = &entry.name;
                if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                    return Err(DownloadError::Refused(format!(
                        "GitHub listed an entry named {name:?} in {}; refusing to download it",
                        self.at(&join(root, &directory))
                    )));
                }
                let relative = join(&directory, name);
                let path = join(root, &relative);
                match entry.kind.as_str() {
                    // GitHub lists a submodule as a "file" without a download URL.
                    "file" if entry.download_url.is_some() => {
                        self.download_file(&path, &relative, commit, sink).await?
                    }
                    "file" | "submodule" => skipped.push(format!("{relative} (a submodule)")),
                    "dir" => subdirectories.push(relative),
                    // GitHub serves a link to a file of the repository as that file: ask for it.
                    "symlink" => match self.contents(&path, commit).await? {
                        Contents::Entry(target) if target.kind == "file" => match target.inline_content()? {
                            Some(bytes) => sink.write_bytes(&relative, bytes).await?,
                            None => self.download_file(&path, &relative, commit, sink).await?,
                        },
                        _ => skipped.push(format!("{relative} (a symlink out of the repository or to a directory)")),
                    },
                    other => skipped.push(format!("{relative} (type {other:?})")),
                }
            }
            for relative in subdirectories.into_iter().rev() {
                match self.contents(&join(root, &relative), commit).await? {
                    Contents::Listing(entries) => pending.push((relative, entries)),
                    Contents::Entry(_) => skipped.push(format!("{relative} (not a directory when listed)")),
                }
            }
        }
        if !skipped.is_empty() {
            tracing::warn!(
                repository = %format!("{}/{}", self.owner, self.repository),
                skipped = %skipped.join(", "),
                "Skipped symlinks and submodules of a GitHub directory."
            );
        }
        Ok(())
    }

    /// The error for a non-2xx answer about `path` ("" for the repository itself).
    async fn status_error(&self, response: reqwest::Response, path: &str) -> DownloadError {
        let status = response.status();
        let headers = response.headers().clone();
        let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|json| json.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_default();
        let message: String = message.chars().take(300).collect();
        let repository = format!("{}/{}", self.owner, self.repository);
        let rate_limited = header_text("x-ratelimit-remaining").as_deref() == Some("0")
            || message.to_ascii_lowercase().contains("rate limit");
        let text = match status {
            StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS if rate_limited => {
                let resets = header_text("x-ratelimit-reset")
                    .and_then(|epoch| epoch.parse::<i64>().ok())
                    .and_then(|epoch| time::OffsetDateTime::from_unix_timestamp(epoch).ok())
                    .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok())
                    .or_else(|| header_text("retry-after").map(|seconds| format!("in {seconds} seconds")))
                    .unwrap_or_else(|| "a later time".into());
                let hint = if self.token.is_none() { "; a tokenInfo raises the limit" } else { "" };
                format!("GitHub API rate limit exceeded for {repository}; it resets at {resets}{hint} ({message})")
            }
            StatusCode::UNAUTHORIZED if self.token.is_some() => {
                format!("GitHub refused the token (401 Bad credentials) for {repository} — check tokenInfo")
            }
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => format!(
                "{} not found at {} (or the repository is private and no/insufficient token was given)",
                self.at(path),
                self.wanted
            ),
            _ => format!("GitHub API answered {status} for {}: {message}", self.at(path)),
        };
        DownloadError::Source(text)
    }

    fn read_error(&self, error: &reqwest::Error) -> DownloadError {
        DownloadError::Source(format!(
            "reading GitHub's answer for {}/{} failed: {}",
            self.owner,
            self.repository,
            describe(error)
        ))
    }

    pub(super) fn refuse(&self, path: &str, why: &str) -> DownloadError {
        DownloadError::Refused(format!("{} {why}; GitHub downloads take files and directories", self.at(path)))
    }

    /// `owner/repo/path` for messages.
    fn at(&self, path: &str) -> String {
        let repository = format!("{}/{}", self.owner, self.repository);
        if path.is_empty() { repository } else { format!("{repository}/{path}") }
    }

    /// The host people know the repositories by: `github.com` for the public API, else the API's host.
    pub(super) fn web_host(&self) -> String {
        match (self.base.host_str(), self.base.port()) {
            (Some("api.github.com"), _) => "github.com".into(),
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.into(),
            (None, _) => self.base.to_string(),
        }
    }
}

fn join(directory: &str, name: &str) -> String {
    if directory.is_empty() { name.to_string() } else { format!("{directory}/{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_content_is_decoded_across_github_line_breaks() {
        let entry = Entry {
            kind: "file".into(),
            name: "a".into(),
            download_url: None,
            encoding: Some("base64".into()),
            content: Some("aGVsbG8g\nd29ybGQ=\n".into()),
        };
        assert_eq!(entry.inline_content().unwrap().unwrap(), Bytes::from_static(b"hello world"));
    }
}
