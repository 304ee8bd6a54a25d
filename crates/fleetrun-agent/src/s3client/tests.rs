//! Unit tests of the S3 client: addressing, signing and error mapping, with no server (the integration tests in
//! `tests/s3.rs` run against s3s-fs).

use super::*;
use std::sync::{Arc, Mutex};

fn call<'a>(method: Method, bucket: &'a str, key: Option<&'a str>) -> Call<'a> {
    Call { method, bucket, key, query: Vec::new(), body: None }
}

fn client(endpoint: Option<&str>, credentials: Option<Credentials>) -> S3Client {
    S3Client::new(endpoint, "us-east-1", credentials).unwrap()
}

#[test]
fn requests_are_path_style_on_every_endpoint() {
    let custom = client(Some("http://127.0.0.1:9000/"), None);
    let url = custom.url(&call(Method::GET, "bkt", Some("dir/a b+c%.txt")), "us-east-1").unwrap();
    assert_eq!(url.as_str(), "http://127.0.0.1:9000/bkt/dir/a%20b%2Bc%25.txt");

    let aws = client(None, None);
    let url = aws.url(&call(Method::GET, "RubyTest", Some("x")), "eu-west-1").unwrap();
    assert_eq!(url.as_str(), "https://s3.eu-west-1.amazonaws.com/RubyTest/x");
    let url = aws.url(&call(Method::GET, "b.with.dots", Some("x")), "cn-north-1").unwrap();
    assert_eq!(url.as_str(), "https://s3.cn-north-1.amazonaws.com.cn/b.with.dots/x");

    let mut list = call(Method::GET, "bkt", None);
    list.query = vec![("list-type", "2".into()), ("prefix", encode("a b/", false))];
    let url = custom.url(&list, "us-east-1").unwrap();
    assert_eq!(url.as_str(), "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%20b%2F");
}

#[test]
fn keys_a_url_would_rewrite_are_refused() {
    let custom = client(Some("http://127.0.0.1:9000"), None);
    for key in ["a/../b", "..", "./a", "a/.", ""] {
        let error = custom.url(&call(Method::GET, "bkt", Some(key)), "us-east-1").unwrap_err();
        assert!(matches!(error, S3Error::Invalid(_)), "{key:?}: {error}");
    }
    // Dots inside a segment are ordinary characters.
    let url = custom.url(&call(Method::GET, "bkt", Some("a..b/.c/d.")), "us-east-1").unwrap();
    assert_eq!(url.path(), "/bkt/a..b/.c/d.");
    assert!(custom.url(&call(Method::GET, "", Some("k")), "us-east-1").is_err());
}

#[test]
fn bad_endpoints_are_refused() {
    for endpoint in ["not a url", "ftp://host", "unix:/x"] {
        assert!(matches!(S3Client::new(Some(endpoint), "us-east-1", None), Err(S3Error::Invalid(_))), "{endpoint}");
    }
}

fn header<'a>(request: &'a reqwest::Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).map(|value| value.to_str().unwrap())
}

#[test]
fn gets_sign_an_unsigned_payload_and_puts_the_body_hash() {
    let credentials = Credentials::new("AKIDTEST", "secret", Some("session"));
    let signed = client(Some("http://127.0.0.1:9000"), Some(credentials));

    let get = signed.build(&call(Method::GET, "bkt", Some("k")), "eu-west-1").unwrap();
    assert_eq!(header(&get, "x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
    let authorization = header(&get, "authorization").unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"), "{authorization}");
    assert!(authorization.contains("/eu-west-1/s3/aws4_request"), "{authorization}");
    assert!(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"));
    assert!(get.headers()["x-amz-security-token"].is_sensitive());

    let mut put = call(Method::PUT, "bkt", Some("k"));
    put.body = Some(Bytes::from_static(b"hello"));
    let put = signed.build(&put, "us-east-1").unwrap();
    assert_eq!(
        header(&put, "x-amz-content-sha256"),
        Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );

    let anonymous = client(Some("http://127.0.0.1:9000"), None);
    let get = anonymous.build(&call(Method::GET, "bkt", Some("k")), "us-east-1").unwrap();
    assert!(get.headers().is_empty());
}

#[test]
fn debug_output_holds_no_secret() {
    let signed = client(None, Some(Credentials::new("AKIDTEST", "very-secret", Some("session-secret"))));
    let text = format!("{signed:?}");
    assert!(!text.contains("very-secret") && !text.contains("session-secret") && !text.contains("AKIDTEST"), "{text}");
}

fn error(status: u16, body: &str, key: Option<&str>, anonymous: bool) -> S3Error {
    let status = StatusCode::from_u16(status).unwrap();
    map_error(status, &xml::parse_error(body.as_bytes()), &call(Method::GET, "bkt", key), anonymous)
}

fn xml_error(code: &str) -> String {
    format!("<Error><Code>{code}</Code><Message>message for {code}</Message></Error>")
}

#[test]
fn error_answers_become_clear_errors() {
    let e = error(404, &xml_error("NoSuchKey"), Some("dir/f.txt"), false);
    assert!(matches!(e, S3Error::NoSuchKey { .. }), "{e:?}");
    assert_eq!(e.to_string(), "s3://bkt/dir/f.txt does not exist (NoSuchKey)");

    let e = error(404, &xml_error("NoSuchBucket"), Some("k"), false);
    assert_eq!(e.to_string(), "the S3 bucket \"bkt\" does not exist (NoSuchBucket)");

    for code in ["AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken"] {
        let e = error(403, &xml_error(code), Some("k"), false);
        assert!(matches!(e, S3Error::AccessDenied { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains(code) && text.contains("check the node's AWS credentials"), "{text}");
        assert!(text.contains("s3://bkt/k"), "{text}");
    }
    let e = error(403, &xml_error("AccessDenied"), Some("k"), true);
    assert!(e.to_string().contains("the node has no AWS credentials"), "{e}");

    let e = error(503, &xml_error("SlowDown"), Some("k"), false);
    assert_eq!(e.to_string(), "S3 answered HTTP 503 for s3://bkt/k (SlowDown: message for SlowDown)");

    // No body (HEAD, a proxy): the status names the condition.
    assert!(matches!(error(404, "", Some("k"), false), S3Error::NoSuchKey { .. }));
    assert!(matches!(error(403, "", Some("k"), false), S3Error::AccessDenied { .. }));
    let e = error(502, "<html>bad gateway</html>", None, false);
    assert_eq!(e.to_string(), "S3 answered HTTP 502 for s3://bkt/ (BadGateway: no message)");
}

#[test]
fn region_errors_are_recognized() {
    assert!(is_region_error(StatusCode::BAD_REQUEST, Some("AuthorizationHeaderMalformed")));
    assert!(is_region_error(StatusCode::MOVED_PERMANENTLY, None));
    assert!(!is_region_error(StatusCode::FORBIDDEN, Some("AccessDenied")));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let unreachable = client(Some(&endpoint), None);
    let error = unreachable.get_object("bkt", "k").await.unwrap_err();
    assert!(matches!(error, S3Error::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with(&format!("could not reach the S3 endpoint {endpoint}: ")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

/// A server that answers each request with the next of `answers` (status line, extra headers, body) and
/// records the requests' head lines (lowercased).
async fn scripted_server(
    answers: Vec<(&'static str, &'static str, &'static str)>,
) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        for (status, headers, body) in answers {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let mut buffer = vec![0; 8192];
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            record.lock().unwrap().push(String::from_utf8_lossy(&buffer[..n]).to_ascii_lowercase());
            let response = format!(
                "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (endpoint, seen)
}

#[tokio::test]
async fn a_bucket_in_another_region_is_followed_once_and_remembered() {
    let wrong_region = "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is wrong; \
                        expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>";
    let (endpoint, seen) = scripted_server(vec![
        ("400 Bad Request", "", wrong_region),
        ("200 OK", "etag: \"abc\"\r\n", "body"),
        ("200 OK", "", "again"),
    ])
    .await;
    let signed = client(Some(&endpoint), Some(Credentials::new("AKIDTEST", "secret", None)));
    let object = signed.get_object("bkt", "k").await.unwrap();
    assert_eq!(object.etag.as_deref(), Some("abc"));
    signed.get_object("bkt", "k").await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen[0].contains("/us-east-1/s3/aws4_request"), "{}", seen[0]);
    assert!(seen[1].contains("/eu-west-1/s3/aws4_request"), "{}", seen[1]);
    assert!(seen[2].contains("/eu-west-1/s3/aws4_request"), "the region is remembered: {}", seen[2]);
}

#[tokio::test]
async fn a_region_error_is_not_followed_twice() {
    let moved = "<Error><Code>PermanentRedirect</Code><Message>go elsewhere</Message></Error>";
    let (endpoint, _) = scripted_server(vec![
        ("301 Moved Permanently", "x-amz-bucket-region: eu-west-1\r\n", moved),
        ("301 Moved Permanently", "x-amz-bucket-region: eu-west-2\r\n", moved),
    ])
    .await;
    let signed = client(Some(&endpoint), Some(Credentials::new("AKIDTEST", "secret", None)));
    let error = signed.get_object("bkt", "k").await.unwrap_err();
    assert_eq!(error.to_string(), "S3 answered HTTP 301 for s3://bkt/k (PermanentRedirect: go elsewhere)");
}
