//! `sourceInfo.repository` of the `Git` source, checked: only `https://`, `http://`, `ssh://` and scp-like
//! `host:path` remotes, never one git would read as an option, a local path or a remote helper; credentials
//! written in the URL are taken out of it.

use crate::download::DownloadError;
use crate::download::http::percent_decode;
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Https,
    /// Plain http: allowed (see the module docs of `git`), with a warning when credentials go over it.
    Http,
    Ssh,
}

/// `sourceInfo.repository`, checked.
#[derive(Debug)]
pub(super) struct Remote {
    pub(super) transport: Transport,
    /// What git is given: the URL without credentials in it.
    pub(super) url: String,
    /// For messages and provenance: the same.
    pub(super) location: String,
    /// `scheme://host[:port]/`: the only URLs git sends the credential header to.
    pub(super) origin: Option<String>,
    /// User and password written in the URL, moved out of it.
    pub(super) url_credentials: Option<(Zeroizing<String>, Zeroizing<String>)>,
}

impl Remote {
    pub(super) fn parse(text: &str) -> Result<Self, DownloadError> {
        let text = text.trim();
        let refuse = |why: &str| DownloadError::Invalid(format!("sourceInfo.repository {why}"));
        if text.starts_with('-') {
            return Err(refuse("must not start with '-'"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("must not contain spaces or control characters"));
        }
        let lower = text.to_ascii_lowercase();
        if ["https://", "http://", "ssh://"].iter().any(|scheme| lower.starts_with(scheme)) {
            return Self::parse_url(text);
        }
        // scp-like `[user@]host:path`, which git reads as ssh when no `/` comes before the first `:`; but not
        // `transport::address`, git's remote-helper syntax (`ext::`, `fd::`).
        if !text.contains("://")
            && let Some((user_host, path)) = text.split_once(':')
            && !user_host.contains('/')
            && !path.is_empty()
            && !path.starts_with(':')
        {
            let host = user_host.rsplit('@').next().unwrap_or_default();
            if host.is_empty() || host.starts_with('-') {
                return Err(refuse("has no valid host"));
            }
            return Ok(Self {
                transport: Transport::Ssh,
                url: text.into(),
                location: text.into(),
                origin: None,
                url_credentials: None,
            });
        }
        Err(refuse(
            "must be an https:// or ssh:// URL, or host:path for ssh (file://, git://, ext:: and local paths are \
             refused)",
        ))
    }

    fn parse_url(text: &str) -> Result<Self, DownloadError> {
        let mut url = reqwest::Url::parse(text)
            .map_err(|e| DownloadError::Invalid(format!("sourceInfo.repository is not a valid URL: {e}")))?;
        let Some(host) = url.host_str().filter(|h| !h.is_empty() && !h.starts_with('-')).map(str::to_string) else {
            return Err(DownloadError::Invalid("sourceInfo.repository has no valid host".into()));
        };
        let transport = match url.scheme() {
            "https" => Transport::Https,
            "http" => Transport::Http,
            _ => Transport::Ssh,
        };
        let mut url_credentials = None;
        if let Some(password) = url.password() {
            if transport == Transport::Ssh {
                return Err(DownloadError::Invalid(
                    "sourceInfo.repository: an ssh URL cannot carry a password; use privateSSHKey".into(),
                ));
            }
            let password = Zeroizing::new(percent_decode(password));
            let username = Zeroizing::new(percent_decode(url.username()));
            url_credentials = Some((username, password));
            let _ = url.set_password(None);
            let _ = url.set_username("");
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let origin = (transport != Transport::Ssh).then(|| format!("{}://{host}{port}/", url.scheme()));
        Ok(Self { transport, url: url.to_string(), location: url.to_string(), origin, url_credentials })
    }
}
