//! Parameter Store rules: which names, values, labels, selectors and filters SSM accepts, how a
//! `name:version` or ARN picks a parameter, which parameters a filter or path selects, and where
//! `{{ssm:...}}` references sit in a document's text.
//!
//! Everything here is pure and does no IO: storing parameters and their versions, encrypting
//! `SecureString` values (`fleetrun-secrets`) and answering the SSM API (`fleetrun-server`) happen
//! elsewhere. The rules follow `SSM-REFERENCE.md` §2.6 and §3.2; where the reference is silent they
//! follow AWS's documentation and, for exact messages, what moto mirrors of the real service. Errors
//! carry SSM's error code ([`ParameterError::code`]) so the façade can answer as AWS does.
//!
//! A PutParameter request is checked in this order: [`trim_name`] then [`validate_name`], the
//! type ([`ParameterType::parse`], required on create), [`DataType::parse`], [`validate_description`],
//! [`validate_key_id`], [`resolve_tier`], [`validate_value`], then the allowed pattern
//! ([`check_allowed_pattern`]) and, for an overwrite, [`check_type_change`] and
//! [`version_to_evict`]. Reads go through [`ParameterRef::parse`]; GetParametersByPath through
//! [`validate_path`], [`parse_filters`] and [`in_path`]; DescribeParameters through
//! [`DescribeFilters::parse`]; LabelParameterVersion through [`plan_labels`].

mod error;
mod filter;
mod label;
mod name;
mod reference;
mod selector;
mod value;

#[cfg(test)]
mod tests;

pub use error::{NameProblem, ParameterError};
pub use filter::{
    DescribeFilters, FilterKey, FilterOperation, FilterOption, LegacyFilter, LegacyKey, ParamView, ParameterFilter,
    RawFilter, RawLegacyFilter, in_path, matches_all, parse_filters,
};
pub use label::{LabelPlan, MAX_LABEL_CHARS, MAX_LABELS_PER_VERSION, is_valid_label, plan_labels};
pub use name::{
    MAX_HIERARCHY_LEVELS, MAX_NAME_CHARS, MAX_NAME_MODEL_CHARS, hierarchy_levels, storage_key, trim_name,
    validate_name, validate_path, validate_reference_name,
};
pub use reference::{Reference, ReferenceKind, find_references, replace_references};
pub use selector::{ArnScope, ParameterRef, Selector, arn, partition};
pub use value::{
    MAX_ALLOWED_PATTERN_CHARS, MAX_DESCRIPTION_CHARS, MAX_KEY_ID_CHARS, check_allowed_pattern, check_type_change,
    compile_allowed_pattern, resolve_tier, validate_description, validate_key_id, validate_value, version_to_evict,
};

/// Parameter Store keeps the 100 newest versions of a parameter; the oldest goes when a new one
/// is written, unless it has a label ([`version_to_evict`]).
pub const MAX_VERSIONS: usize = 100;

/// The largest value of a Standard-tier parameter, in bytes.
pub const MAX_STANDARD_VALUE_BYTES: usize = 4096;

/// The largest value of an Advanced-tier parameter, in bytes.
pub const MAX_ADVANCED_VALUE_BYTES: usize = 8192;

/// A parameter's `Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterType {
    String,
    /// Comma-separated items, with no way to escape a comma.
    StringList,
    /// Stored encrypted; returned decrypted only when the caller asks for it.
    SecureString,
}

impl ParameterType {
    /// Parses SSM's spelling, which is case-sensitive.
    pub fn parse(text: &str) -> Result<Self, ParameterError> {
        match text {
            "String" => Ok(Self::String),
            "StringList" => Ok(Self::StringList),
            "SecureString" => Ok(Self::SecureString),
            _ => Err(ParameterError::constraint(
                "type",
                Some(text),
                "Member must satisfy enum value set: [SecureString, StringList, String]",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::StringList => "StringList",
            Self::SecureString => "SecureString",
        }
    }
}

/// A parameter's `Tier`. A stored parameter is always Standard or Advanced: Intelligent-Tiering
/// is a request to choose between them ([`Tier::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Standard,
    Advanced,
    /// `"Intelligent-Tiering"` on the wire.
    IntelligentTiering,
}

impl Tier {
    /// Parses SSM's spelling, which is case-sensitive.
    pub fn parse(text: &str) -> Result<Self, ParameterError> {
        match text {
            "Standard" => Ok(Self::Standard),
            "Advanced" => Ok(Self::Advanced),
            "Intelligent-Tiering" => Ok(Self::IntelligentTiering),
            _ => Err(ParameterError::constraint(
                "tier",
                Some(text),
                "Member must satisfy enum value set: [Standard, Advanced, Intelligent-Tiering]",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "Standard",
            Self::Advanced => "Advanced",
            Self::IntelligentTiering => "Intelligent-Tiering",
        }
    }

    /// The tier a parameter with `value` is stored in: Intelligent-Tiering picks Standard unless the
    /// value needs Advanced (more than [`MAX_STANDARD_VALUE_BYTES`]); the other tiers are kept.
    ///
    /// AWS also moves a parameter to Advanced for policies and past 10,000 Standard parameters in a
    /// Region; fleetrun supports neither policies nor that limit, so only the size counts.
    pub fn resolve(self, value: &str) -> Tier {
        match self {
            Self::IntelligentTiering if value.len() > MAX_STANDARD_VALUE_BYTES => Self::Advanced,
            Self::IntelligentTiering => Self::Standard,
            other => other,
        }
    }

    /// The largest value this tier holds, in bytes. Intelligent-Tiering can become Advanced, so
    /// its limit is Advanced's.
    pub fn max_value_bytes(self) -> usize {
        match self {
            Self::Standard => MAX_STANDARD_VALUE_BYTES,
            Self::Advanced | Self::IntelligentTiering => MAX_ADVANCED_VALUE_BYTES,
        }
    }
}

/// A parameter's `DataType`. Only `text` has meaning in fleetrun; the other two are accepted and
/// echoed back (AWS checks `aws:ec2:image` values against EC2 asynchronously, which fleetrun can't).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataType {
    #[default]
    Text,
    /// `"aws:ec2:image"`: an AMI id.
    Ec2Image,
    /// `"aws:ssm:integration"`: a credential for an integration.
    SsmIntegration,
}

impl DataType {
    /// Parses SSM's spelling, which is lower-case and case-sensitive.
    pub fn parse(text: &str) -> Result<Self, ParameterError> {
        match text {
            "text" => Ok(Self::Text),
            "aws:ec2:image" => Ok(Self::Ec2Image),
            "aws:ssm:integration" => Ok(Self::SsmIntegration),
            _ => Err(ParameterError::UnsupportedDataType { data_type: text.to_owned() }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Ec2Image => "aws:ec2:image",
            Self::SsmIntegration => "aws:ssm:integration",
        }
    }
}
