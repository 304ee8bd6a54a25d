//! Loading document content (JSON or YAML) into an ordered value tree, and writing it back out.
//!
//! Why not `serde_json::Value`: without serde_json's `preserve_order` feature (which would change
//! key order for every crate in the workspace) its objects are sorted, and a document's parameters
//! and 1.2 plugins must keep the order the author wrote. The tree also enforces two rules while it
//! is built: a mapping may not repeat a key, and the whole tree may not grow past a budget, so a
//! YAML "billion laughs" alias bomb fails fast instead of expanding in memory.
//!
//! This file knows nothing about what a document means; `parse.rs` does that.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{DocumentError, DocumentFormat, MAX_DOCUMENT_BYTES};

/// How much a loaded tree may cost: one unit per value or key plus one per byte of text.
///
/// Content of at most [`MAX_DOCUMENT_BYTES`] without aliases needs at most a byte per value and a
/// byte per character, so four times the size limit is generous for honest documents and still
/// small (a few megabytes) for a hostile one.
pub(crate) const TREE_BUDGET: usize = 4 * MAX_DOCUMENT_BYTES;

/// A JSON-like value whose mappings keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    List(Vec<Node>),
    // Invariant: keys are unique (checked while loading).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` if this is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of this value's kind, for error messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    /// The same value as `serde_json::Value` (mapping order is then up to serde_json).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Null => serde_json::Value::Null,
            Node::Bool(b) => serde_json::Value::Bool(*b),
            Node::Number(n) => serde_json::Value::Number(n.clone()),
            Node::String(s) => serde_json::Value::String(s.clone()),
            Node::List(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Loads `content` in `format`, enforcing the size limit, unique keys and the tree budget.
pub(crate) fn load(content: &str, format: DocumentFormat) -> Result<Node, DocumentError> {
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge { size: content.len(), max: MAX_DOCUMENT_BYTES });
    }
    let mut budget = Budget { remaining: TREE_BUDGET, refusal: None };
    let loaded = match format {
        DocumentFormat::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(content);
            NodeSeed { budget: &mut budget }
                .deserialize(&mut deserializer)
                .and_then(|node| deserializer.end().map(|()| node))
                .map_err(DocumentError::InvalidJson)
        }
        DocumentFormat::Yaml => NodeSeed { budget: &mut budget }
            .deserialize(yaml_serde::Deserializer::from_str(content))
            .map_err(DocumentError::InvalidYaml),
    };
    // A refusal of our own travels through serde as a custom error; report it as itself.
    match budget.refusal {
        Some(refusal) => Err(refusal),
        None => loaded,
    }
}

/// Writes `node` in `format`: JSON pretty-printed with a four-space indent (the way SSM shows
/// its own documents), YAML as yaml_serde writes it.
pub(crate) fn write(node: &Node, format: DocumentFormat) -> Result<String, DocumentError> {
    let failed = |reason: String| DocumentError::ConversionFailed { format: format.as_str(), reason };
    match format {
        DocumentFormat::Json => {
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            node.serialize(&mut serializer).map_err(|e| failed(e.to_string()))?;
            String::from_utf8(out).map_err(|e| failed(e.to_string()))
        }
        DocumentFormat::Yaml => yaml_serde::to_string(node).map_err(|e| failed(e.to_string())),
    }
}

/// What is left of [`TREE_BUDGET`], and the error that stopped loading, if we stopped it.
struct Budget {
    remaining: usize,
    refusal: Option<DocumentError>,
}

impl Budget {
    fn spend<E: de::Error>(&mut self, units: usize) -> Result<(), E> {
        match self.remaining.checked_sub(units) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => Err(self.refuse(DocumentError::TooComplex { limit: TREE_BUDGET })),
        }
    }

    fn refuse<E: de::Error>(&mut self, error: DocumentError) -> E {
        let message = error.to_string();
        self.refusal.get_or_insert(error);
        E::custom(message)
    }
}

struct NodeSeed<'a> {
    budget: &'a mut Budget,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-compatible value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        self.budget.spend(1)?;
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        self.budget.spend(1)?;
        Ok(Node::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        self.budget.spend(1)?;
        Ok(Node::Number(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        self.budget.spend(1)?;
        Ok(Node::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        self.budget.spend(1)?;
        serde_json::Number::from_f64(value)
            .map(Node::Number)
            .ok_or_else(|| E::custom("numbers must be finite (no .nan or .inf)"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        self.budget.spend(1 + value.len())?;
        Ok(Node::String(value.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        self.budget.spend(1)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed { budget: &mut *self.budget })? {
            items.push(item);
        }
        Ok(Node::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        self.budget.spend(1)?;
        let mut entries = Vec::new();
        // A set beside the entry list keeps the duplicate check linear in the mapping's size.
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key_seed(NodeSeed { budget: &mut *self.budget })? {
            let key = match key {
                Node::String(s) => s,
                Node::Number(n) => n.to_string(),
                Node::Bool(b) => b.to_string(),
                other => {
                    let found = other.kind_name();
                    return Err(self.budget.refuse(DocumentError::InvalidKey { found }));
                }
            };
            if !seen.insert(key.clone()) {
                return Err(self.budget.refuse(DocumentError::DuplicateKey { key }));
            }
            let value = map.next_value_seed(NodeSeed { budget: &mut *self.budget })?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
            Node::String(s) => serializer.serialize_str(s),
            Node::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}
