//! GetParameter, GetParameters, GetParametersByPath, DescribeParameters and GetParameterHistory.

use super::super::error::SsmError;
use super::super::wire::{self, decode};
use super::{check_names, find, metadata_json, param_type, parameter_json, shown_value};
use crate::app::AppState;
use base64::Engine;
use fleetrun_core::parameter::{
    self as rules, DataType, DescribeFilters, FilterKey, FilterOperation, ParamView, ParameterFilter, RawFilter,
    RawLegacyFilter, Tier,
};
use fleetrun_store::{ParamSelector, ParameterQuery, ParameterVersion};
use serde::Deserialize;
use serde_json::{Value, json};

/// Rows read from the store per round while filling a page.
const SCAN_BATCH: u32 = 100;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetInput {
    name: Option<String>,
    names: Option<Vec<String>>,
    #[serde(default)]
    with_decryption: bool,
}

pub(crate) async fn get_parameter(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: GetInput = decode(input)?;
    let text = input.name.ok_or_else(|| SsmError::validation("name", "null", "Member must not be null"))?;
    let (version, selector) = find(state, &text).await?;
    Ok(json!({ "Parameter": parameter_json(state, &version, input.with_decryption, &selector)? }))
}

pub(crate) async fn get_parameters(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: GetInput = decode(input)?;
    let names = input.names.unwrap_or_default();
    check_names(&names)?;
    let mut found = Vec::new();
    let mut invalid = Vec::new();
    for text in &names {
        match find(state, text).await {
            Ok((version, selector)) => found.push(parameter_json(state, &version, input.with_decryption, &selector)?),
            Err(e) if e.status.is_client_error() => invalid.push(text.clone()),
            Err(e) => return Err(e),
        }
    }
    found.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    found.dedup_by(|a, b| a["Name"] == b["Name"] && a["Version"] == b["Version"]);
    invalid.dedup();
    Ok(json!({ "Parameters": found, "InvalidParameters": invalid }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterInput {
    key: String,
    option: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyFilterInput {
    key: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ByPathInput {
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    parameter_filters: Vec<FilterInput>,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn raw_filters(filters: &[FilterInput]) -> Vec<RawFilter<'_>> {
    filters.iter().map(|f| RawFilter { key: &f.key, option: f.option.as_deref(), values: &f.values }).collect()
}

/// NextToken for keyset pages: the last name of the page.
fn token_after(token: Option<&str>) -> Result<Option<String>, SsmError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
    let invalid = || SsmError::new("InvalidNextToken", "The specified token is not valid.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix("after:").map(str::to_string).map(Some).ok_or_else(invalid)
}

fn token_for(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{name}"))
}

/// What filters see of a version (tags are read only when some filter needs them).
fn view<'a>(v: &'a ParameterVersion, tags: &'a [(String, String)]) -> Result<ParamView<'a>, SsmError> {
    Ok(ParamView {
        name: &v.name,
        parameter_type: param_type(v)?,
        key_id: v.key_id.as_deref().or((v.param_type == "SecureString").then_some(super::DEFAULT_KEY_ID)),
        tier: Tier::parse(&v.tier).unwrap_or(Tier::Standard),
        data_type: DataType::parse(&v.data_type).unwrap_or(DataType::Text),
        labels: &v.labels,
        tags,
    })
}

/// Walks the latest versions in name order from `after`, keeping those `keep` accepts, until `page` are
/// kept. Returns them and whether more may follow.
async fn scan<F, Fut>(
    state: &AppState,
    prefix: Option<String>,
    mut after: Option<String>,
    page: u32,
    mut keep: F,
) -> Result<(Vec<ParameterVersion>, bool), SsmError>
where
    F: FnMut(ParameterVersion) -> Fut,
    Fut: std::future::Future<Output = Result<Option<ParameterVersion>, SsmError>>,
{
    let mut kept = Vec::new();
    loop {
        let query = ParameterQuery { prefix: prefix.clone(), after: after.clone(), limit: SCAN_BATCH };
        let rows = state.store.list_parameters(&query).await?;
        let exhausted = rows.len() < SCAN_BATCH as usize;
        for row in rows {
            after = Some(row.name.clone());
            if let Some(v) = keep(row).await? {
                kept.push(v);
                if kept.len() == page as usize {
                    return Ok((kept, true));
                }
            }
        }
        if exhausted {
            return Ok((kept, false));
        }
    }
}

pub(crate) async fn get_parameters_by_path(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: ByPathInput = decode(input)?;
    let path = input.path.clone().ok_or_else(|| SsmError::validation("path", "null", "Member must not be null"))?;
    rules::validate_path(&path)?;
    let filters = rules::parse_filters(&raw_filters(&input.parameter_filters), FilterOperation::GetParametersByPath)?;
    let page = wire::page_size(input.max_results, 1, 10, 10)?;
    let after = token_after(input.next_token.as_deref())?;
    // Hierarchical names under the path start with "<path>/"; one-level names are stored without their
    // '/', so the root path must scan everything.
    let trimmed = path.trim_end_matches('/');
    let prefix = (!trimmed.is_empty()).then(|| format!("{trimmed}/"));
    let (labels, others): (Vec<&ParameterFilter>, Vec<&ParameterFilter>) =
        filters.iter().partition(|f| f.key == FilterKey::Label);
    let recursive = input.recursive;
    let (found, more) = scan(state, prefix, after, page, |latest| {
        let path = path.clone();
        let labels = labels.clone();
        let others = others.clone();
        async move {
            if !rules::in_path(&latest.name, &path, recursive) {
                return Ok(None);
            }
            // With a Label filter, the version carrying the label is the one returned.
            let mut chosen = Some(latest);
            if let Some(filter) = labels.first() {
                let name = chosen.take().map(|v| v.name).unwrap_or_default();
                for label in &filter.values {
                    if let Some(v) = state.store.get_parameter(&name, ParamSelector::Label(label)).await? {
                        chosen = Some(v);
                        break;
                    }
                }
            }
            let Some(v) = chosen else { return Ok(None) };
            let keep = others.iter().all(|f| view(&v, &[]).is_ok_and(|view| f.matches(&view)));
            Ok(keep.then_some(v))
        }
    })
    .await?;
    let parameters: Vec<Value> =
        found.iter().map(|v| parameter_json(state, v, input.with_decryption, "")).collect::<Result<_, _>>()?;
    let mut out = json!({ "Parameters": parameters });
    if more && let Some(last) = found.last() {
        out["NextToken"] = json!(token_for(&last.name));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    #[serde(default)]
    filters: Vec<LegacyFilterInput>,
    #[serde(default)]
    parameter_filters: Vec<FilterInput>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub(crate) async fn describe_parameters(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DescribeInput = decode(input)?;
    let legacy: Vec<RawLegacyFilter<'_>> =
        input.filters.iter().map(|f| RawLegacyFilter { key: &f.key, values: &f.values }).collect();
    let filters = DescribeFilters::parse(&legacy, &raw_filters(&input.parameter_filters))?;
    let needs_tags =
        matches!(&filters, DescribeFilters::Parameter(list) if list.iter().any(|f| matches!(f.key, FilterKey::Tag(_))));
    let page = wire::page_size(input.max_results, 1, 50, 10)?;
    let after = token_after(input.next_token.as_deref())?;
    let filters = &filters;
    let (found, more) = scan(state, None, after, page, |v| async move {
        let tags = if needs_tags { state.store.list_tags("Parameter", &v.name).await? } else { Vec::new() };
        let keep = filters.matches(&view(&v, &tags)?);
        Ok(keep.then_some(v))
    })
    .await?;
    let parameters: Vec<Value> = found.iter().map(|v| metadata_json(state, v)).collect();
    let mut out = json!({ "Parameters": parameters });
    if more && let Some(last) = found.last() {
        out["NextToken"] = json!(token_for(&last.name));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryInput {
    name: Option<String>,
    #[serde(default)]
    with_decryption: bool,
    max_results: Option<i64>,
    next_token: Option<String>,
}

pub(crate) async fn get_parameter_history(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: HistoryInput = decode(input)?;
    let text = input.name.ok_or_else(|| SsmError::validation("name", "null", "Member must not be null"))?;
    let (latest, _) = find(state, &text).await?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let versions = state.store.parameter_history(&latest.name).await?;
    let rows: Vec<&ParameterVersion> = versions.iter().skip(offset as usize).take(page as usize + 1).collect();
    let more = rows.len() > page as usize;
    let mut parameters = Vec::new();
    for v in rows.into_iter().take(page as usize) {
        let mut item = metadata_json(state, v);
        item["Value"] = json!(shown_value(state, v, input.with_decryption)?);
        item["Labels"] = json!(v.labels);
        parameters.push(item);
    }
    let mut out = json!({ "Parameters": parameters });
    if let Some(token) = wire::next_token(offset, page, more) {
        out["NextToken"] = json!(token);
    }
    Ok(out)
}
