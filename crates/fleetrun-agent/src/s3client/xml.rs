//! The two S3 XML documents the client reads: an error (`<Error><Code>…`) and a `ListObjectsV2` page.
//!
//! A tiny reader over quick-xml events that tracks the element path; not a general XML binding.

use quick_xml::events::Event;

/// An S3 error body. Any member may be missing (some servers send an empty body).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
    /// The bucket's region, in `AuthorizationHeaderMalformed` and `PermanentRedirect` errors.
    pub(crate) region: Option<String>,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    /// Without the surrounding quotes.
    pub etag: Option<String>,
}

/// One page of a `ListObjectsV2` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ListPage {
    pub(crate) objects: Vec<ObjectSummary>,
    /// Set when the listing goes on.
    pub(crate) next_token: Option<String>,
    pub(crate) truncated: bool,
}

/// What [`walk`] reports, with the element path (the element itself last).
enum Node<'a> {
    /// The text of an element, entity and character references resolved.
    Text(&'a str),
    /// The element closes.
    End,
}

fn walk(body: &[u8], mut on: impl FnMut(&[String], Node<'_>)) -> Result<(), String> {
    let malformed = |e: &dyn std::fmt::Display| format!("malformed XML: {e}");
    let text = std::str::from_utf8(body).map_err(|_| "the XML is not UTF-8".to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    // Text of the innermost element, accumulated across text and reference events.
    let mut current = String::new();
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(start) => {
                path.push(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
                current.clear();
            }
            Event::Text(text) => current.push_str(&text.xml10_content().map_err(|e| malformed(&e))?),
            Event::CData(data) => current.push_str(&String::from_utf8_lossy(&data)),
            Event::GeneralRef(reference) => {
                let reference = format!("&{};", reference.decode().map_err(|e| malformed(&e))?);
                current.push_str(&quick_xml::escape::unescape(&reference).map_err(|e| malformed(&e))?);
            }
            Event::End(_) => {
                if !current.is_empty() {
                    on(&path, Node::Text(&current));
                    current.clear();
                }
                on(&path, Node::End);
                path.pop();
            }
            Event::Eof if path.is_empty() => return Ok(()),
            Event::Eof => return Err(format!("the XML ends inside <{}>", path.join("><"))),
            _ => {}
        }
    }
}

fn is(path: &[String], expected: &[&str]) -> bool {
    path.len() == expected.len() && path.iter().zip(expected).all(|(a, b)| a == b)
}

/// Reads an error body; anything unreadable gives an empty [`ErrorBody`].
pub(crate) fn parse_error(body: &[u8]) -> ErrorBody {
    let mut error = ErrorBody::default();
    let _ = walk(body, |path, node| {
        let Node::Text(text) = node else { return };
        let slot = match path {
            [root, member] if root == "Error" && member == "Code" => &mut error.code,
            [root, member] if root == "Error" && member == "Message" => &mut error.message,
            [root, member] if root == "Error" && member == "Region" => &mut error.region,
            _ => return,
        };
        *slot = Some(text.trim().to_string());
    });
    error
}

/// Reads one `ListBucketResult` page.
pub(crate) fn parse_list_page(body: &[u8]) -> Result<ListPage, String> {
    let mut page = ListPage::default();
    // The object being read: key, size, ETag.
    let mut object: (Option<String>, u64, Option<String>) = (None, 0, None);
    let mut bad_size = None;
    walk(body, |path, node| match node {
        Node::Text(text) => match path {
            [root, contents, member] if root == "ListBucketResult" && contents == "Contents" => match member.as_str() {
                "Key" => object.0 = Some(text.to_string()),
                "Size" => match text.trim().parse() {
                    Ok(size) => object.1 = size,
                    Err(_) => bad_size = Some(text.to_string()),
                },
                "ETag" => object.2 = Some(unquote(text.trim()).to_string()),
                _ => {}
            },
            _ if is(path, &["ListBucketResult", "IsTruncated"]) => page.truncated = text.trim() == "true",
            _ if is(path, &["ListBucketResult", "NextContinuationToken"]) => page.next_token = Some(text.to_string()),
            _ => {}
        },
        Node::End if is(path, &["ListBucketResult", "Contents"]) => {
            if let (Some(key), size, etag) = std::mem::take(&mut object) {
                page.objects.push(ObjectSummary { key, size, etag });
            }
        }
        Node::End => {}
    })?;
    if let Some(bad) = bad_size {
        return Err(format!("an object has an invalid Size {bad:?}"));
    }
    Ok(page)
}

/// An ETag without the quotes S3 puts around it.
pub(crate) fn unquote(etag: &str) -> &str {
    etag.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).unwrap_or(etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a &amp; b</Key>
<RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let error = parse_error(body);
        assert_eq!(error.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(error.message.as_deref(), Some("The specified key does not exist."));
        assert_eq!(error.region, None);

        let body = b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region &apos;us-east-1&apos; is \
                     wrong; expecting &#39;eu-west-1&#39;</Message><Region>eu-west-1</Region></Error>";
        let error = parse_error(body);
        assert_eq!(error.message.as_deref(), Some("the region 'us-east-1' is wrong; expecting 'eu-west-1'"));
        assert_eq!(error.region.as_deref(), Some("eu-west-1"));

        assert_eq!(parse_error(b""), ErrorBody::default());
        assert_eq!(parse_error(b"<html>502 Bad Gateway"), ErrorBody::default());
    }

    #[test]
    fn list_pages_are_read() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>dir/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>dir/</Key><Size>0</Size><ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag></Contents>
  <Contents><Key>dir/a &amp; b.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>
    <ETag>"5d41402abc4b2a76b9719d911017c592"</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>dir/sub/c</Key><Size>12</Size></Contents>
</ListBucketResult>"#;
        let page = parse_list_page(body).unwrap();
        assert!(page.truncated);
        assert_eq!(page.next_token.as_deref(), Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="));
        assert_eq!(
            page.objects,
            [
                ObjectSummary { key: "dir/".into(), size: 0, etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()) },
                ObjectSummary {
                    key: "dir/a & b.txt".into(),
                    size: 5,
                    etag: Some("5d41402abc4b2a76b9719d911017c592".into())
                },
                ObjectSummary { key: "dir/sub/c".into(), size: 12, etag: None },
            ]
        );

        let empty = parse_list_page(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").unwrap();
        assert_eq!(empty, ListPage::default());
        assert!(parse_list_page(b"<ListBucketResult><Contents><Key>k</Key><Size>x</Size></Contents>").is_err());
        assert!(parse_list_page(b"<ListBucketResult><Contents></ListBucketResult>").is_err());
    }
}
