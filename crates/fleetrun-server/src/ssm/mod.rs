//! The AWS SSM façade: JSON 1.1 over `POST /`, the operation named by `X-Amz-Target: AmazonSSM.<Operation>`.
//!
//! A request is parsed into an [`Operation`], then dispatched to one handler per operation. Handlers decode
//! their input, call the store and the core, and encode the output; only this module knows SSM's names.
//! Authentication has already happened (the `auth` layer) when a request reaches [`handle`].

pub mod attachments;
mod automation;
mod commands;
mod documents;
pub mod error;
mod nodes;
mod parameters;
pub(crate) mod references;

pub(crate) use commands::cancel_command;
pub(crate) use parameters::find as find_parameter;
pub(crate) use send::send_command;
mod send;
mod wire;

use crate::app::AppState;
use crate::auth::Principal;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use error::SsmError;
use serde_json::Value;

/// The operations fleetrun implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    SendCommand,
    ListCommands,
    ListCommandInvocations,
    GetCommandInvocation,
    CancelCommand,
    CreateDocument,
    GetDocument,
    DescribeDocument,
    ListDocuments,
    ListDocumentVersions,
    UpdateDocument,
    UpdateDocumentDefaultVersion,
    DeleteDocument,
    DescribeInstanceInformation,
    AddTagsToResource,
    RemoveTagsFromResource,
    ListTagsForResource,
    CreateActivation,
    DescribeActivations,
    DeleteActivation,
    DeregisterManagedInstance,
    PutParameter,
    GetParameter,
    GetParameters,
    GetParametersByPath,
    DescribeParameters,
    GetParameterHistory,
    LabelParameterVersion,
    DeleteParameter,
    DeleteParameters,
    StartAutomationExecution,
    GetAutomationExecution,
    DescribeAutomationExecutions,
    DescribeAutomationStepExecutions,
    StopAutomationExecution,
    SendAutomationSignal,
}

impl Operation {
    pub const ALL: [Operation; 36] = [
        Self::SendCommand,
        Self::ListCommands,
        Self::ListCommandInvocations,
        Self::GetCommandInvocation,
        Self::CancelCommand,
        Self::CreateDocument,
        Self::GetDocument,
        Self::DescribeDocument,
        Self::ListDocuments,
        Self::ListDocumentVersions,
        Self::UpdateDocument,
        Self::UpdateDocumentDefaultVersion,
        Self::DeleteDocument,
        Self::DescribeInstanceInformation,
        Self::AddTagsToResource,
        Self::RemoveTagsFromResource,
        Self::ListTagsForResource,
        Self::CreateActivation,
        Self::DescribeActivations,
        Self::DeleteActivation,
        Self::DeregisterManagedInstance,
        Self::PutParameter,
        Self::GetParameter,
        Self::GetParameters,
        Self::GetParametersByPath,
        Self::DescribeParameters,
        Self::GetParameterHistory,
        Self::LabelParameterVersion,
        Self::DeleteParameter,
        Self::DeleteParameters,
        Self::StartAutomationExecution,
        Self::GetAutomationExecution,
        Self::DescribeAutomationExecutions,
        Self::DescribeAutomationStepExecutions,
        Self::StopAutomationExecution,
        Self::SendAutomationSignal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::SendCommand => "SendCommand",
            Self::ListCommands => "ListCommands",
            Self::ListCommandInvocations => "ListCommandInvocations",
            Self::GetCommandInvocation => "GetCommandInvocation",
            Self::CancelCommand => "CancelCommand",
            Self::CreateDocument => "CreateDocument",
            Self::GetDocument => "GetDocument",
            Self::DescribeDocument => "DescribeDocument",
            Self::ListDocuments => "ListDocuments",
            Self::ListDocumentVersions => "ListDocumentVersions",
            Self::UpdateDocument => "UpdateDocument",
            Self::UpdateDocumentDefaultVersion => "UpdateDocumentDefaultVersion",
            Self::DeleteDocument => "DeleteDocument",
            Self::DescribeInstanceInformation => "DescribeInstanceInformation",
            Self::AddTagsToResource => "AddTagsToResource",
            Self::RemoveTagsFromResource => "RemoveTagsFromResource",
            Self::ListTagsForResource => "ListTagsForResource",
            Self::CreateActivation => "CreateActivation",
            Self::DescribeActivations => "DescribeActivations",
            Self::DeleteActivation => "DeleteActivation",
            Self::DeregisterManagedInstance => "DeregisterManagedInstance",
            Self::PutParameter => "PutParameter",
            Self::GetParameter => "GetParameter",
            Self::GetParameters => "GetParameters",
            Self::GetParametersByPath => "GetParametersByPath",
            Self::DescribeParameters => "DescribeParameters",
            Self::GetParameterHistory => "GetParameterHistory",
            Self::LabelParameterVersion => "LabelParameterVersion",
            Self::DeleteParameter => "DeleteParameter",
            Self::DeleteParameters => "DeleteParameters",
            Self::StartAutomationExecution => "StartAutomationExecution",
            Self::GetAutomationExecution => "GetAutomationExecution",
            Self::DescribeAutomationExecutions => "DescribeAutomationExecutions",
            Self::DescribeAutomationStepExecutions => "DescribeAutomationStepExecutions",
            Self::StopAutomationExecution => "StopAutomationExecution",
            Self::SendAutomationSignal => "SendAutomationSignal",
        }
    }

    /// Parses `X-Amz-Target`. An unknown or missing target is `UnknownOperationException`.
    pub fn from_target(headers: &HeaderMap) -> Result<Self, SsmError> {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        let unknown = || {
            SsmError::new("UnknownOperationException", format!("Operation '{target}' is not supported by fleetrun."))
        };
        let name = target.strip_prefix("AmazonSSM.").ok_or_else(unknown)?;
        Self::ALL.into_iter().find(|op| op.name() == name).ok_or_else(unknown)
    }
}

/// Handles one authenticated SSM request.
pub async fn handle(state: &AppState, principal: &Principal, headers: &HeaderMap, body: &[u8]) -> Response {
    match dispatch(state, principal, headers, body).await {
        Ok(output) => json_response(StatusCode::OK, &output),
        Err(error) => error.into_response(),
    }
}

async fn dispatch(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, SsmError> {
    let operation = Operation::from_target(headers)?;
    if !principal.is_admin() {
        return Err(SsmError::new(
            "AccessDeniedException",
            format!(
                "Access key {} is a node's key and may not call ssm:{}.",
                principal.access_key_id(),
                operation.name()
            ),
        ));
    }
    let input: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| SsmError::new("SerializationException", format!("The request body is not valid JSON: {e}")))?
    };
    // No SSM member may hold a NUL character, and PostgreSQL text cannot store one: refuse it here, once.
    if body.windows(6).any(|w| w == b"\\u0000") {
        return Err(SsmError::new(
            "SerializationException",
            "The request contains a NUL character (\\u0000), which no member accepts.",
        ));
    }
    if !input.is_object() {
        return Err(SsmError::new("SerializationException", "The request body must be a JSON object."));
    }
    tracing::debug!(operation = operation.name(), "SSM request.");
    match operation {
        Operation::SendCommand => send::send_command(state, input).await,
        Operation::ListCommands => commands::list_commands(state, input).await,
        Operation::ListCommandInvocations => commands::list_command_invocations(state, input).await,
        Operation::GetCommandInvocation => commands::get_command_invocation(state, input).await,
        Operation::CancelCommand => commands::cancel_command(state, input).await,
        Operation::CreateDocument => documents::create_document(state, input).await,
        Operation::GetDocument => documents::get_document(state, input).await,
        Operation::DescribeDocument => documents::describe_document(state, input).await,
        Operation::ListDocuments => documents::list_documents(state, input).await,
        Operation::ListDocumentVersions => documents::list_document_versions(state, input).await,
        Operation::UpdateDocument => documents::update_document(state, input).await,
        Operation::UpdateDocumentDefaultVersion => documents::update_default_version(state, input).await,
        Operation::DeleteDocument => documents::delete_document(state, input).await,
        Operation::DescribeInstanceInformation => nodes::describe_instance_information(state, input).await,
        Operation::AddTagsToResource => nodes::add_tags(state, input).await,
        Operation::RemoveTagsFromResource => nodes::remove_tags(state, input).await,
        Operation::ListTagsForResource => nodes::list_tags(state, input).await,
        Operation::CreateActivation => nodes::create_activation(state, input).await,
        Operation::DescribeActivations => nodes::describe_activations(state, input).await,
        Operation::DeleteActivation => nodes::delete_activation(state, input).await,
        Operation::DeregisterManagedInstance => nodes::deregister(state, input).await,
        Operation::PutParameter => parameters::put_parameter(state, principal, input).await,
        Operation::GetParameter => parameters::get_parameter(state, input).await,
        Operation::GetParameters => parameters::get_parameters(state, input).await,
        Operation::GetParametersByPath => parameters::get_parameters_by_path(state, input).await,
        Operation::DescribeParameters => parameters::describe_parameters(state, input).await,
        Operation::GetParameterHistory => parameters::get_parameter_history(state, input).await,
        Operation::LabelParameterVersion => parameters::label_parameter_version(state, input).await,
        Operation::DeleteParameter => parameters::delete_parameter(state, input).await,
        Operation::DeleteParameters => parameters::delete_parameters(state, input).await,
        Operation::StartAutomationExecution => automation::start_automation_execution(state, principal, input).await,
        Operation::GetAutomationExecution => automation::get_automation_execution(state, input).await,
        Operation::DescribeAutomationExecutions => automation::describe_automation_executions(state, input).await,
        Operation::DescribeAutomationStepExecutions => {
            automation::describe_automation_step_executions(state, input).await
        }
        Operation::StopAutomationExecution => automation::stop_automation_execution(state, input).await,
        Operation::SendAutomationSignal => crate::automation::send_automation_signal(state, principal, input).await,
    }
}

/// A JSON 1.1 response with a request id, as botocore expects.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    (
        status,
        [("content-type", "application/x-amz-json-1.1"), ("x-amzn-requestid", request_id.as_str())],
        body.to_string(),
    )
        .into_response()
}
