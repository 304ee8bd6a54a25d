//! Managed nodes, tags and hybrid activations: DescribeInstanceInformation, Add/Remove/ListTags,
//! Create/Describe/DeleteActivation and DeregisterManagedInstance.

use super::documents::{KeyValuesFilter, TagInput, check_tags};
use super::error::SsmError;
use super::send::check_instance_ids;
use super::wire::{self, decode, epoch, tags_json};
use crate::app::{AppState, now_ms};
use crate::dispatch;
use fleetrun_store::{Activation, Node, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

/// PingStatus of a node from its last contact.
pub(crate) fn ping_status(state: &AppState, node: &Node, now: i64) -> &'static str {
    if now - node.last_ping_ms <= state.config.ping_timeout.as_millis() as i64 { "Online" } else { "ConnectionLost" }
}

fn node_json(state: &AppState, node: &Node, now: i64) -> Value {
    let f = &node.facts;
    json!({
        "InstanceId": node.instance_id,
        "PingStatus": ping_status(state, node, now),
        "LastPingDateTime": epoch(node.last_ping_ms),
        "AgentVersion": f.agent_version,
        "IsLatestVersion": true,
        "PlatformType": if f.platform_type.is_empty() { "Linux" } else { f.platform_type.as_str() },
        "PlatformName": f.platform_name,
        "PlatformVersion": f.platform_version,
        "ActivationId": node.activation_id,
        "IamRole": node.iam_role,
        "RegistrationDate": epoch(node.registration_ms),
        "ResourceType": "ManagedInstance",
        "Name": node.name,
        "IPAddress": f.ip_address,
        "ComputerName": f.computer_name,
        "SourceId": node.instance_id,
        "SourceType": "AWS::SSM::ManagedInstance",
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeInput {
    #[serde(default)]
    instance_information_filter_list: Vec<LegacyFilter>,
    #[serde(default)]
    filters: Vec<KeyValuesFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct LegacyFilter {
    key: String,
    #[serde(rename = "valueSet", default)]
    value_set: Vec<String>,
}

pub(crate) async fn describe_instance_information(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DescribeInput = decode(input)?;
    if !input.instance_information_filter_list.is_empty() && !input.filters.is_empty() {
        return Err(SsmError::new(
            "InvalidFilterKey",
            "Use either InstanceInformationFilterList or Filters, not both.",
        ));
    }
    let page = wire::page_size(input.max_results, 5, 50, 10)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let mut filters = input.filters;
    filters.extend(
        input.instance_information_filter_list.into_iter().map(|f| KeyValuesFilter { key: f.key, values: f.value_set }),
    );
    let now = now_ms();
    let nodes = state.store.list_nodes().await?;
    let mut matched = Vec::new();
    for node in &nodes {
        if node_matches(state, node, &filters, now)? {
            matched.push(node);
        }
    }
    for f in &filters {
        if f.key == "InstanceIds" {
            check_instance_ids(&f.values)?;
            if let Some(unknown) = f.values.iter().find(|id| !nodes.iter().any(|n| &n.instance_id == *id)) {
                return Err(SsmError::new(
                    "InvalidInstanceId",
                    format!("Instance {unknown} is not a managed node of this fleetrun."),
                ));
            }
        }
    }
    let slice: Vec<Value> =
        matched.iter().skip(offset as usize).take(page as usize).map(|n| node_json(state, n, now)).collect();
    let mut out = json!({ "InstanceInformationList": slice });
    if offset as usize + (page as usize) < matched.len() {
        out["NextToken"] = json!(wire::next_token(offset, page, true));
    }
    Ok(out)
}

fn node_matches(state: &AppState, node: &Node, filters: &[KeyValuesFilter], now: i64) -> Result<bool, SsmError> {
    for f in filters {
        if f.values.is_empty() || f.values.len() > 100 {
            return Err(SsmError::new(
                "InvalidInstanceInformationFilterValue",
                format!("Filter {} needs 1 to 100 values.", f.key),
            ));
        }
        let any = |value: &str| f.values.iter().any(|v| v == value);
        let ok = match f.key.as_str() {
            "InstanceIds" => any(&node.instance_id),
            "AgentVersion" => any(&node.facts.agent_version),
            "PingStatus" => any(ping_status(state, node, now)),
            "PlatformType" | "PlatformTypes" => {
                any(if node.facts.platform_type.is_empty() { "Linux" } else { &node.facts.platform_type })
            }
            "ActivationIds" => any(&node.activation_id),
            "IamRole" => any(&node.iam_role),
            "ResourceType" => any("ManagedInstance"),
            "tag-key" => node.tags.iter().any(|(k, _)| any(k)),
            key => match key.strip_prefix("tag:") {
                Some(tag) => node.tags.iter().any(|(k, v)| k == tag && any(v)),
                None => {
                    return Err(SsmError::new(
                        "InvalidInstanceInformationFilterValue",
                        format!("Filter key '{key}' is not supported."),
                    ));
                }
            },
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsInput {
    resource_type: Option<String>,
    resource_id: Option<String>,
    #[serde(default)]
    tags: Vec<TagInput>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

/// Checks the resource exists; returns (type, id).
async fn resource(state: &AppState, input: &TagsInput) -> Result<(String, String), SsmError> {
    let rtype = input
        .resource_type
        .clone()
        .ok_or_else(|| SsmError::validation("resourceType", "null", "Member must not be null"))?;
    let rid = input
        .resource_id
        .clone()
        .ok_or_else(|| SsmError::validation("resourceId", "null", "Member must not be null"))?;
    let exists = match rtype.as_str() {
        "ManagedInstance" => state.store.get_node(&rid).await?.is_some(),
        "Document" => state.store.get_document(&rid, fleetrun_store::VersionSelector::Default).await?.is_some(),
        "Parameter" => {
            let key = fleetrun_core::parameter::storage_key(&rid).to_string();
            if state.store.get_parameter(&key, fleetrun_store::ParamSelector::Latest).await?.is_none() {
                return Err(SsmError::new("InvalidResourceId", format!("Parameter {rid} does not exist.")));
            }
            return Ok((rtype, key));
        }
        "MaintenanceWindow" | "PatchBaseline" | "OpsItem" | "OpsMetadata" | "Automation" | "Association" => {
            return Err(SsmError::new(
                "InvalidResourceType",
                format!("Tags on {rtype} resources are not supported by fleetrun yet."),
            ));
        }
        other => {
            return Err(SsmError::validation(
                "resourceType",
                other,
                "Member must satisfy enum value set: [Document, ManagedInstance, MaintenanceWindow, Parameter, PatchBaseline, OpsItem, OpsMetadata, Automation, Association]",
            ));
        }
    };
    if !exists {
        return Err(SsmError::new("InvalidResourceId", format!("{rtype} {rid} does not exist.")));
    }
    Ok((rtype, rid))
}

pub(crate) async fn add_tags(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: TagsInput = decode(input)?;
    let tags = check_tags(&input.tags)?;
    if tags.is_empty() {
        return Err(SsmError::validation("tags", "[]", "Member must have length greater than or equal to 1"));
    }
    let (rtype, rid) = resource(state, &input).await?;
    let existing = state.store.list_tags(&rtype, &rid).await?;
    let new_keys = tags.iter().filter(|(k, _)| !existing.iter().any(|(e, _)| e == k)).count();
    if existing.len() + new_keys > 1000 {
        return Err(SsmError::new("TooManyTagsError", "A resource may have at most 1000 tags."));
    }
    state.store.add_tags(&rtype, &rid, &tags).await?;
    Ok(json!({}))
}

pub(crate) async fn remove_tags(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: TagsInput = decode(input)?;
    let (rtype, rid) = resource(state, &input).await?;
    state.store.remove_tags(&rtype, &rid, &input.tag_keys).await?;
    Ok(json!({}))
}

pub(crate) async fn list_tags(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: TagsInput = decode(input)?;
    let (rtype, rid) = resource(state, &input).await?;
    let tags = state.store.list_tags(&rtype, &rid).await?;
    Ok(json!({ "TagList": tags_json(&tags) }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ActivationInput {
    description: Option<String>,
    default_instance_name: Option<String>,
    iam_role: Option<String>,
    registration_limit: Option<i64>,
    expiration_date: Option<Value>,
    #[serde(default)]
    tags: Vec<TagInput>,
}

const MAX_ACTIVATION_MS: i64 = 30 * 24 * 3600 * 1000;

pub(crate) async fn create_activation(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: ActivationInput = decode(input)?;
    let iam_role =
        input.iam_role.clone().ok_or_else(|| SsmError::validation("iamRole", "null", "Member must not be null"))?;
    wire::check_len("iamRole", &iam_role, 0, 64)?;
    wire::check_len("description", input.description.as_deref().unwrap_or(""), 0, 256)?;
    wire::check_len("defaultInstanceName", input.default_instance_name.as_deref().unwrap_or(""), 0, 256)?;
    let limit = input.registration_limit.unwrap_or(1);
    if !(1..=1000).contains(&limit) {
        return Err(SsmError::validation("registrationLimit", limit, "Member must have value between 1 and 1000"));
    }
    let now = now_ms();
    let expiration = match &input.expiration_date {
        None => now + 24 * 3600 * 1000,
        Some(Value::Number(n)) => (n.as_f64().unwrap_or(0.0) * 1000.0) as i64,
        Some(Value::String(s)) => wire::parse_time("ExpirationDate", s)?,
        Some(other) => {
            return Err(SsmError::new("SerializationException", format!("ExpirationDate {other} is not a timestamp.")));
        }
    };
    if expiration <= now || expiration > now + MAX_ACTIVATION_MS {
        return Err(SsmError::new(
            "InvalidParameters",
            "ExpirationDate must be in the future and at most 30 days from now.",
        ));
    }
    let tags = check_tags(&input.tags)?;
    let (activation, code) = crate::identity::new_activation(ActivationSpec {
        description: input.description.unwrap_or_default(),
        default_instance_name: input.default_instance_name.unwrap_or_default(),
        iam_role,
        registration_limit: limit,
        expiration_ms: expiration,
    });
    state.store.create_activation(&activation).await?;
    if !tags.is_empty() {
        state.store.add_tags("Activation", &activation.activation_id, &tags).await?;
    }
    Ok(json!({ "ActivationId": activation.activation_id, "ActivationCode": code }))
}

pub(crate) use crate::identity::ActivationSpec;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeActivationsInput {
    #[serde(default)]
    filters: Vec<ActivationFilter>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ActivationFilter {
    filter_key: String,
    #[serde(default)]
    filter_values: Vec<String>,
}

pub(crate) async fn describe_activations(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: DescribeActivationsInput = decode(input)?;
    let page = wire::page_size(input.max_results, 1, 50, 50)?;
    let offset = wire::offset_from_token(input.next_token.as_deref())?;
    let now = now_ms();
    let mut matched: Vec<Activation> = Vec::new();
    'next: for a in state.store.list_activations().await? {
        for f in &input.filters {
            let field = match f.filter_key.as_str() {
                "ActivationIds" => &a.activation_id,
                "DefaultInstanceName" => &a.default_instance_name,
                "IamRole" => &a.iam_role,
                other => {
                    return Err(SsmError::new("InvalidFilter", format!("Filter key '{other}' is not supported.")));
                }
            };
            if !f.filter_values.iter().any(|v| v == field) {
                continue 'next;
            }
        }
        matched.push(a);
    }
    let mut items = Vec::new();
    for a in matched.iter().skip(offset as usize).take(page as usize) {
        let tags = state.store.list_tags("Activation", &a.activation_id).await?;
        items.push(json!({
            "ActivationId": a.activation_id,
            "Description": a.description,
            "DefaultInstanceName": a.default_instance_name,
            "IamRole": a.iam_role,
            "RegistrationLimit": a.registration_limit,
            "RegistrationsCount": a.registrations_count,
            "ExpirationDate": epoch(a.expiration_ms),
            "Expired": a.expiration_ms <= now,
            "CreatedDate": epoch(a.created_ms),
            "Tags": tags_json(&tags),
        }));
    }
    let mut out = json!({ "ActivationList": items });
    if offset as usize + (page as usize) < matched.len() {
        out["NextToken"] = json!(wire::next_token(offset, page, true));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdInput {
    activation_id: Option<String>,
    instance_id: Option<String>,
}

pub(crate) async fn delete_activation(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: IdInput = decode(input)?;
    let id =
        input.activation_id.ok_or_else(|| SsmError::validation("activationId", "null", "Member must not be null"))?;
    state.store.delete_activation(&id).await.map_err(|e| match e {
        StoreError::NotFound(_) => SsmError::new("InvalidActivationId", format!("Activation {id} does not exist.")),
        other => other.into(),
    })?;
    Ok(json!({}))
}

pub(crate) async fn deregister(state: &AppState, input: Value) -> Result<Value, SsmError> {
    let input: IdInput = decode(input)?;
    let id = input.instance_id.ok_or_else(|| SsmError::validation("instanceId", "null", "Member must not be null"))?;
    check_instance_ids(std::slice::from_ref(&id))?;
    let changed = state.store.deregister_node(&id, now_ms()).await.map_err(|e| match e {
        StoreError::NotFound(_) => {
            SsmError::new("InvalidInstanceId", format!("Instance {id} is not a managed node of this fleetrun."))
        }
        other => other.into(),
    })?;
    for command_id in &changed {
        dispatch::settle(state.store.as_ref(), &state.dispatch, command_id).await?;
    }
    state.dispatch.wake(&id);
    tracing::info!(instance_id = %id, "Node deregistered.");
    Ok(json!({}))
}
