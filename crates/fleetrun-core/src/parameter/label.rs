//! Parameter labels: which labels LabelParameterVersion attaches, which it reports back as
//! `InvalidLabels`, and the limit of ten labels per version.
//!
//! A label is 1 to 100 characters of ASCII letters (case-sensitive), digits, `.`, `-` and `_`, and
//! can't start with a digit or with "aws" or "ssm" in any case. A label that breaks the character
//! rules is not an error: AWS leaves it off and lists it in `InvalidLabels`. Breaking the length or
//! count limits of the API model is an error. Moving a label off the version that had it before is
//! the store's job.

use super::ParameterError;

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// The most labels one version can have, and the most one request may attach.
pub const MAX_LABELS_PER_VERSION: usize = 10;

/// Whether `label` can be attached to a version.
pub fn is_valid_label(label: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let reserved = ["aws", "ssm"]
        .iter()
        .any(|prefix| label.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix)));
    !label.is_empty()
        && label.len() <= MAX_LABEL_CHARS
        && label.chars().all(allowed)
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !reserved
}

/// What a LabelParameterVersion request does to the target version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelPlan {
    /// The valid labels requested, without repeats, in request order. Each is attached to the
    /// target version (a no-op if it already has it) and removed from any other version.
    pub attach: Vec<String>,
    /// The labels that break the label rules, in request order: the response's `InvalidLabels`.
    pub invalid: Vec<String>,
}

/// Works out a LabelParameterVersion request against the labels the target version has now.
///
/// Errors: the request must name 1 to 10 labels of 1 to 100 characters (`ValidationException`),
/// and the version may end up with at most ten labels (`ParameterVersionLabelLimitExceeded`).
pub fn plan_labels(current: &[String], requested: &[String]) -> Result<LabelPlan, ParameterError> {
    if requested.is_empty() || requested.len() > MAX_LABELS_PER_VERSION {
        let constraint = if requested.is_empty() {
            "Member must have length greater than or equal to 1".to_owned()
        } else {
            format!("Member must have length less than or equal to {MAX_LABELS_PER_VERSION}")
        };
        return Err(ParameterError::constraint("labels", Some(&format!("[{}]", requested.join(", "))), constraint));
    }
    if let Some(label) = requested.iter().find(|label| label.is_empty() || label.chars().count() > MAX_LABEL_CHARS) {
        return Err(ParameterError::constraint(
            "labels",
            Some(&format!("[{label}]")),
            format!(
                "Member must satisfy constraint: [Member must have length less than or equal to {MAX_LABEL_CHARS}, \
                 Member must have length greater than or equal to 1]"
            ),
        ));
    }
    let mut plan = LabelPlan { attach: Vec::new(), invalid: Vec::new() };
    for label in requested {
        if !is_valid_label(label) {
            plan.invalid.push(label.clone());
        } else if !plan.attach.contains(label) {
            plan.attach.push(label.clone());
        }
    }
    let added = plan.attach.iter().filter(|label| !current.contains(label)).count();
    if current.len() + added > MAX_LABELS_PER_VERSION {
        return Err(ParameterError::LabelLimitExceeded { max: MAX_LABELS_PER_VERSION });
    }
    Ok(plan)
}
