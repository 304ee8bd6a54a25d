//! The `HTTP` source of `aws:downloadContent`: one file fetched with a GET, streamed into the destination.
//!
//! As in SSM: `https://` only, unless `allowInsecureDownload` is true; optional Basic authentication
//! (`username`, `password`, either of which may be a `{{ssm-secure:…}}` reference).
//!
//! Choices where SSM is silent or differs:
//! - The file is named after the URL's last path segment (percent-decoded), or `download-<random>` when the
//!   URL has none; SSM names every file downloaded into a directory `download<random>`.
//! - `authMethod: Digest` is refused as not supported (Basic over https is the recommended replacement).
//! - Credentials written in the URL (`https://user:pass@host/`) are refused: they would end up in logs and
//!   provenance; use `username`/`password`.
//! - Redirects are followed at most 5 times, never from https to http; reqwest drops the `Authorization`
//!   header when a redirect leaves the host.
//! - The location recorded for provenance drops the query string (`?…`), which often carries a signature
//!   or a token (pre-signed URLs); the revision is the response's `ETag`, when it has one.

use super::{DownloadError, Downloaded, Request, Sink};
use futures::TryStreamExt;
use reqwest::{StatusCode, Url};
use std::time::Duration;
use zeroize::Zeroizing;

const MAX_REDIRECTS: usize = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const USER_AGENT: &str = concat!("fleetrun-agent/", env!("CARGO_PKG_VERSION"));

/// Downloads what `request` names into `sink`.
pub async fn download(request: &Request<'_>, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    let url = parse_url(request)?;
    let location = location(&url);
    let auth = basic_auth(request)?;
    if auth.is_some() && url.scheme() == "http" {
        tracing::warn!(url = %location, "Sending Basic credentials over plain http (allowInsecureDownload).");
    }
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            match redirect_verdict(attempt.previous(), attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => attempt.error(why),
            }
        }))
        .build()
        .map_err(|e| DownloadError::Source(format!("could not set up an HTTP client: {}", describe(&e))))?;
    let mut get = client.get(url.clone());
    if let Some((username, password)) = &auth {
        get = get.basic_auth(username.as_str(), Some(password.as_str()));
    }
    let response = get
        .send()
        .await
        .map_err(|e| DownloadError::Source(format!("downloading {location} failed: {}", describe(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Source(status_message(&location, status, auth.is_some())));
    }
    let revision = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_string);
    let name = file_name(&url);
    let chunks = Box::pin(response.bytes_stream().map_err(reqwest::Error::without_url));
    sink.write_stream(&name, chunks).await?;
    Ok(Downloaded { source_type: "HTTP".into(), location, revision, files: sink.files().to_vec() })
}

fn parse_url(request: &Request<'_>) -> Result<Url, DownloadError> {
    let text = request.required("url")?.trim();
    let url =
        Url::parse(text).map_err(|e| DownloadError::Invalid(format!("sourceInfo.url is not a valid URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if super::git::flag(request, "allowInsecureDownload")? => {}
        "http" => {
            return Err(DownloadError::Invalid(
                "Non secure URL provided and insecure download is not allowed. Provide a secure URL or set \
                 'allowInsecureDownload' to true to perform the download operation"
                    .into(),
            ));
        }
        other => {
            return Err(DownloadError::Invalid(format!(
                "sourceInfo.url must be an https:// (or, with allowInsecureDownload, http://) URL, not {other}:"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DownloadError::Invalid(
            "sourceInfo.url must not hold credentials; give them as username and password with authMethod Basic".into(),
        ));
    }
    Ok(url)
}

type Credentials = (Zeroizing<String>, Zeroizing<String>);

/// `authMethod` and its `username`/`password`.
fn basic_auth(request: &Request<'_>) -> Result<Option<Credentials>, DownloadError> {
    match request.text("authMethod")?.map(str::trim).unwrap_or("") {
        "" | "None" => Ok(None),
        "Basic" => {
            let username = request.secret_or_text("username")?.filter(|v| !v.trim().is_empty());
            let password = request.secret_or_text("password")?;
            match (username, password) {
                (Some(username), Some(password)) => Ok(Some((username, password))),
                _ => Err(DownloadError::Invalid("authMethod Basic needs sourceInfo.username and password".into())),
            }
        }
        "Digest" => {
            Err(DownloadError::Invalid("authMethod Digest is not supported by fleetrun; use Basic (over https)".into()))
        }
        other => Err(DownloadError::Invalid(format!(
            "Invalid authentication method: {other}. The following methods are accepted: None, Basic"
        ))),
    }
}

/// Whether a redirect from the chain `previous` (the original URL first) to `next` may be followed.
fn redirect_verdict(previous: &[Url], next: &Url) -> Result<(), String> {
    if previous.len() > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    let from_https = previous.last().is_some_and(|url| url.scheme() == "https");
    match next.scheme() {
        "https" => Ok(()),
        "http" if !from_https => Ok(()),
        "http" => Err(format!("refusing a redirect from https to http ({})", location(next))),
        other => Err(format!("refusing a redirect to a {other}: URL")),
    }
}

/// The URL as provenance and messages show it: without credentials and without the query string.
fn location(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_fragment(None);
    let had_query = shown.query().is_some();
    shown.set_query(None);
    if had_query { format!("{shown}?…") } else { shown.to_string() }
}

/// The file name for `url`: its last path segment, percent-decoded, or `download-<random>` when that is
/// empty or could not be a file name.
fn file_name(url: &Url) -> String {
    let last = url.path_segments().and_then(|mut segments| segments.next_back()).unwrap_or_default();
    let name = percent_decode(last);
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        format!("download-{:08x}", rand::random::<u32>())
    } else {
        name
    }
}

fn status_message(location: &str, status: StatusCode, with_credentials: bool) -> String {
    let shown = format!("HTTP {}", status.as_str());
    let reason = status.canonical_reason().map(|r| format!(" {r}")).unwrap_or_default();
    match status {
        StatusCode::NOT_FOUND => format!("{location} was not found ({shown}{reason})"),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if with_credentials => {
            format!("{location} refused the credentials ({shown}{reason}): check username and password")
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            format!(
                "{location} refused access ({shown}{reason}): it may need authMethod Basic with username and password"
            )
        }
        _ => format!("{location} answered {shown}{reason}"),
    }
}

/// Decodes `%XX` escapes (invalid ones stay as written; invalid UTF-8 becomes U+FFFD).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
        if bytes[index] == b'%'
            && let (Some(high), Some(low)) = (hex(index + 1), hex(index + 2))
        {
            out.push((high * 16 + low) as u8);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reqwest error with its causes ("error sending request: connection refused"), without the URL.
pub(super) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() { "timed out".to_string() } else { String::new() };
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        let part = current.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn redirects_stop_after_five_and_never_downgrade() {
        let chain: Vec<Url> = (0..5).map(|i| url(&format!("http://a/{i}"))).collect();
        assert!(redirect_verdict(&chain, &url("http://a/next")).is_ok());
        let chain: Vec<Url> = (0..6).map(|i| url(&format!("http://a/{i}"))).collect();
        assert!(redirect_verdict(&chain, &url("http://a/next")).unwrap_err().contains("more than 5"));
        let from_https = [url("https://a/x")];
        assert!(redirect_verdict(&from_https, &url("http://b/x")).unwrap_err().contains("https to http"));
        assert!(redirect_verdict(&from_https, &url("https://b/x")).is_ok());
        assert!(redirect_verdict(&[url("http://a/x")], &url("https://b/x")).is_ok());
    }

    #[test]
    fn file_names_come_from_the_last_segment() {
        assert_eq!(file_name(&url("https://h/a/b/tool%20v1.sh?x=1")), "tool v1.sh");
        for generated in ["https://h/", "https://h", "https://h/a/%2e%2e", "https://h/a%2Fb"] {
            let name = file_name(&url(generated));
            assert!(name.starts_with("download-") && name.len() == 17, "{generated}: {name}");
        }
    }

    #[test]
    fn locations_hide_credentials_and_queries() {
        assert_eq!(location(&url("https://u:p@h/f?X-Amz-Signature=s#frag")), "https://h/f?…");
        assert_eq!(location(&url("https://h/f")), "https://h/f");
    }
}
