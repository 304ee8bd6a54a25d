//! `{{ssm:name}}`, `{{ssm:name:version}}` and `{{ssm-secure:name}}` references in a document's
//! text: finding them, and replacing each with whatever the caller resolves it to.
//!
//! A reference is recognised as the agent recognises it: `{{`, optional spaces, `ssm:` or
//! `ssm-secure:`, one or more of the ASCII characters `/A-Za-z0-9_.:-`, optional spaces, `}}`
//! (the agent's regex is `\{\{ *ssm:[/\w.:-]+ *\}\}`, with Go's ASCII `\w`). Nothing else is
//! touched: `{{ ssm :x}}` and `{{ssm:}}` are left as text. Looking the parameters up, and refusing
//! SecureString values in plain `{{ssm:...}}` references, are the caller's job; this file does no
//! resolution and no recursive expansion.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::selector::{ArnScope, ParameterRef, Selector};

/// One reference, with the kind in group 1 and the target in group 2.
static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{ *(ssm|ssm-secure):([/A-Za-z0-9_.:-]+) *\}\}").expect("valid regex"));

/// Which kind of reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    /// `{{ssm:...}}`: a String or StringList parameter.
    Plain,
    /// `{{ssm-secure:...}}`: a SecureString parameter, honoured only in some plugin inputs.
    Secure,
}

/// A reference found in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: ReferenceKind,
    /// The parameter's name (for an ARN target, the name the ARN stands for).
    pub name: String,
    pub selector: Selector,
    /// Present when the target was an ARN.
    pub arn: Option<ArnScope>,
    /// The text between `ssm:` (or `ssm-secure:`) and the closing spaces and braces, as written:
    /// what the agent would pass to GetParameters, and what an error about it should quote.
    pub target: String,
    /// Where the whole reference, braces included, lies in the text (byte offsets).
    pub span: Range<usize>,
}

/// Every reference in `text`, in order. References don't overlap.
///
/// A target that can't name a parameter (such as `a:b:c`) is still returned, as a name or label
/// that matches nothing, so that resolving it fails with its text rather than leaving it in place.
pub fn find_references(text: &str) -> Vec<Reference> {
    REFERENCE
        .captures_iter(text)
        .map(|captures| {
            let whole = captures.get(0).expect("group 0 always matches");
            let target = &captures[2];
            let kind = if &captures[1] == "ssm" { ReferenceKind::Plain } else { ReferenceKind::Secure };
            let ParameterRef { name, selector, arn } = ParameterRef::parse_lenient(target);
            Reference { kind, name, selector, arn, target: target.to_owned(), span: whole.range() }
        })
        .collect()
}

/// `text` with every reference replaced by what `resolve` returns for it; the first error stops
/// the replacement and is returned. Replacements are not searched again for references.
pub fn replace_references<E>(
    text: &str,
    mut resolve: impl FnMut(&Reference) -> Result<String, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for reference in find_references(text) {
        out.push_str(&text[copied..reference.span.start]);
        out.push_str(&resolve(&reference)?);
        copied = reference.span.end;
    }
    out.push_str(&text[copied..]);
    Ok(out)
}
