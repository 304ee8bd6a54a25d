//! The `S3` source of `aws:downloadContent`: `sourceInfo {"path": "<S3 URL>"}` names an object or a "directory"
//! (a key prefix), fetched through [`crate::s3client`] into the [`Sink`].
//!
//! The URL forms are the SSM agent's (`agent/s3util/s3uri.go`): path-style, regional, dash-regional,
//! virtual-hosted, dualstack, accelerate and website hosts under `amazonaws.com[.cn]`, plus `s3://bucket/key`.
//! Only the bucket, key and region are taken from the URL; the host is never contacted. Requests go to the
//! node's S3 endpoint ([`NodeConfig::s3_endpoint`](super::NodeConfig)) or to AWS's regional endpoint.
//!
//! SSM's rule decides between a file and a directory: list `key + "/"` first; any objects there make a
//! directory download (sub-paths kept, `…/` folder markers skipped), otherwise the key is one object,
//! saved under its base name. Not supported: S3 access points and VPC endpoint host names.

use super::{DownloadError, Downloaded, Request, Sink};
use crate::s3client::{Credentials, ObjectSummary, S3Client, S3Error};

/// Downloads what `request` names into `sink`, as the node's own AWS identity (its credential chain).
pub async fn download(request: &Request<'_>, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    let credentials = crate::s3client::node_chain().credentials().await;
    download_with(request, sink, credentials).await
}

/// [`download`] with the credentials given (None: anonymous requests).
pub async fn download_with(
    request: &Request<'_>,
    sink: &mut Sink,
    credentials: Option<Credentials>,
) -> Result<Downloaded, DownloadError> {
    let url = S3Url::parse(request.required("path")?.trim())?;
    let config = request.config;
    // An S3-compatible endpoint has its own region, which the operator configured; a region in the URL is
    // AWS's and only means something when the request goes to AWS.
    let region = match (&config.s3_endpoint, &url.region) {
        (None, Some(region)) => region.as_str(),
        _ => config.region.as_str(),
    };
    let client = S3Client::new(config.s3_endpoint.as_deref(), region, credentials).map_err(source_error)?;
    fetch(&client, &url, sink).await
}

/// A parsed S3 URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Decoded; empty for the whole bucket.
    pub key: String,
    /// The region the URL names; `us-east-1` for AWS hosts that name none (the global endpoint), None for
    /// `s3://` URLs.
    pub region: Option<String>,
}

impl S3Url {
    /// Parses an `https://…amazonaws.com…` URL (as the SSM agent does) or an `s3://bucket/key` URI.
    ///
    /// Keys of https URLs are percent-decoded after turning `+` into a space, as the SSM agent does (S3's
    /// console writes spaces as `+`; a real `+` is `%2B`). Keys of `s3://` URIs are taken literally, as the AWS
    /// CLI does.
    pub fn parse(text: &str) -> Result<Self, DownloadError> {
        let not_s3 = |why: &str| {
            DownloadError::Invalid(format!(
                "sourceInfo.path {text:?} is not an S3 URL ({why}); use https://BUCKET.s3.REGION.amazonaws.com/KEY, \
                 https://s3.REGION.amazonaws.com/BUCKET/KEY or s3://BUCKET/KEY"
            ))
        };
        let (scheme, rest) = text.split_once("://").ok_or_else(|| not_s3("no scheme"))?;
        if scheme.eq_ignore_ascii_case("s3") {
            let rest = rest.split(['?', '#']).next().unwrap_or_default();
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(not_s3("no bucket"));
            }
            return Ok(Self { bucket: bucket.to_string(), key: key.to_string(), region: None });
        }
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(not_s3("the scheme is not https, http or s3"));
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let (host_bucket, region) = parse_host(&host).ok_or_else(|| not_s3("the host is not an S3 endpoint"))?;
        let path = percent_decode(&path.replace('+', " ")).ok_or_else(|| not_s3("bad %-escape in the path"))?;
        let path = path.strip_prefix('/').unwrap_or(&path);
        let (bucket, key) = match host_bucket {
            Some(bucket) => (bucket, path.to_string()),
            None => {
                let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
                (bucket.to_string(), key.to_string())
            }
        };
        if bucket.is_empty() {
            return Err(not_s3("no bucket"));
        }
        let region = match region.as_deref() {
            None | Some("external-1") => "us-east-1".to_string(),
            Some(region) => region.to_string(),
        };
        Ok(Self { bucket, key, region: Some(region) })
    }

    /// `s3://bucket/key`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// Matches the SSM agent's host pattern
/// `^((.+)\.)?s3[.-](website[-.])?(accelerate\.)?(dualstack[-.])?(([-a-z0-9]+)\.)?(amazonaws\.com|amazonaws\.com\.cn)`,
/// anchored at the end too (so `s3.amazonaws.com.evil.example` is not S3). Gives the bucket (virtual-hosted
/// style) and the region, when the host names them. As with the regex, the bucket is as long as possible.
fn parse_host(host: &str) -> Option<(Option<String>, Option<String>)> {
    let rest = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = rest.split('.').collect();
    (0..labels.len()).rev().find_map(|start| {
        let tail = format!("{}.", labels[start..].join("."));
        let region = match_s3_tail(&tail)?;
        let bucket = (start > 0).then(|| labels[..start].join("."));
        Some((bucket, region))
    })
}

/// Matches `s3[.-](website[-.])?(accelerate\.)?(dualstack[-.])?(([-a-z0-9]+)\.)?` against all of `tail`; gives
/// the region group.
fn match_s3_tail(tail: &str) -> Option<Option<String>> {
    let mut rest = tail.strip_prefix("s3")?;
    rest = rest.strip_prefix(['.', '-'])?;
    for (word, separators) in [("website", &['-', '.'][..]), ("accelerate", &['.'][..]), ("dualstack", &['-', '.'][..])]
    {
        if let Some(after) = rest.strip_prefix(word).and_then(|after| after.strip_prefix(separators)) {
            rest = after;
        }
    }
    if rest.is_empty() {
        return Some(None);
    }
    let region = rest.strip_suffix('.')?;
    let valid = !region.is_empty() && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| Some(region.to_string()))
}

/// Decodes `%XX` escapes; None for a malformed escape or a result that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// Downloads `url` with `client`: a directory when objects exist under `key/`, else one object.
async fn fetch(client: &S3Client, url: &S3Url, sink: &mut Sink) -> Result<Downloaded, DownloadError> {
    let prefix = directory_prefix(&url.key);
    let listing = match client.list_objects_v2(&url.bucket, &prefix).await {
        Ok(listing) => listing,
        // As in the SSM agent: a node may be allowed to read an object without being allowed to list the bucket,
        // so a failed listing of a file-like key falls through to reading the key itself.
        Err(error @ (S3Error::AccessDenied { .. } | S3Error::Service { .. })) if prefix != url.key => {
            tracing::debug!(location = %url.location(), error = %error, "Listing failed; reading the key as a file.");
            Vec::new()
        }
        Err(error) => return Err(source_error(error)),
    };
    let mut downloaded =
        Downloaded { source_type: "S3".into(), location: url.location(), revision: None, files: Vec::new() };
    match shape(url, listing)? {
        Shape::File { name } => downloaded.revision = fetch_file(client, url, name, sink).await?,
        Shape::Directory(plan) => {
            check_targets(sink, &plan)?;
            for file in &plan {
                let object = client.get_object(&url.bucket, &file.key).await.map_err(source_error)?;
                sink.write_stream(&file.relative, object.body).await.map_err(|e| name_key(e, &file.location))?;
            }
        }
    }
    downloaded.files = sink.files().to_vec();
    Ok(downloaded)
}

/// The prefix listed to find out whether `key` is a directory: the key itself when it already reads as one
/// (empty: the whole bucket; ending in `/`), else `key/`.
fn directory_prefix(key: &str) -> String {
    if key.is_empty() || key.ends_with('/') { key.to_string() } else { format!("{key}/") }
}

/// What a download turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Shape<'a> {
    /// One object, saved under this name.
    File {
        name: &'a str,
    },
    Directory(Vec<PlannedFile>),
}

/// SSM's rule: objects listed under the directory prefix make a directory (even when `key` is also an object);
/// no objects make a file, unless the URL itself names a directory.
fn shape(url: &S3Url, listing: Vec<ObjectSummary>) -> Result<Shape<'_>, DownloadError> {
    let prefix = directory_prefix(&url.key);
    if !listing.is_empty() {
        return Ok(Shape::Directory(plan_directory(&url.bucket, &prefix, listing)));
    }
    if prefix == url.key {
        return Err(DownloadError::Source(format!("there are no objects under {}", url.location())));
    }
    Ok(Shape::File { name: url.key.rsplit('/').next().unwrap_or_default() })
}

/// Downloads one object as `name`; gives its revision (version id, else ETag).
async fn fetch_file(
    client: &S3Client,
    url: &S3Url,
    name: &str,
    sink: &mut Sink,
) -> Result<Option<String>, DownloadError> {
    sink.target(name).map_err(|e| name_key(e, &url.location()))?;
    let object = client.get_object(&url.bucket, &url.key).await.map_err(source_error)?;
    let revision = object.version_id.or(object.etag);
    sink.write_stream(name, object.body).await.map_err(|e| name_key(e, &url.location()))?;
    Ok(revision)
}

/// One file of a directory download.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlannedFile {
    key: String,
    /// Where it lands: the key without the directory's prefix.
    relative: String,
    /// `s3://bucket/key`, for messages.
    location: String,
}

/// The files of a directory download: every listed object under `prefix` except "folders", keys ending in `/`.
/// Those are usually the console's zero-byte folder markers; one with content could not be a file next to the
/// files under it, and the SSM agent skips them all too.
fn plan_directory(bucket: &str, prefix: &str, listing: Vec<ObjectSummary>) -> Vec<PlannedFile> {
    listing
        .into_iter()
        .filter(|object| !object.key.ends_with('/'))
        .filter_map(|object| {
            let relative = object.key.strip_prefix(prefix)?.to_string();
            let location = format!("s3://{bucket}/{}", object.key);
            Some(PlannedFile { key: object.key, relative, location })
        })
        .collect()
}

/// Refuses the whole download, before anything is written, when a key would land outside the destination.
fn check_targets(sink: &Sink, plan: &[PlannedFile]) -> Result<(), DownloadError> {
    for file in plan {
        sink.target(&file.relative).map_err(|e| name_key(e, &file.location))?;
    }
    Ok(())
}

/// Puts the object's name in front of a sink error, which names only the relative path.
fn name_key(error: DownloadError, location: &str) -> DownloadError {
    match error {
        DownloadError::Refused(message) => DownloadError::Refused(format!("{location}: {message}")),
        DownloadError::Source(message) => DownloadError::Source(format!("{location}: {message}")),
        DownloadError::Invalid(message) => DownloadError::Invalid(format!("{location}: {message}")),
        DownloadError::Io(error) => {
            DownloadError::Io(std::io::Error::new(error.kind(), format!("writing {location} failed: {error}")))
        }
    }
}

fn source_error(error: S3Error) -> DownloadError {
    match error {
        S3Error::Invalid(message) => DownloadError::Invalid(message),
        other => DownloadError::Source(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::Limits;

    fn parsed(text: &str) -> (String, String, Option<String>) {
        let url = S3Url::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (url.bucket, url.key, url.region)
    }

    fn expect(bucket: &str, key: &str, region: Option<&str>) -> (String, String, Option<String>) {
        (bucket.into(), key.into(), region.map(str::to_string))
    }

    #[test]
    fn every_ssm_url_form_is_parsed() {
        let cases = [
            ("https://s3.amazonaws.com/bucket/dir/key.sh", expect("bucket", "dir/key.sh", Some("us-east-1"))),
            ("https://s3.us-west-2.amazonaws.com/bucket/key", expect("bucket", "key", Some("us-west-2"))),
            ("https://s3-us-west-2.amazonaws.com/bucket/key", expect("bucket", "key", Some("us-west-2"))),
            ("https://s3-external-1.amazonaws.com/bucket/key", expect("bucket", "key", Some("us-east-1"))),
            ("https://bucket.s3.amazonaws.com/dir/key", expect("bucket", "dir/key", Some("us-east-1"))),
            ("https://bucket.s3.eu-west-1.amazonaws.com/key", expect("bucket", "key", Some("eu-west-1"))),
            (
                "http://johnsmith.eu.s3-eu-west-1.amazonaws.com/homepage.html",
                expect("johnsmith.eu", "homepage.html", Some("eu-west-1")),
            ),
            ("https://s3.dualstack.us-east-1.amazonaws.com/bucket/key", expect("bucket", "key", Some("us-east-1"))),
            ("https://bucket.s3.dualstack.ap-south-1.amazonaws.com/key", expect("bucket", "key", Some("ap-south-1"))),
            ("https://bucket.s3-accelerate.amazonaws.com/key", expect("bucket", "key", Some("us-east-1"))),
            ("https://bucket.s3-website-us-east-2.amazonaws.com/key", expect("bucket", "key", Some("us-east-2"))),
            ("https://bucket.s3-website.eu-central-1.amazonaws.com/key", expect("bucket", "key", Some("eu-central-1"))),
            ("https://bucket.s3.cn-north-1.amazonaws.com.cn/key", expect("bucket", "key", Some("cn-north-1"))),
            ("https://S3.AMAZONAWS.COM:443/RubyTest/key", expect("RubyTest", "key", Some("us-east-1"))),
            ("https://my.s3.bucket.s3.us-west-1.amazonaws.com/k", expect("my.s3.bucket", "k", Some("us-west-1"))),
            ("https://s3.amazonaws.com/bucket/key?versionId=x#frag", expect("bucket", "key", Some("us-east-1"))),
            // The whole bucket, or a "directory".
            ("https://s3.amazonaws.com/bucket", expect("bucket", "", Some("us-east-1"))),
            ("https://s3.amazonaws.com/bucket/", expect("bucket", "", Some("us-east-1"))),
            ("https://bucket.s3.amazonaws.com/dir/", expect("bucket", "dir/", Some("us-east-1"))),
            // `+` is a space, `%2B` a plus, as in the SSM agent.
            (
                "https://s3.amazonaws.com/b/hello%2Bworld/spaces+file.sh",
                expect("b", "hello+world/spaces file.sh", Some("us-east-1")),
            ),
            (
                "https://s3.amazonaws.com/ssmagent/test1%20test2/stderr.txt",
                expect("ssmagent", "test1 test2/stderr.txt", Some("us-east-1")),
            ),
            ("https://s3.amazonaws.com/b/caf%C3%A9.txt", expect("b", "café.txt", Some("us-east-1"))),
            // s3:// is literal.
            ("s3://bucket/dir/a+b%20c", expect("bucket", "dir/a+b%20c", None)),
            ("S3://bucket", expect("bucket", "", None)),
        ];
        for (text, expected) in cases {
            assert_eq!(parsed(text), expected, "{text}");
        }
    }

    #[test]
    fn other_urls_are_refused() {
        for text in [
            "https://abcd/pqr/xyz.txt",
            "https://example.com/bucket/key",
            "https://s3.amazonaws.com.evil.example/bucket/key",
            "https://bucket.storage.googleapis.com/key",
            "https://s3.amazonaws.com/",
            "https://s3.amazonaws.com",
            "https://s4.amazonaws.com/bucket/key",
            "ftp://s3.amazonaws.com/bucket/key",
            "s3.amazonaws.com/bucket/key",
            "s3:///key",
            "https://s3.amazonaws.com/b/bad%zzescape",
            "",
        ] {
            let error = S3Url::parse(text).unwrap_err();
            assert!(matches!(&error, DownloadError::Invalid(m) if m.contains("is not an S3 URL")), "{text}: {error}");
        }
    }

    fn object(key: &str, size: u64) -> ObjectSummary {
        ObjectSummary { key: key.into(), size, etag: None }
    }

    fn shape_of(text: &str, listing: Vec<ObjectSummary>) -> Result<Vec<String>, String> {
        let url = S3Url::parse(text).unwrap();
        match shape(&url, listing) {
            Ok(Shape::File { name }) => Ok(vec![format!("file {name}")]),
            Ok(Shape::Directory(plan)) => Ok(plan.into_iter().map(|file| format!("dir {}", file.relative)).collect()),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn objects_under_the_key_make_a_directory() {
        // `data` may also be an object, but objects under `data/` win. (s3s-fs, a file system, cannot hold both,
        // so this is tested here.)
        assert_eq!(shape_of("s3://bkt/data", vec![object("data/inside.txt", 6)]), Ok(vec!["dir inside.txt".into()]));
        assert_eq!(shape_of("s3://bkt/data", vec![]), Ok(vec!["file data".into()]));
        assert_eq!(shape_of("s3://bkt/a/b/c.txt", vec![]), Ok(vec!["file c.txt".into()]));
        // Only folder markers: an (empty) directory.
        assert_eq!(shape_of("s3://bkt/dir", vec![object("dir/", 0)]), Ok(vec![]));
        // A URL naming a directory that holds nothing.
        assert_eq!(shape_of("s3://bkt/dir/", vec![]), Err("there are no objects under s3://bkt/dir/".into()));
        assert_eq!(shape_of("s3://bkt", vec![]), Err("there are no objects under s3://bkt/".into()));
    }

    #[test]
    fn directories_keep_sub_paths_and_skip_folder_markers() {
        let listing = vec![
            object("dir/", 0),
            object("dir/a.txt", 1),
            object("dir/sub/", 0),
            object("dir/odd/", 3),
            object("dir/sub/b", 2),
        ];
        let plan = plan_directory("bkt", "dir/", listing);
        let relative: Vec<_> = plan.iter().map(|file| file.relative.as_str()).collect();
        assert_eq!(relative, ["a.txt", "sub/b"]);
        assert_eq!(plan[1].location, "s3://bkt/dir/sub/b");
        assert_eq!(plan[1].key, "dir/sub/b");
    }

    #[test]
    fn a_listed_key_leaving_the_destination_refuses_the_download() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = Sink::new(tmp.path().join("dest"), Limits::default()).unwrap();
        let object = |key: &str| object(key, 1);
        for evil in ["dir/../../etc/cron.d/x", "dir//abs", "dir/a/../../../x"] {
            let plan = plan_directory("bkt", "dir/", vec![object("dir/fine"), object(evil)]);
            let error = check_targets(&sink, &plan).unwrap_err();
            assert!(matches!(error, DownloadError::Refused(_)), "{evil}: {error}");
            assert!(error.to_string().starts_with(&format!("s3://bkt/{evil}: refusing")), "{error}");
        }
        let plan = plan_directory("bkt", "dir/", vec![object("dir/a/b..c"), object("dir/.hidden")]);
        check_targets(&sink, &plan).unwrap();
    }
}
