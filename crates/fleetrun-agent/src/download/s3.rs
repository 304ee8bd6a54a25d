//! The `s3` source of `aws:downloadContent` (being written).

use super::{Downloaded, DownloadError, Request, Sink};

/// Downloads what `request` names into `sink`.
pub async fn download(request: &Request<'_>, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    let _ = (request, sink);
    Err(DownloadError::Invalid("this source type is not supported yet".into()))
}
