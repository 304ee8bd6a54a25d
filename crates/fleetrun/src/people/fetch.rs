//! Downloads of full command output from the `StandardOutputUrl`/`StandardErrorUrl` the server hands out.
//!
//! The inline copies in the API stop at 24,000 (stdout) and 8,000 (stderr) characters; these URLs serve the
//! whole stream and require a SigV4-signed GET. Bodies are consumed chunk by chunk, so a caller can stream
//! them to stdout or into a hash without holding them. This module does not decide *when* to download.

use anyhow::Context;
use fleetrun_client::{ClientError, SsmClient};
use sha2::{Digest, Sha256};

/// The suffix SSM puts on an inline `StandardOutputContent`/`StandardErrorContent` it had to cut.
const TRUNCATION_MARKER: &str = "--output truncated--";

/// The signing name the server expects on output downloads (the same as the SSM API's).
const SIGNING_SERVICE: &str = "ssm";

/// Calls `sink` with each chunk of the body at `url`, in order. An empty `url` (no step ran, so
/// there is nothing stored) is an empty body.
pub(super) async fn for_each_chunk(
    client: &SsmClient,
    url: &str,
    mut sink: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if url.is_empty() {
        return Ok(());
    }
    let mut response = client.get_signed(url, SIGNING_SERVICE).await?;
    while let Some(chunk) =
        response.chunk().await.map_err(ClientError::Transport).with_context(|| format!("reading {url}"))?
    {
        sink(&chunk)?;
    }
    Ok(())
}

/// The whole body at `url`.
pub(super) async fn download(client: &SsmClient, url: &str) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    for_each_chunk(client, url, |chunk| {
        body.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(body)
}

/// SHA-256 of the body at `url`, without keeping the body.
pub(super) async fn digest(client: &SsmClient, url: &str) -> anyhow::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    for_each_chunk(client, url, |chunk| {
        hasher.update(chunk);
        Ok(())
    })
    .await?;
    Ok(hasher.finalize().into())
}

/// One stream of an invocation in full: the inline content when SSM did not cut it, else the download.
pub(super) async fn full_stream(client: &SsmClient, inline: &str, url: &str) -> anyhow::Result<String> {
    if !inline.ends_with(TRUNCATION_MARKER) || url.is_empty() {
        return Ok(inline.to_owned());
    }
    let body = download(client, url).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}
