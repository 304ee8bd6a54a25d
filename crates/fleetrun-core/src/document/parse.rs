//! Turning document content into a validated [`Document`]: the top level, the schema version and
//! the steps (`runtimeConfig` for schema 1.2, `mainSteps` otherwise).
//!
//! Parameter declarations are read by `decl.rs`; loading the raw JSON or YAML is `tree.rs`.
//! Unknown top-level and step keys are tolerated, because real documents carry keys fleetrun does
//! not act on yet (`outputs`, `files`, `assumeRole`, `onFailure`, ...).

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::decl::parse_declarations;
use super::tree::{self, Node};
use super::{Document, DocumentError, DocumentFormat, DocumentKind, Precondition, StepDecl};

static STEP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_\-.]{1,128}$").expect("valid regex"));
static ACTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^aws:[a-zA-Z]{3,25}$").expect("valid regex"));

/// Parses and validates `content` as a document of `kind`.
///
/// Fails on content over [`MAX_DOCUMENT_BYTES`](super::MAX_DOCUMENT_BYTES), on syntax errors,
/// on a schema version `kind` does not allow, and on any malformed step or parameter declaration.
pub fn parse_document(content: &str, format: DocumentFormat, kind: DocumentKind) -> Result<Document, DocumentError> {
    let root = tree::load(content, format)?;
    if !matches!(root, Node::Map(_)) {
        return Err(DocumentError::NotAMapping);
    }
    let top = Fields::top(&root);
    let schema_version = schema_version(&top)?;
    let supported = match kind {
        DocumentKind::Command => "1.2, 2.0, 2.2",
        DocumentKind::Automation => "0.3",
    };
    if !supported.split(", ").any(|v| v == schema_version) {
        return Err(DocumentError::InvalidSchemaVersion { version: schema_version, kind: kind.as_str(), supported });
    }
    let description = top.opt_str("description")?.unwrap_or_default().to_owned();
    let parameters = match top.opt("parameters") {
        Some(parameters) => parse_declarations(&top.child(parameters, "parameters")?)?,
        None => Vec::new(),
    };
    let steps = if schema_version == "1.2" { runtime_config_steps(&top)? } else { main_steps(&top, &schema_version)? };
    Ok(Document { schema_version, description, parameters, steps })
}

/// `schemaVersion` as text. YAML and JSON authors sometimes write it as a number (`2.2`); that is
/// tolerated and converted, since a number's text form is the same as the intended string.
fn schema_version(top: &Fields<'_>) -> Result<String, DocumentError> {
    match top.req("schemaVersion")? {
        Node::String(text) => Ok(text.clone()),
        Node::Number(number) => Ok(number.to_string()),
        _ => Err(top.wrong_type("schemaVersion", "a string such as \"2.2\"")),
    }
}

/// Schema 1.2: every property of every `runtimeConfig` plugin, in document order.
fn runtime_config_steps(top: &Fields<'_>) -> Result<Vec<StepDecl>, DocumentError> {
    let plugins = top.child(top.req("runtimeConfig")?, "runtimeConfig")?;
    let mut steps = Vec::new();
    for (action, plugin) in plugins.entries() {
        // The key is checked first because it becomes part of the paths in later messages.
        check_action(action, action)?;
        let plugin = plugins.child(plugin, action)?;
        let properties = match plugin.req("properties")? {
            Node::List(items) => items.iter().collect(),
            object @ Node::Map(_) => vec![object],
            _ => return Err(plugin.wrong_type("properties", "a mapping or a list of mappings")),
        };
        for (index, property) in properties.into_iter().enumerate() {
            let property = plugin.child(property, &format!("properties[{index}]"))?;
            let name = match property.opt_str("id")? {
                Some(id) => id.to_owned(),
                None => format!("{index}.{action}"),
            };
            steps.push(StepDecl {
                name,
                action: action.to_owned(),
                inputs: property.node.to_json(),
                precondition: None,
            });
        }
    }
    check_unique_names(&steps)?;
    if steps.is_empty() {
        return Err(DocumentError::NoSteps { field: "runtimeConfig".to_owned() });
    }
    Ok(steps)
}

/// Schema 2.x and 0.3: the `mainSteps` list.
fn main_steps(top: &Fields<'_>, schema_version: &str) -> Result<Vec<StepDecl>, DocumentError> {
    let Node::List(items) = top.req("mainSteps")? else {
        return Err(top.wrong_type("mainSteps", "a list of steps"));
    };
    if items.is_empty() {
        return Err(DocumentError::NoSteps { field: "mainSteps".to_owned() });
    }
    let mut steps = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let step = top.child(item, &format!("mainSteps[{index}]"))?;
        let name = step.req_str("name")?;
        if !STEP_NAME.is_match(name) {
            return Err(DocumentError::InvalidStepName { name: name.to_owned() });
        }
        let action = step.req_str("action")?;
        check_action(name, action)?;
        let inputs = step.child(step.req("inputs")?, "inputs")?.node.to_json();
        let precondition = match (step.opt("precondition"), schema_version) {
            (None, _) => None,
            (Some(node), "2.2") => Some(precondition(name, node)?),
            // Automation preconditions are a later issue; schema 0.3 steps are not run yet.
            (Some(_), "0.3") => None,
            (Some(_), _) => {
                return Err(DocumentError::PreconditionNotSupported {
                    step: name.to_owned(),
                    schema_version: schema_version.to_owned(),
                });
            }
        };
        steps.push(StepDecl { name: name.to_owned(), action: action.to_owned(), inputs, precondition });
    }
    check_unique_names(&steps)?;
    Ok(steps)
}

fn check_action(step: &str, action: &str) -> Result<(), DocumentError> {
    if ACTION.is_match(action) {
        Ok(())
    } else {
        Err(DocumentError::InvalidAction { step: step.to_owned(), action: action.to_owned() })
    }
}

fn check_unique_names(steps: &[StepDecl]) -> Result<(), DocumentError> {
    let mut seen = HashSet::new();
    match steps.iter().find(|step| !seen.insert(step.name.as_str())) {
        Some(step) => Err(DocumentError::DuplicateStepName { name: step.name.clone() }),
        None => Ok(()),
    }
}

/// `precondition: {StringEquals: [a, b]}`, the only form schema 2.2 has.
fn precondition(step: &str, node: &Node) -> Result<Precondition, DocumentError> {
    let invalid = |reason| DocumentError::InvalidPrecondition { step: step.to_owned(), reason };
    let Node::Map(entries) = node else {
        return Err(invalid("it must be a mapping with the single key StringEquals"));
    };
    let [(key, operands)] = entries.as_slice() else {
        return Err(invalid("it must be a mapping with the single key StringEquals"));
    };
    if key != "StringEquals" {
        return Err(invalid("only StringEquals is supported"));
    }
    match operands {
        Node::List(items) => match items.as_slice() {
            [Node::String(a), Node::String(b)] => Ok(Precondition { string_equals: (a.clone(), b.clone()) }),
            _ => Err(invalid("StringEquals takes a list of exactly two strings")),
        },
        _ => Err(invalid("StringEquals takes a list of exactly two strings")),
    }
}

/// A mapping within the document together with its path (`mainSteps[0].inputs`), so that
/// errors can say where they are.
pub(super) struct Fields<'a> {
    pub(super) node: &'a Node,
    path: String,
}

impl<'a> Fields<'a> {
    fn top(node: &'a Node) -> Self {
        Fields { node, path: String::new() }
    }

    /// The path of `key` within this mapping.
    pub(super) fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
    }

    /// `node` (found under `key` in this mapping) as a mapping of its own.
    pub(super) fn child(&self, node: &'a Node, key: &str) -> Result<Fields<'a>, DocumentError> {
        match node {
            Node::Map(_) => Ok(Fields { node, path: self.path_of(key) }),
            _ => Err(self.wrong_type(key, "a mapping")),
        }
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Node)> {
        let entries = match self.node {
            Node::Map(entries) => entries.as_slice(),
            _ => &[],
        };
        entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value under `key`; a YAML `key:` with nothing after it counts as absent.
    pub(super) fn opt(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key).filter(|node| **node != Node::Null)
    }

    pub(super) fn req(&self, key: &str) -> Result<&'a Node, DocumentError> {
        self.opt(key).ok_or_else(|| DocumentError::MissingField { field: self.path_of(key) })
    }

    pub(super) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, DocumentError> {
        match self.opt(key) {
            None => Ok(None),
            Some(Node::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    pub(super) fn req_str(&self, key: &str) -> Result<&'a str, DocumentError> {
        self.opt_str(key)?.ok_or_else(|| DocumentError::MissingField { field: self.path_of(key) })
    }

    pub(super) fn wrong_type(&self, key: &str, expected: &'static str) -> DocumentError {
        DocumentError::WrongFieldType { field: self.path_of(key), expected }
    }
}
