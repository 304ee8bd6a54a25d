//! The documents owned by "Amazon" that every fleetrun installation has, such as
//! `AWS-RunShellScript`, so that commands written for SSM work unchanged.
//!
//! Their structure (parameter names, types, defaults, patterns, plugin inputs) matches AWS's
//! documents, because scripts and tooling depend on it; their description texts are fleetrun's
//! own. The content is fixed text: its SHA-256 is the document's `Hash`, so changing a single
//! byte changes what clients see. This file does not store or version anything.

use super::{Document, DocumentFormat, DocumentKind, parse_document};

/// A built-in document. Its content is JSON, pretty-printed with a four-space indent; all but
/// `AWS-RunShellScript` are kept as files next to this one (`builtin/<name>.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinDocument {
    pub name: &'static str,
    pub content: &'static str,
    pub kind: DocumentKind,
}

impl BuiltinDocument {
    pub const FORMAT: DocumentFormat = DocumentFormat::Json;

    /// The parsed document. Built-in content is covered by tests, so it always parses.
    pub fn document(&self) -> Document {
        parse_document(self.content, Self::FORMAT, self.kind)
            .unwrap_or_else(|error| panic!("built-in document {} is invalid: {error}", self.name))
    }
}

/// All built-in documents, ordered by name.
pub fn builtin_documents() -> &'static [BuiltinDocument] {
    &BUILTIN_DOCUMENTS
}

/// The built-in document called `name`, if there is one (names are case-sensitive).
pub fn builtin_document(name: &str) -> Option<&'static BuiltinDocument> {
    BUILTIN_DOCUMENTS.iter().find(|doc| doc.name == name)
}

static BUILTIN_DOCUMENTS: [BuiltinDocument; 5] = [
    command("AWS-ApplyAnsiblePlaybooks", include_str!("builtin/AWS-ApplyAnsiblePlaybooks.json")),
    command("AWS-RunDocument", include_str!("builtin/AWS-RunDocument.json")),
    command("AWS-RunPowerShellScript", include_str!("builtin/AWS-RunPowerShellScript.json")),
    command("AWS-RunRemoteScript", include_str!("builtin/AWS-RunRemoteScript.json")),
    command("AWS-RunShellScript", AWS_RUN_SHELL_SCRIPT),
];

const fn command(name: &'static str, content: &'static str) -> BuiltinDocument {
    BuiltinDocument { name, content, kind: DocumentKind::Command }
}

/// Like AWS's document, `executionTimeout` allows 1 to 172800 seconds and `commands` needs at
/// least one line.
const AWS_RUN_SHELL_SCRIPT: &str = r#"{
    "schemaVersion": "1.2",
    "description": "Runs shell commands, or the lines of a shell script, on Linux and macOS nodes.",
    "parameters": {
        "commands": {
            "type": "StringList",
            "description": "(Required) The commands to run, one per line, or the lines of a shell script.",
            "minItems": 1,
            "displayType": "textarea"
        },
        "workingDirectory": {
            "type": "String",
            "default": "",
            "description": "(Optional) The directory on the node to run the commands in.",
            "maxChars": 4096
        },
        "executionTimeout": {
            "type": "String",
            "default": "3600",
            "description": "(Optional) How many seconds the commands may run before they are stopped and reported as failed. Defaults to 3600 (one hour); at most 172800 (two days).",
            "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"
        }
    },
    "runtimeConfig": {
        "aws:runShellScript": {
            "properties": [
                {
                    "id": "0.aws:runShellScript",
                    "runCommand": "{{ commands }}",
                    "workingDirectory": "{{ workingDirectory }}",
                    "timeoutSeconds": "{{ executionTimeout }}"
                }
            ]
        }
    }
}"#;
