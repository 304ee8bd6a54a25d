//! Selecting parameters: the `ParameterFilters` of DescribeParameters and GetParametersByPath, the
//! deprecated `Filters` of DescribeParameters, and whether a name lies under a path.
//!
//! Which keys and options each operation takes (from the service model's documentation):
//!
//! | key                 | DescribeParameters                 | GetParametersByPath   |
//! |---------------------|------------------------------------|-----------------------|
//! | `Name`              | Equals, BeginsWith, Contains       | no                    |
//! | `Path`              | OneLevel (default), Recursive      | no                    |
//! | `Type`, `KeyId`     | Equals (default), BeginsWith       | Equals, BeginsWith    |
//! | `Tier`, `DataType`  | Equals, BeginsWith                 | no                    |
//! | `tag:<key>`         | Equals, BeginsWith                 | no                    |
//! | `Label`             | no                                 | Equals only           |
//!
//! Filters are AND-ed; a filter's values are OR-ed. `/name` and `name` are the same parameter, so
//! names and paths are compared as if every name started with `/`. This file decides which
//! parameters match; listing, paging and choosing versions are the store's.

use super::name::validate_path;
use super::{DataType, ParameterError, ParameterType, Tier};

/// The longest filter key, in characters (`tag:` and a 128-character tag key).
const MAX_KEY_CHARS: usize = 132;

/// The longest filter option, in characters.
const MAX_OPTION_CHARS: usize = 10;

/// The most values one filter may have.
const MAX_VALUES: usize = 50;

/// The longest filter value, in characters.
const MAX_VALUE_CHARS: usize = 1024;

/// What a filter looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilterKey {
    Name,
    Type,
    KeyId,
    Path,
    Tier,
    DataType,
    Label,
    /// `tag:<key>`: the value of the parameter's tag `<key>`.
    Tag(String),
}

impl FilterKey {
    /// Parses the model's pattern `tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType`.
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Name" => Self::Name,
            "Type" => Self::Type,
            "KeyId" => Self::KeyId,
            "Path" => Self::Path,
            "Tier" => Self::Tier,
            "DataType" => Self::DataType,
            "Label" => Self::Label,
            _ => Self::Tag(text.strip_prefix("tag:").filter(|key| !key.is_empty())?.to_owned()),
        })
    }
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FilterOption {
    Equals,
    BeginsWith,
    /// `Name` only: the name contains a value.
    Contains,
    /// `Path` only: anywhere under the path.
    Recursive,
    /// `Path` only: directly under the path.
    OneLevel,
}

impl FilterOption {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Equals" => Self::Equals,
            "BeginsWith" => Self::BeginsWith,
            "Contains" => Self::Contains,
            "Recursive" => Self::Recursive,
            "OneLevel" => Self::OneLevel,
            _ => return None,
        })
    }
}

/// The operation a filter list came with; they accept different keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOperation {
    DescribeParameters,
    GetParametersByPath,
}

/// A `ParameterStringFilter` as it arrived. An empty `values` means none were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFilter<'a> {
    pub key: &'a str,
    pub option: Option<&'a str>,
    pub values: &'a [String],
}

/// A checked `ParameterStringFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterFilter {
    pub key: FilterKey,
    /// The request's option, or the default: `OneLevel` for `Path`, `Equals` otherwise.
    pub option: FilterOption,
    /// Empty only for a `tag:` filter, which then asks whether the tag exists.
    pub values: Vec<String>,
}

/// What a filter needs to know of one parameter, borrowed from wherever it is stored.
///
/// For GetParametersByPath with a `Label` filter, AWS returns the version that has the label, so
/// the store evaluates such a filter against each version's labels.
#[derive(Debug, Clone, Copy)]
pub struct ParamView<'a> {
    pub name: &'a str,
    pub parameter_type: ParameterType,
    pub key_id: Option<&'a str>,
    /// Standard or Advanced.
    pub tier: Tier,
    pub data_type: DataType,
    /// The labels of the version being considered.
    pub labels: &'a [String],
    pub tags: &'a [(String, String)],
}

/// Checks a `ParameterFilters` list for `operation`.
///
/// The model's limits are checked for every filter first (`ValidationException`), then each
/// filter in order: its key for this operation (`InvalidFilterKey`), missing values
/// (`InvalidFilterValue`), a repeated key (`InvalidFilterKey`), its option (`InvalidFilterOption`)
/// and its values (`Type` and `Tier` must name real types and tiers; `Path` values must be paths
/// outside `/aws` and `/ssm`).
pub fn parse_filters(
    raw: &[RawFilter<'_>],
    operation: FilterOperation,
) -> Result<Vec<ParameterFilter>, ParameterError> {
    for (index, filter) in raw.iter().enumerate() {
        check_model_limits(index + 1, filter)?;
    }
    let mut filters: Vec<ParameterFilter> = Vec::with_capacity(raw.len());
    for filter in raw {
        let key = FilterKey::parse(filter.key).expect("checked against the model's pattern");
        check_key_allowed(filter.key, &key, operation)?;
        if filter.values.is_empty() && !matches!(key, FilterKey::Tag(_)) {
            return Err(ParameterError::MissingFilterValues { key: filter.key.to_owned() });
        }
        if filters.iter().any(|seen| seen.key == key) {
            return Err(ParameterError::DuplicateFilter { key: filter.key.to_owned() });
        }
        let option = parse_option(&key, filter.option, operation)?;
        check_values(&key, filter.values)?;
        filters.push(ParameterFilter { key, option, values: filter.values.to_vec() });
    }
    Ok(filters)
}

/// Whether `view` passes every filter.
pub fn matches_all(filters: &[ParameterFilter], view: &ParamView<'_>) -> bool {
    filters.iter().all(|filter| filter.matches(view))
}

impl ParameterFilter {
    /// Whether `view` passes this filter: any of the values matches.
    pub fn matches(&self, view: &ParamView<'_>) -> bool {
        let any_value = |actual: &str| self.values.iter().any(|value| compare(self.option, actual, value));
        match &self.key {
            FilterKey::Name => {
                let name = Rooted(view.name);
                self.values.iter().any(|value| match self.option {
                    FilterOption::Contains => name.contains(value),
                    FilterOption::BeginsWith => name.starts_with(Rooted(value)),
                    _ => name == Rooted(value),
                })
            }
            FilterKey::Path => {
                let recursive = self.option == FilterOption::Recursive;
                self.values.iter().any(|path| in_path(view.name, path, recursive))
            }
            FilterKey::Type => any_value(view.parameter_type.as_str()),
            FilterKey::KeyId => view.key_id.is_some_and(any_value),
            FilterKey::Tier => any_value(view.tier.as_str()),
            FilterKey::DataType => any_value(view.data_type.as_str()),
            FilterKey::Label => view.labels.iter().any(|label| self.values.contains(label)),
            FilterKey::Tag(key) => {
                let mut tag_values = view.tags.iter().filter(|(tag, _)| tag == key).map(|(_, value)| value.as_str());
                if self.values.is_empty() { tag_values.next().is_some() } else { tag_values.any(any_value) }
            }
        }
    }
}

/// Whether parameter `name` lies under `path`: directly (one level down) or, when `recursive`,
/// at any depth. The path itself is not under itself, a trailing `/` on the path is ignored, and
/// the path `/` holds every name. A one-level name without a leading `/` counts as if it had one.
pub fn in_path(name: &str, path: &str, recursive: bool) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let path = path.trim_matches('/');
    let below =
        if path.is_empty() { Some(name) } else { name.strip_prefix(path).and_then(|rest| rest.strip_prefix('/')) };
    below.is_some_and(|rest| !rest.is_empty() && (recursive || !rest.contains('/')))
}

/// A key of the deprecated `Filters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyKey {
    /// The name begins with a value.
    Name,
    /// The type is a value.
    Type,
    /// The key id is a value.
    KeyId,
}

/// A `ParametersFilter` as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLegacyFilter<'a> {
    pub key: &'a str,
    pub values: &'a [String],
}

/// A checked `ParametersFilter` (DescribeParameters' deprecated `Filters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFilter {
    pub key: LegacyKey,
    /// Never empty.
    pub values: Vec<String>,
}

impl LegacyFilter {
    /// Whether `view` passes this filter: any of the values matches.
    pub fn matches(&self, view: &ParamView<'_>) -> bool {
        match self.key {
            LegacyKey::Name => self.values.iter().any(|value| Rooted(view.name).starts_with(Rooted(value))),
            LegacyKey::Type => self.values.iter().any(|value| value == view.parameter_type.as_str()),
            LegacyKey::KeyId => view.key_id.is_some_and(|key_id| self.values.iter().any(|value| value == key_id)),
        }
    }
}

/// DescribeParameters' filters: the deprecated `Filters` or `ParameterFilters`, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescribeFilters {
    /// No filters: every parameter.
    All,
    Legacy(Vec<LegacyFilter>),
    Parameter(Vec<ParameterFilter>),
}

impl DescribeFilters {
    /// Checks DescribeParameters' two filter lists; an empty list means it was not given.
    pub fn parse(legacy: &[RawLegacyFilter<'_>], parameter: &[RawFilter<'_>]) -> Result<Self, ParameterError> {
        match (legacy.is_empty(), parameter.is_empty()) {
            (false, false) => Err(ParameterError::MixedFilters),
            (true, true) => Ok(Self::All),
            (true, false) => parse_filters(parameter, FilterOperation::DescribeParameters).map(Self::Parameter),
            (false, true) => legacy.iter().enumerate().map(parse_legacy).collect::<Result<_, _>>().map(Self::Legacy),
        }
    }

    /// Whether `view` passes every filter.
    pub fn matches(&self, view: &ParamView<'_>) -> bool {
        match self {
            Self::All => true,
            Self::Legacy(filters) => filters.iter().all(|filter| filter.matches(view)),
            Self::Parameter(filters) => matches_all(filters, view),
        }
    }
}

/// Checks the `index`th (from 0) legacy filter against the model: a known key and 1 to 50 values
/// of 1 to 1,024 characters.
fn parse_legacy((index, raw): (usize, &RawLegacyFilter<'_>)) -> Result<LegacyFilter, ParameterError> {
    let field = |member: &str| format!("filters.{}.member.{member}", index + 1);
    let key = match raw.key {
        "Name" => LegacyKey::Name,
        "Type" => LegacyKey::Type,
        "KeyId" => LegacyKey::KeyId,
        other => {
            return Err(ParameterError::constraint(
                field("key"),
                Some(other),
                "Member must satisfy enum value set: [Name, Type, KeyId]",
            ));
        }
    };
    if raw.values.is_empty() {
        return Err(ParameterError::constraint(field("values"), None, "Member must not be null"));
    }
    check_values_limits(&field("values"), raw.values)?;
    Ok(LegacyFilter { key, values: raw.values.to_vec() })
}

/// The model's limits for the `position`th (from 1) filter: key pattern and length, option length,
/// number and length of values.
fn check_model_limits(position: usize, filter: &RawFilter<'_>) -> Result<(), ParameterError> {
    let field = |member: &str| format!("parameterFilters.{position}.member.{member}");
    if filter.key.chars().count() > MAX_KEY_CHARS {
        return Err(ParameterError::constraint(
            field("key"),
            Some(filter.key),
            format!("Member must have length less than or equal to {MAX_KEY_CHARS}"),
        ));
    }
    if FilterKey::parse(filter.key).is_none() {
        return Err(ParameterError::constraint(
            field("key"),
            Some(filter.key),
            "Member must satisfy regular expression pattern: tag:.+|Name|Type|KeyId|Path|Label|Tier|DataType",
        ));
    }
    if let Some(option) = filter.option.filter(|option| option.chars().count() > MAX_OPTION_CHARS) {
        return Err(ParameterError::constraint(
            field("option"),
            Some(option),
            format!("Member must have length less than or equal to {MAX_OPTION_CHARS}"),
        ));
    }
    check_values_limits(&field("values"), filter.values)
}

/// At most 50 values of 1 to 1,024 characters.
fn check_values_limits(field: &str, values: &[String]) -> Result<(), ParameterError> {
    if values.len() > MAX_VALUES {
        return Err(ParameterError::constraint(
            field,
            Some(&format!("[{}]", values.join(", "))),
            format!("Member must have length less than or equal to {MAX_VALUES}"),
        ));
    }
    if let Some(value) = values.iter().find(|value| value.is_empty() || value.chars().count() > MAX_VALUE_CHARS) {
        return Err(ParameterError::constraint(
            field,
            Some(value),
            format!(
                "[Member must have length less than or equal to {MAX_VALUE_CHARS}, \
                 Member must have length greater than or equal to 1]"
            ),
        ));
    }
    Ok(())
}

/// Refuses a key the operation does not take.
fn check_key_allowed(text: &str, key: &FilterKey, operation: FilterOperation) -> Result<(), ParameterError> {
    let (allowed, valid) = match operation {
        FilterOperation::DescribeParameters => {
            (*key != FilterKey::Label, "Path, Name, Type, KeyId, Tier, DataType, tag:<key>")
        }
        FilterOperation::GetParametersByPath => {
            (matches!(key, FilterKey::Type | FilterKey::KeyId | FilterKey::Label), "Type, KeyId, Label")
        }
    };
    if allowed { Ok(()) } else { Err(ParameterError::InvalidFilterKey { key: text.to_owned(), valid }) }
}

/// The option for `key`, defaulted, and refused unless the key takes it in this operation.
fn parse_option(
    key: &FilterKey,
    text: Option<&str>,
    operation: FilterOperation,
) -> Result<FilterOption, ParameterError> {
    use FilterOption::{BeginsWith, Contains, Equals, OneLevel, Recursive};
    let (default, allowed, valid): (_, &[FilterOption], _) = match key {
        FilterKey::Path => (OneLevel, &[Recursive, OneLevel], "Recursive, OneLevel"),
        FilterKey::Name => (Equals, &[Equals, BeginsWith, Contains], "BeginsWith, Equals, Contains"),
        FilterKey::Label if operation == FilterOperation::GetParametersByPath => (Equals, &[Equals], "Equals"),
        _ => (Equals, &[Equals, BeginsWith], "BeginsWith, Equals"),
    };
    let Some(text) = text else {
        return Ok(default);
    };
    match FilterOption::parse(text) {
        Some(option) if allowed.contains(&option) => Ok(option),
        _ => Err(ParameterError::InvalidFilterOption { option: text.to_owned(), valid }),
    }
}

/// The value rules of `Type`, `Tier` and `Path` filters.
fn check_values(key: &FilterKey, values: &[String]) -> Result<(), ParameterError> {
    for value in values {
        match key {
            FilterKey::Type if ParameterType::parse(value).is_err() => {
                return Err(ParameterError::InvalidFilterValue {
                    value: value.clone(),
                    valid: "String, StringList, SecureString",
                });
            }
            FilterKey::Tier if Tier::parse(value).is_err() => {
                return Err(ParameterError::InvalidFilterValue {
                    value: value.clone(),
                    valid: "Standard, Advanced, Intelligent-Tiering",
                });
            }
            FilterKey::Path => check_path_value(value)?,
            _ => {}
        }
    }
    Ok(())
}

/// A `Path` filter value: outside `/aws` and `/ssm` (in any case), and a well-formed path.
fn check_path_value(path: &str) -> Result<(), ParameterError> {
    let lower = path.to_ascii_lowercase();
    if lower.starts_with("/aws") || lower.starts_with("/ssm") {
        return Err(ParameterError::ReservedPathFilter { path: path.to_owned() });
    }
    validate_path(path)
}

/// `Equals` or `BeginsWith` on plain text.
fn compare(option: FilterOption, actual: &str, value: &str) -> bool {
    match option {
        FilterOption::BeginsWith => actual.starts_with(value),
        _ => actual == value,
    }
}

/// A name or name prefix compared as if it started with `/` (`name` and `/name` are the same
/// parameter), without allocating.
#[derive(Clone, Copy)]
struct Rooted<'a>(&'a str);

impl<'a> Rooted<'a> {
    fn rest(self) -> &'a str {
        self.0.strip_prefix('/').unwrap_or(self.0)
    }

    fn starts_with(self, prefix: Rooted<'_>) -> bool {
        // "/" + self.rest() starts with "/" + prefix.rest().
        self.rest().starts_with(prefix.rest())
    }

    fn contains(self, needle: &str) -> bool {
        match needle.strip_prefix('/') {
            // A needle starting with "/" may match at the root slash, which `rest` lacks.
            Some(after) => self.rest().starts_with(after) || self.rest().contains(needle),
            None => self.rest().contains(needle),
        }
    }
}

impl PartialEq for Rooted<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.rest() == other.rest()
    }
}
