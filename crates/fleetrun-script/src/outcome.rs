//! Reads the wrapper's result file and applies SSM's limits to the handler's return value.
//!
//! The result file is the only channel from the wrapper back to us: the handler's stdout and stderr
//! are its log and never parsed, so nothing a handler prints can pose as its result. This module
//! does not decide statuses for timeouts or cancellations; `lib.rs` does.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// Largest `Payload` aws:executeScript accepts, in bytes of compact JSON.
pub const MAX_PAYLOAD_BYTES: usize = 102_400;
/// A top-level list in `Payload` keeps this many items; the rest are dropped, as SSM does.
pub const MAX_PAYLOAD_ITEMS: usize = 100;
/// A result file larger than this is not read at all. Far above [`MAX_PAYLOAD_BYTES`] so that a
/// long list that truncation would bring under the limit is still read.
const MAX_RESULT_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// What the wrapper wrote.
#[derive(Debug, Deserialize)]
struct ResultFile {
    ok: bool,
    #[serde(default)]
    payload: Value,
    error: Option<String>,
    /// The interpreter's own version; only the PowerShell wrapper reports it.
    version: Option<String>,
}

/// How the handler finished, according to the result file.
#[derive(Debug)]
pub(crate) struct HandlerResult {
    /// The return value after truncation, or why it failed.
    pub(crate) payload: Result<Value, String>,
    pub(crate) version: Option<String>,
}

/// Reads the result file: `Ok(None)` if the wrapper did not write one (the process died before the
/// handler returned), `Err` if it is unreadable or malformed.
pub(crate) fn read(path: &Path) -> Result<Option<HandlerResult>, String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    let size = file.metadata().map_err(|error| error.to_string())?.len();
    if size > MAX_RESULT_FILE_BYTES {
        let payload = Err(format!(
            "the handler's return value is more than {MAX_RESULT_FILE_BYTES} bytes of JSON; aws:executeScript \
             allows at most {MAX_PAYLOAD_BYTES}"
        ));
        return Ok(Some(HandlerResult { payload, version: None }));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|error| error.to_string())?;
    let result: ResultFile = serde_json::from_slice(&bytes).map_err(|error| error.to_string())?;
    let payload = if result.ok {
        limit(result.payload)
    } else {
        Err(result.error.unwrap_or_else(|| "the handler failed without an error message".to_owned()))
    };
    Ok(Some(HandlerResult { payload, version: result.version }))
}

/// SSM's rules for `Payload`: a top-level list keeps its first [`MAX_PAYLOAD_ITEMS`] items, then
/// the compact JSON must fit in [`MAX_PAYLOAD_BYTES`].
pub(crate) fn limit(mut payload: Value) -> Result<Value, String> {
    if let Value::Array(items) = &mut payload {
        items.truncate(MAX_PAYLOAD_ITEMS);
    }
    let size = serde_json::to_vec(&payload).map_or(usize::MAX, |json| json.len());
    if size > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "the handler's return value is {size} bytes of JSON; aws:executeScript allows at most {MAX_PAYLOAD_BYTES}"
        ));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn top_level_lists_keep_their_first_hundred_items() {
        let long: Vec<u32> = (0..150).collect();
        assert_eq!(limit(json!(long)), Ok(json!((0..100).collect::<Vec<u32>>())));
        // Only the top level: nested lists are the handler's business.
        let nested = json!({ "items": long });
        assert_eq!(limit(nested.clone()), Ok(nested));
    }

    #[test]
    fn payload_size_is_limited_after_truncation() {
        // A string of n characters is n + 2 bytes of JSON.
        assert_eq!(limit(json!("x".repeat(MAX_PAYLOAD_BYTES - 2))).map(|_| ()), Ok(()));
        assert_eq!(
            limit(json!("x".repeat(MAX_PAYLOAD_BYTES - 1))),
            Err("the handler's return value is 102401 bytes of JSON; aws:executeScript allows at most 102400".into())
        );
        let wide: Vec<String> = (0..150).map(|_| "y".repeat(1000)).collect();
        assert!(limit(json!(wide)).is_ok(), "100 items of 1002 bytes fit once the list is truncated");
    }

    #[test]
    fn reads_the_wrapper_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        assert!(read(&path).unwrap().is_none());
        std::fs::write(&path, r#"{"ok":true,"payload":null}"#).unwrap();
        assert_eq!(read(&path).unwrap().unwrap().payload, Ok(Value::Null));
        std::fs::write(&path, r#"{"ok":false,"error":"Traceback","version":"7.4.0"}"#).unwrap();
        let result = read(&path).unwrap().unwrap();
        assert_eq!((result.payload, result.version.as_deref()), (Err("Traceback".into()), Some("7.4.0")));
        std::fs::write(&path, r#"{"ok":tr"#).unwrap();
        assert!(read(&path).is_err());
    }
}
