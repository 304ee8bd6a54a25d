//! How a failed step is described: SSM's `FailureMessage` text and its `FailureDetails`
//! (`FailureStage`, `FailureType`, `Details`).
//!
//! SSM shapes failure messages as `"Step fails when it is <phase>. <detail>. Please refer to
//! Automation Service Troubleshooting Guide for more diagnosis details."`. The phases fleetrun
//! uses are listed in [`FailurePoint`]; where a phrase was observed from SSM, its doc says so, the
//! others are fleetrun's own wording in the same style.

use std::collections::BTreeMap;

use super::error::StepError;

/// The closing sentence of every SSM step failure message.
const TROUBLESHOOTING: &str = "Please refer to Automation Service Troubleshooting Guide for more diagnosis details.";

/// SSM's `FailureDetails.FailureStage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureStage {
    InputValidation,
    PreVerification,
    Invocation,
    PostVerification,
}

impl FailureStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InputValidation => "InputValidation",
            Self::PreVerification => "PreVerification",
            Self::Invocation => "Invocation",
            Self::PostVerification => "PostVerification",
        }
    }
}

/// SSM's `FailureDetails.FailureType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureType {
    /// The action itself failed: a script raised, a command failed, an approval was rejected.
    Action,
    Permission,
    Throttling,
    /// A result or output did not meet the step's expectations.
    Verification,
    /// fleetrun itself failed (an agent vanished, a store write failed).
    Internal,
}

impl FailureType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "Action",
            Self::Permission => "Permission",
            Self::Throttling => "Throttling",
            Self::Verification => "Verification",
            Self::Internal => "Internal",
        }
    }
}

/// Where in a step's life it failed, which decides the message's phrase and the stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailurePoint {
    /// "validating and resolving the step inputs" (observed from SSM).
    ResolvingInputs,
    /// "Execute/Cancelling action" (observed from SSM for actions that fail as they start).
    Executing,
    /// "Poll action status for completion" (observed from SSM for `aws:executeScript` exceptions).
    Polling,
    /// "verifying the command has completed" (observed from SSM for a failed `aws:runCommand`).
    VerifyingCommand,
    /// "collecting the step outputs" (fleetrun's wording).
    CollectingOutputs,
}

impl FailurePoint {
    /// The phrase after "Step fails when it is ".
    pub fn phrase(self) -> &'static str {
        match self {
            Self::ResolvingInputs => "validating and resolving the step inputs",
            Self::Executing => "Execute/Cancelling action",
            Self::Polling => "Poll action status for completion",
            Self::VerifyingCommand => "verifying the command has completed",
            Self::CollectingOutputs => "collecting the step outputs",
        }
    }

    pub fn stage(self) -> FailureStage {
        match self {
            Self::ResolvingInputs => FailureStage::InputValidation,
            Self::Executing | Self::Polling => FailureStage::Invocation,
            Self::VerifyingCommand | Self::CollectingOutputs => FailureStage::PostVerification,
        }
    }
}

/// SSM's `FailureDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetails {
    pub stage: FailureStage,
    pub failure_type: FailureType,
    /// SSM's `Details` (`map<string, list<string>>`). fleetrun puts the detail text under
    /// `ExceptionMessage`; the keys SSM itself uses are not documented.
    pub details: BTreeMap<String, Vec<String>>,
}

/// Why one step run failed: the `FailureMessage` and `FailureDetails` of its `StepExecution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    pub message: String,
    pub details: FailureDetails,
}

impl StepFailure {
    /// A failure at `point` with `detail` (e.g. a script's traceback or a command's output).
    pub fn new(point: FailurePoint, failure_type: FailureType, detail: &str) -> Self {
        StepFailure {
            message: failure_message(point.phrase(), detail),
            details: FailureDetails {
                stage: point.stage(),
                failure_type,
                details: BTreeMap::from([("ExceptionMessage".to_owned(), vec![detail.to_owned()])]),
            },
        }
    }

    /// A failure under the engine's own rules.
    pub fn from_error(error: &StepError) -> Self {
        let failure_type = match error {
            StepError::OutputTypeMismatch { .. } => FailureType::Verification,
            _ => FailureType::Action,
        };
        Self::new(error.failure_point(), failure_type, &error.to_string())
    }

    /// A run that hit its timeout (SSM: `"Step timed out while step is <phase>"`).
    pub fn timed_out(point: FailurePoint, timeout_seconds: u64) -> Self {
        let detail = format!("Step execution timed out after {timeout_seconds} seconds");
        StepFailure {
            message: format!("Step timed out while step is {}. {detail}. {TROUBLESHOOTING}", point.phrase()),
            details: FailureDetails {
                stage: point.stage(),
                failure_type: FailureType::Action,
                details: BTreeMap::from([("ExceptionMessage".to_owned(), vec![detail])]),
            },
        }
    }
}

/// `"Step fails when it is <phrase>. <detail>. Please refer to ..."`. A detail that already ends
/// with a period gets no second one; an empty detail is left out.
pub fn failure_message(phrase: &str, detail: &str) -> String {
    let detail = detail.trim_end();
    let detail = detail.strip_suffix('.').unwrap_or(detail);
    if detail.is_empty() {
        format!("Step fails when it is {phrase}. {TROUBLESHOOTING}")
    } else {
        format!("Step fails when it is {phrase}. {detail}. {TROUBLESHOOTING}")
    }
}
