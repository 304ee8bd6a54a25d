//! The S3 client and the `S3` source of `aws:downloadContent` against a real S3-compatible server: `s3s-fs`, which
//! verifies SigV4 like S3 does. Each test starts its own `s3s-fs` on a free port with its own keys and data
//! directory, and kills it when it ends, passing or failing.
//!
//! `s3s-fs` must be installed (on PATH or in `~/.cargo/bin`); `scripts/test` installs it. A missing binary fails
//! the tests rather than skipping them: a silently skipped S3 suite would leave the S3 source untested.

use bytes::Bytes;
use fleetrun_agent::download::{DownloadError, Downloaded, Limits, NodeConfig, Request, Sink};
use fleetrun_agent::s3client::{Credentials, S3Client, S3Error};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "cargo install s3s-fs@0.14.1 --locked --features binary";
const ACCESS_KEY: &str = "AKIDFLEETRUNTEST";
const SECRET_KEY: &str = "fleetrun-test-secret";

/// A running `s3s-fs`, killed on drop.
struct S3sFs {
    child: Child,
    endpoint: String,
    // Held for its Drop: the server's data directory.
    _data: tempfile::TempDir,
}

impl S3sFs {
    fn start() -> S3sFs {
        let binary = find_s3s_fs();
        let data = tempfile::tempdir().expect("a temporary directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = S3sFs { child, endpoint: format!("http://127.0.0.1:{port}"), _data: data };
        server.wait_until_ready(port);
        server
    }

    fn wait_until_ready(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("s3s-fs exited at start ({status}); is port {port} taken?");
            }
            assert!(Instant::now() < deadline, "s3s-fs did not listen on port {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self) -> S3Client {
        self.client_with(Some(credentials()))
    }

    fn client_with(&self, credentials: Option<Credentials>) -> S3Client {
        S3Client::new(Some(&self.endpoint), "us-east-1", credentials).expect("a client")
    }

    fn config(&self, limits: Limits) -> NodeConfig {
        NodeConfig { s3_endpoint: Some(self.endpoint.clone()), limits, ..NodeConfig::default() }
    }

    /// A bucket holding `objects`.
    async fn bucket(&self, bucket: &str, objects: &[(&str, &[u8])]) {
        let client = self.client();
        client.create_bucket(bucket).await.unwrap_or_else(|e| panic!("creating {bucket}: {e}"));
        for (key, body) in objects {
            client.put_object(bucket, key, Bytes::copy_from_slice(body)).await.unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    /// Runs the `S3` source for `path` into a fresh destination.
    async fn download(&self, path: &str, limits: Limits, credentials: Option<Credentials>) -> Download {
        let destination = tempfile::tempdir().expect("a temporary directory");
        let config = self.config(limits);
        let source_info: Map<String, Value> = json!({ "path": path }).as_object().cloned().unwrap_or_default();
        let secrets = HashMap::new();
        let request = Request { source_info: &source_info, secrets: &secrets, config: &config };
        let mut sink = Sink::new(destination.path().join("dest"), limits).expect("a sink");
        let result = fleetrun_agent::download::s3::download_with(&request, &mut sink, credentials).await;
        Download { result, destination }
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Download {
    result: Result<Downloaded, DownloadError>,
    destination: tempfile::TempDir,
}

impl Download {
    #[track_caller]
    fn ok(&self) -> &Downloaded {
        match &self.result {
            Ok(downloaded) => downloaded,
            Err(error) => panic!("the download failed: {error}"),
        }
    }

    #[track_caller]
    fn error(&self) -> String {
        match &self.result {
            Ok(downloaded) => panic!("the download succeeded: {downloaded:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn dest(&self) -> PathBuf {
        self.destination.path().join("dest")
    }

    /// Every file under the destination, relative, sorted.
    fn tree(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("a readable directory").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    out.push(path.strip_prefix(root).expect("under root").to_string_lossy().into_owned());
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.dest(), &self.dest(), &mut files);
        files.sort();
        files
    }
}

fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn find_s3s_fs() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("s3s-fs")).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let in_cargo = cargo_home.map(|home| home.join("bin/s3s-fs"));
    on_path.into_iter().chain(in_cargo).find(|candidate| candidate.is_file()).unwrap_or_else(|| {
        panic!("s3s-fs is not installed (not on PATH nor in ~/.cargo/bin); install it with `{INSTALL}`")
    })
}

#[tokio::test]
async fn a_single_object_is_downloaded_under_its_base_name() {
    let s3 = S3sFs::start();
    let script = b"#!/bin/sh\necho hello from s3\n";
    s3.bucket("scripts-bkt", &[("tools/hello.sh", script)]).await;
    let etag = s3.client().put_object("scripts-bkt", "tools/hello.sh", Bytes::from_static(script)).await.unwrap().etag;
    assert!(etag.is_some());

    // The URL's host (AWS, another region) is not contacted: the node's endpoint is.
    for path in ["https://scripts-bkt.s3.eu-west-1.amazonaws.com/tools/hello.sh", "s3://scripts-bkt/tools/hello.sh"] {
        let download = s3.download(path, Limits::default(), Some(credentials())).await;
        let downloaded = download.ok();
        assert_eq!(downloaded.source_type, "S3");
        assert_eq!(downloaded.location, "s3://scripts-bkt/tools/hello.sh");
        assert_eq!(downloaded.revision, etag, "the revision is the ETag");
        assert_eq!(downloaded.files.len(), 1);
        assert_eq!(downloaded.files[0].path, "hello.sh");
        assert_eq!(downloaded.files[0].sha256, sha256(script));
        assert_eq!(downloaded.files[0].bytes, script.len() as u64);
        assert_eq!(std::fs::read(download.dest().join("hello.sh")).unwrap(), script);
    }
}

#[tokio::test]
async fn a_prefix_is_downloaded_as_a_directory_with_its_sub_paths() {
    let s3 = S3sFs::start();
    s3.bucket(
        "tree-bkt",
        &[
            ("app/run.sh", b"run"),
            ("app/lib/util.sh", b"util"),
            ("app/lib/deep/er/x.txt", b"x"),
            ("app/empty-file", b""),
            ("apple/not-included", b"no"),
            ("app.txt", b"no"),
        ],
    )
    .await;
    let download = s3.download("https://s3.amazonaws.com/tree-bkt/app", Limits::default(), Some(credentials())).await;
    let downloaded = download.ok();
    assert_eq!(downloaded.location, "s3://tree-bkt/app");
    assert_eq!(downloaded.revision, None, "a directory has no single revision");
    let mut paths: Vec<_> = downloaded.files.iter().map(|file| file.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["empty-file", "lib/deep/er/x.txt", "lib/util.sh", "run.sh"]);
    assert_eq!(download.tree(), paths);
    assert_eq!(std::fs::read(download.dest().join("lib/util.sh")).unwrap(), b"util");

    // A trailing slash and the whole bucket work too.
    let download = s3.download("s3://tree-bkt/app/lib/", Limits::default(), Some(credentials())).await;
    assert_eq!(download.tree(), ["deep/er/x.txt", "util.sh"]);
    let download = s3.download("s3://tree-bkt", Limits::default(), Some(credentials())).await;
    assert_eq!(download.ok().files.len(), 6);
}

#[tokio::test]
async fn a_key_that_is_a_prefix_of_other_keys_is_still_a_file() {
    // Only objects under `key/` make a directory; `data` is a prefix of `data.bak` and `database/…`, not a
    // directory. (A key that is both an object and a directory cannot be stored in s3s-fs, a file system; the
    // unit tests of download::s3 cover that rule.)
    let s3 = S3sFs::start();
    s3.bucket("prefix-bkt", &[("data", b"the file"), ("data.bak", b"old"), ("database/x", b"x")]).await;
    let download = s3.download("s3://prefix-bkt/data", Limits::default(), Some(credentials())).await;
    assert!(download.ok().revision.is_some());
    assert_eq!(download.tree(), ["data"]);
    assert_eq!(std::fs::read(download.dest().join("data")).unwrap(), b"the file");
}

#[tokio::test]
async fn keys_with_spaces_plus_signs_and_unicode_are_signed_and_decoded() {
    let s3 = S3sFs::start();
    s3.bucket("odd-bkt", &[("dir/a b+c é~(1).txt", b"odd")]).await;
    // SSM URL rules: `+` is a space, `%2B` is a plus.
    let path = "https://odd-bkt.s3.amazonaws.com/dir/a+b%2Bc+%C3%A9~(1).txt";
    let download = s3.download(path, Limits::default(), Some(credentials())).await;
    assert_eq!(download.ok().location, "s3://odd-bkt/dir/a b+c é~(1).txt");
    assert_eq!(download.tree(), ["a b+c é~(1).txt"]);

    let listed = s3.client().list_objects_v2("odd-bkt", "dir/a b+").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "dir/a b+c é~(1).txt");
    assert_eq!(listed[0].size, 3);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_reported_as_such() {
    let s3 = S3sFs::start();
    s3.bucket("auth-bkt", &[("secret.txt", b"s")]).await;

    let wrong = Credentials::new(ACCESS_KEY, "not-the-secret", None);
    let download = s3.download("s3://auth-bkt/secret.txt", Limits::default(), Some(wrong)).await;
    let error = download.error();
    assert!(error.contains("access to s3://auth-bkt/secret.txt was denied"), "{error}");
    assert!(error.contains("check the node's AWS credentials"), "{error}");
    assert!(!error.contains("not-the-secret"), "{error}");
    assert!(download.tree().is_empty());

    let unknown = Credentials::new("AKIDUNKNOWN", SECRET_KEY, None);
    let error = s3.download("s3://auth-bkt/secret.txt", Limits::default(), Some(unknown)).await.error();
    assert!(error.contains("check the node's AWS credentials"), "{error}");

    let error = s3.download("s3://auth-bkt/secret.txt", Limits::default(), None).await.error();
    assert!(error.contains("the node has no AWS credentials"), "{error}");
}

#[tokio::test]
async fn missing_keys_and_buckets_are_named() {
    let s3 = S3sFs::start();
    s3.bucket("here-bkt", &[("present.txt", b"p")]).await;

    let download = s3.download("s3://here-bkt/dir/missing.txt", Limits::default(), Some(credentials())).await;
    assert_eq!(download.error(), "s3://here-bkt/dir/missing.txt does not exist (NoSuchKey)");
    let error = s3.client().get_object("here-bkt", "nope").await.unwrap_err();
    assert!(matches!(error, S3Error::NoSuchKey { .. }), "{error:?}");

    let error = s3.download("s3://gone-bkt/x.txt", Limits::default(), Some(credentials())).await.error();
    assert!(error.contains("\"gone-bkt\" does not exist (NoSuchBucket)"), "{error}");

    let error = s3.download("s3://here-bkt/empty-dir/", Limits::default(), Some(credentials())).await.error();
    assert_eq!(error, "there are no objects under s3://here-bkt/empty-dir/");
}

#[tokio::test]
async fn limits_stop_the_download_and_name_the_object() {
    let s3 = S3sFs::start();
    s3.bucket("big-bkt", &[("big.bin", &[7; 64]), ("many/1", b"1"), ("many/2", b"2"), ("many/3", b"3")]).await;

    let small = Limits { max_bytes: 63, max_files: 10 };
    let download = s3.download("s3://big-bkt/big.bin", small, Some(credentials())).await;
    let error = download.error();
    assert!(error.starts_with("s3://big-bkt/big.bin: "), "{error}");
    assert!(error.contains("larger than 63 bytes"), "{error}");
    assert!(download.tree().is_empty(), "the partial file is removed");

    let few = Limits { max_bytes: 1 << 20, max_files: 2 };
    let error = s3.download("s3://big-bkt/many", few, Some(credentials())).await.error();
    assert!(error.starts_with("s3://big-bkt/many/3: "), "{error}");
    assert!(error.contains("more than 2 files"), "{error}");
}

#[tokio::test]
async fn keys_with_dot_segments_are_never_addressed() {
    // A URL parser would turn `dir/../x` into `x` and fetch another object, so the client refuses such keys;
    // a listing that holds one is refused by the sink before anything is written (see the unit tests of
    // download::s3).
    let s3 = S3sFs::start();
    s3.bucket("dots-bkt", &[("x", b"x")]).await;
    let error = s3.client().put_object("dots-bkt", "dir/../x", Bytes::from_static(b"evil")).await.unwrap_err();
    assert!(matches!(error, S3Error::Invalid(_)), "{error:?}");
    let error = s3.download("s3://dots-bkt/dir/../x", Limits::default(), Some(credentials())).await.error();
    assert!(error.contains("`.` or `..`") || error.contains("refusing"), "{error}");
}

#[tokio::test]
async fn large_objects_stream_and_listings_follow_continuation_tokens() {
    let s3 = S3sFs::start();
    let client = s3.client();
    client.create_bucket("pages-bkt").await.unwrap();

    let large: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let put = client.put_object("pages-bkt", "large.bin", Bytes::from(large.clone())).await.unwrap();
    let object = client.get_object("pages-bkt", "large.bin").await.unwrap();
    assert_eq!(object.etag, put.etag);
    assert_eq!(object.content_length, Some(large.len() as u64));
    let chunks: Vec<Bytes> = object.body.try_collect().await.unwrap();
    assert!(chunks.len() > 1, "the body arrives in several chunks");
    assert_eq!(chunks.concat(), large);

    // S3 returns at most 1,000 keys a page.
    let keys: Vec<String> = (0..1_005).map(|i| format!("many/{i:04}")).collect();
    futures::stream::iter(&keys)
        .map(|key| client.put_object("pages-bkt", key, Bytes::from_static(b"k")))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let listed = client.list_objects_v2("pages-bkt", "many/").await.unwrap();
    let listed: Vec<String> = listed.into_iter().map(|object| object.key).collect();
    assert_eq!(listed, keys);
}
