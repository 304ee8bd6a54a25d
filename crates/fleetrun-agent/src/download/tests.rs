use super::*;
use bytes::Bytes;

fn sink(dir: &std::path::Path) -> Sink {
    Sink::new(dir.join("dest"), Limits { max_bytes: 100, max_files: 3 }).unwrap()
}

#[tokio::test]
async fn files_land_inside_with_mode_0700_and_a_hash() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path());
    sink.write_bytes("a/b/c.txt", Bytes::from_static(b"hello")).await.unwrap();
    let path = tmp.path().join("dest/a/b/c.txt");
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o700);
    let files = sink.finish();
    assert_eq!(files[0].path, "a/b/c.txt");
    assert_eq!(files[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_eq!(files[0].bytes, 5);
}

#[tokio::test]
async fn paths_that_leave_the_destination_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path());
    for bad in ["../x", "a/../../x", "/etc/passwd", "", ".", "a\0b"] {
        let error = sink.write_bytes(bad, Bytes::from_static(b"x")).await.unwrap_err();
        assert!(matches!(error, DownloadError::Refused(_)), "{bad:?}: {error}");
    }
    std::os::unix::fs::symlink(tmp.path(), tmp.path().join("dest/out")).unwrap();
    let error = sink.write_bytes("out/x", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(error.to_string().contains("symlink"), "{error}");
    assert!(!tmp.path().join("x").exists());
}

#[tokio::test]
async fn limits_stop_the_download_and_remove_the_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = sink(tmp.path());
    let big = Bytes::from(vec![b'x'; 101]);
    let error = sink.write_bytes("big", big).await.unwrap_err();
    assert!(error.to_string().contains("larger than 100 bytes"), "{error}");
    assert!(!tmp.path().join("dest/big").exists());
    for name in ["1", "2", "3"] {
        sink.write_bytes(name, Bytes::from_static(b"x")).await.unwrap();
    }
    let error = sink.write_bytes("4", Bytes::from_static(b"x")).await.unwrap_err();
    assert!(error.to_string().contains("more than 3 files"), "{error}");
}

#[test]
fn node_config_reads_the_sdk_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let config = NodeConfig::from_lookup(vars(&[
        ("AWS_ENDPOINT_URL", "http://general"),
        ("AWS_ENDPOINT_URL_S3", "http://s3-only"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("FLEETRUN_GITHUB_API_URL", "https://ghe.example/api/v3/"),
    ]));
    assert_eq!(config.s3_endpoint.as_deref(), Some("http://s3-only"));
    assert_eq!(config.region, "eu-west-1");
    assert_eq!(config.github_api, "https://ghe.example/api/v3");
    let config = NodeConfig::from_lookup(vars(&[("AWS_ENDPOINT_URL", "http://general")]));
    assert_eq!(config.s3_endpoint.as_deref(), Some("http://general"));
    assert_eq!(config.github_api, "https://api.github.com");
}

#[test]
fn destination_follows_ssm() {
    let downloads = std::path::Path::new("/var/orch/cmd/downloads");
    assert_eq!(destination("", downloads), downloads);
    assert_eq!(destination("sub", downloads), downloads.join("sub"));
    assert_eq!(destination("/opt/x", downloads), std::path::Path::new("/opt/x"));
}
