//! SSM documents: parsing and validating their content, checking the parameters a caller supplies,
//! and interpolating those parameters into the steps an agent will run.
//!
//! Everything here is pure: content goes in as `&str`, typed values come out. Storing documents,
//! versioning them, resolving `{{ssm:...}}` references against Parameter Store and running the
//! steps all happen elsewhere. The rules follow SSM's (see `SSM-REFERENCE.md` §2.4 and §3); where
//! fleetrun is stricter than SSM, the item says so.
//!
//! The flow for a command is [`parse_document`] → [`resolve_parameters`] → [`render_steps`], and
//! for script steps [`ScriptInputs::from_inputs`] → [`script_text`].

mod builtin;
mod decl;
mod error;
mod params;
mod parse;
mod render;
mod tree;

#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use builtin::{BuiltinDocument, builtin_document, builtin_documents};
pub use decl::{ParamDecl, ParamType};
pub use error::{DocumentError, ParameterError, RenderError};
pub use params::{ParamValue, ResolvedParameters, resolve_parameters};
pub use parse::parse_document;
pub use render::{RenderedStep, ScriptInputs, render_steps, script_text};

/// The largest document content accepted, in bytes (SSM's limit for CreateDocument).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The syntax a document's content is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    Json,
    Yaml,
}

impl DocumentFormat {
    /// Parses SSM's spelling, which is case-sensitive: `"JSON"` or `"YAML"`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "JSON" => Some(Self::Json),
            "YAML" => Some(Self::Yaml),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::Yaml => "YAML",
        }
    }
}

/// What a document is for, which decides the schema versions it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Run Command documents: schema 1.2, 2.0 or 2.2.
    Command,
    /// Automation runbooks: schema 0.3.
    Automation,
}

impl DocumentKind {
    /// Parses SSM's `DocumentType` spelling (case-sensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Command" => Some(Self::Command),
            "Automation" => Some(Self::Automation),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "Command",
            Self::Automation => "Automation",
        }
    }
}

/// A parsed, validated document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `"1.2"`, `"2.0"` or `"2.2"` for Command documents, `"0.3"` for Automation.
    pub schema_version: String,
    /// Empty when the document has none.
    pub description: String,
    /// In declaration order.
    pub parameters: Vec<ParamDecl>,
    /// Schema 1.2: one per `runtimeConfig` plugin property, plugins in document order.
    /// Schema 2.x and 0.3: `mainSteps` in order. Never empty.
    pub steps: Vec<StepDecl>,
}

impl Document {
    /// The declaration of parameter `name`, if the document has one.
    pub fn parameter(&self, name: &str) -> Option<&ParamDecl> {
        self.parameters.iter().find(|decl| decl.name == name)
    }
}

/// One step as the document declares it, before interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDecl {
    /// Schema 2.x/0.3: `mainSteps[].name`. Schema 1.2: the property's `id`, or
    /// `"<index>.<action>"` (e.g. `"0.aws:runShellScript"`) when it has none.
    pub name: String,
    /// The plugin, e.g. `"aws:runShellScript"` (schema 1.2: the `runtimeConfig` key).
    pub action: String,
    /// Raw and un-interpolated (schema 1.2: the whole property object).
    pub inputs: serde_json::Value,
    /// Schema 2.2 only.
    pub precondition: Option<Precondition>,
}

/// A step's condition for running; schema 2.2 supports only `StringEquals: [a, b]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precondition {
    pub string_equals: (String, String),
}

/// SSM's `Hash`/`DocumentHash`: the lower-case hex SHA-256 of the content's UTF-8 bytes.
pub fn document_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Name prefixes reserved for documents owned by AWS, matched case-insensitively. The longer
/// ones already start with "aws"; they are listed because SSM lists them.
const RESERVED_NAME_PREFIXES: [&str; 6] = ["aws", "amazon", "amzn", "AWSEC2", "AWSConfigRemediation", "AWSSupport"];

/// Checks a name for a user's document: `^[a-zA-Z0-9_\-.]{3,128}$`, and none of the reserved
/// prefixes (`aws`, `amazon`, `amzn`, `AWSEC2`, `AWSConfigRemediation`, `AWSSupport`).
pub fn validate_document_name(name: &str) -> Result<(), DocumentError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(3..=128).contains(&name.len()) || !name.chars().all(allowed) {
        return Err(DocumentError::InvalidDocumentName { name: name.to_owned() });
    }
    let reserved = RESERVED_NAME_PREFIXES
        .iter()
        .find(|prefix| name.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix)));
    match reserved {
        Some(prefix) => Err(DocumentError::ReservedDocumentName { name: name.to_owned(), prefix }),
        None => Ok(()),
    }
}

/// The platforms a document can run on, derived from the actions its steps use, in the order
/// Windows, Linux, MacOS. Actions fleetrun does not know contribute nothing, so a document made
/// only of those (Automation runbooks, for now) gets an empty list.
pub fn platform_types(doc: &Document) -> Vec<&'static str> {
    const ALL: [&str; 3] = ["Windows", "Linux", "MacOS"];
    let mut supported = [false; 3];
    for step in &doc.steps {
        let platforms: &[bool; 3] = match step.action.as_str() {
            "aws:runShellScript" => &[false, true, true],
            // PowerShell (pwsh) runs on Linux and macOS too.
            "aws:runPowerShellScript" | "aws:downloadContent" | "aws:runDocument" => &[true; 3],
            _ => &[false; 3],
        };
        for (slot, on) in supported.iter_mut().zip(platforms) {
            *slot |= on;
        }
    }
    ALL.iter().zip(supported).filter(|(_, on)| *on).map(|(name, _)| *name).collect()
}

/// Rewrites document content from one format to the other (GetDocument's `DocumentFormat`).
///
/// Only the syntax is checked, not whether the content is a valid document. Key order is kept.
/// When `from == to` the content is returned unchanged after that check. JSON is written
/// pretty-printed with a four-space indent.
pub fn convert(content: &str, from: DocumentFormat, to: DocumentFormat) -> Result<String, DocumentError> {
    let node = tree::load(content, from)?;
    if from == to {
        return Ok(content.to_owned());
    }
    tree::write(&node, to)
}
