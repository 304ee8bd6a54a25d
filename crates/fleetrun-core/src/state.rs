//! The life of one invocation (one command on one node) and of the command as a whole.
//!
//! `InvocationState` is the only place that knows which state may follow which: every change goes through
//! [`transition`], so no other code can write a status string. The SSM names for each state (`Status` and
//! `StatusDetails`) are derived here too. This module does not know about rate control beyond counting errors;
//! `rate` decides what to release and when to stop.

use std::fmt;

/// Where one invocation is. Stored by its [`InvocationState::as_str`] name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InvocationState {
    /// Waiting for a rate-control slot.
    Pending,
    /// Released to the node's agent, not yet picked up.
    Queued,
    /// The agent has picked it up and is running it.
    InProgress,
    /// Cancel was requested while the agent had it; waiting for the agent to confirm.
    Cancelling,
    Success,
    /// The script ran and exited non-zero (or the agent lost it).
    Failed,
    /// The script ran longer than its execution timeout and was killed.
    ExecutionTimedOut,
    /// Not picked up before the command's delivery timeout; it never ran.
    DeliveryTimedOut,
    Cancelled,
    /// Never started because the command's MaxErrors was exceeded.
    Terminated,
    /// Could not be delivered: the node was deregistered.
    Undeliverable,
    /// The node went silent while it had this invocation and the command's ExpiresAfter has passed: no
    /// result is known. It counts as an error, but a result the node reports later replaces it, so a run
    /// that did finish is never left reported as lost.
    Abandoned,
}

/// Something that happened to an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Rate control gave it a slot.
    Release,
    /// The agent picked it up.
    Claim,
    /// The agent reported the end of the run.
    Finish(Finish),
    /// A user asked to cancel it.
    CancelRequested,
    /// The command's delivery timeout passed.
    DeliveryDeadline,
    /// MaxErrors was exceeded before it started.
    Terminate,
    /// The node was deregistered before it started.
    NodeGone,
    /// The command expired while its silent node had the invocation.
    Abandon,
}

/// How a run ended, as the agent reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Success,
    Failed,
    TimedOut,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    pub from: InvocationState,
    pub event: Event,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invocation in state {} cannot take event {:?}", self.from.as_str(), self.event)
    }
}

impl std::error::Error for IllegalTransition {}

/// The one transition function. Events that do not apply to a state are errors, except a cancel of a
/// finished invocation, which leaves it as it is (cancel is best effort, as in SSM).
pub fn transition(from: InvocationState, event: Event) -> Result<InvocationState, IllegalTransition> {
    use InvocationState as S;
    let next = match (from, event) {
        (S::Pending, Event::Release) => S::Queued,
        (S::Queued, Event::Claim) => S::InProgress,
        (S::InProgress | S::Cancelling | S::Abandoned, Event::Finish(finish)) => match finish {
            Finish::Success => S::Success,
            Finish::Failed => S::Failed,
            Finish::TimedOut => S::ExecutionTimedOut,
            Finish::Cancelled => S::Cancelled,
        },
        (S::Pending | S::Queued, Event::CancelRequested) => S::Cancelled,
        (S::InProgress, Event::CancelRequested) => S::Cancelling,
        (s, Event::CancelRequested) if s == S::Cancelling || s.is_terminal() => s,
        (S::Pending | S::Queued, Event::DeliveryDeadline) => S::DeliveryTimedOut,
        (S::Pending | S::Queued, Event::Terminate) => S::Terminated,
        (S::Pending | S::Queued, Event::NodeGone) => S::Undeliverable,
        (S::InProgress | S::Cancelling, Event::Abandon) => S::Abandoned,
        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(next)
}

impl InvocationState {
    pub const ALL: [InvocationState; 12] = [
        Self::Pending,
        Self::Queued,
        Self::InProgress,
        Self::Cancelling,
        Self::Success,
        Self::Failed,
        Self::ExecutionTimedOut,
        Self::DeliveryTimedOut,
        Self::Cancelled,
        Self::Terminated,
        Self::Undeliverable,
        Self::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Queued => "Queued",
            Self::InProgress => "InProgress",
            Self::Cancelling => "Cancelling",
            Self::Success => "Success",
            Self::Failed => "Failed",
            Self::ExecutionTimedOut => "ExecutionTimedOut",
            Self::DeliveryTimedOut => "DeliveryTimedOut",
            Self::Cancelled => "Cancelled",
            Self::Terminated => "Terminated",
            Self::Undeliverable => "Undeliverable",
            Self::Abandoned => "Abandoned",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Queued | Self::InProgress | Self::Cancelling)
    }

    /// Errors in SSM's sense: they count against MaxErrors.
    pub fn is_error(self) -> bool {
        matches!(self, Self::Failed | Self::ExecutionTimedOut | Self::Abandoned)
    }

    /// SSM's `Status` (CommandInvocationStatus) and `StatusDetails` for this state.
    pub fn ssm_status(self) -> (&'static str, &'static str) {
        match self {
            Self::Pending | Self::Queued => ("Pending", "Pending"),
            Self::InProgress => ("InProgress", "In Progress"),
            Self::Cancelling => ("Cancelling", "Cancelling"),
            Self::Success => ("Success", "Success"),
            Self::Failed => ("Failed", "Failed"),
            Self::ExecutionTimedOut => ("TimedOut", "Execution Timed Out"),
            Self::DeliveryTimedOut => ("TimedOut", "Delivery Timed Out"),
            Self::Cancelled => ("Cancelled", "Cancelled"),
            Self::Terminated => ("Failed", "Terminated"),
            Self::Undeliverable => ("Failed", "Undeliverable"),
            Self::Abandoned => ("Failed", "Failed"),
        }
    }

    /// The `Status` filter values of ListCommandInvocations that select this state.
    pub fn matches_filter(self, value: &str) -> bool {
        let (status, details) = self.ssm_status();
        value == status || value == details.replace(' ', "")
    }
}

/// How many invocations of a command are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub pending: u32,
    pub queued: u32,
    pub in_progress: u32,
    pub cancelling: u32,
    pub success: u32,
    pub failed: u32,
    pub execution_timed_out: u32,
    pub delivery_timed_out: u32,
    pub cancelled: u32,
    pub terminated: u32,
    pub undeliverable: u32,
    pub abandoned: u32,
}

impl Tally {
    pub fn add(&mut self, state: InvocationState, n: u32) {
        use InvocationState as S;
        let slot = match state {
            S::Pending => &mut self.pending,
            S::Queued => &mut self.queued,
            S::InProgress => &mut self.in_progress,
            S::Cancelling => &mut self.cancelling,
            S::Success => &mut self.success,
            S::Failed => &mut self.failed,
            S::ExecutionTimedOut => &mut self.execution_timed_out,
            S::DeliveryTimedOut => &mut self.delivery_timed_out,
            S::Cancelled => &mut self.cancelled,
            S::Terminated => &mut self.terminated,
            S::Undeliverable => &mut self.undeliverable,
            S::Abandoned => &mut self.abandoned,
        };
        *slot += n;
    }

    pub fn from_states(states: impl IntoIterator<Item = InvocationState>) -> Self {
        let mut tally = Self::default();
        for state in states {
            tally.add(state, 1);
        }
        tally
    }

    pub fn total(&self) -> u32 {
        self.unfinished() + self.completed()
    }

    /// Invocations that are not in a terminal state.
    pub fn unfinished(&self) -> u32 {
        self.pending + self.queued + self.in_progress + self.cancelling
    }

    /// SSM's `CompletedCount`: invocations in a terminal state.
    pub fn completed(&self) -> u32 {
        self.success
            + self.failed
            + self.execution_timed_out
            + self.delivery_timed_out
            + self.cancelled
            + self.terminated
            + self.undeliverable
            + self.abandoned
    }

    /// SSM's `ErrorCount`: Failed plus Execution Timed Out (an abandoned invocation counts as failed).
    pub fn errors(&self) -> u32 {
        self.failed + self.execution_timed_out + self.abandoned
    }

    /// Invocations holding a rate-control slot.
    pub fn in_flight(&self) -> u32 {
        self.queued + self.in_progress + self.cancelling
    }
}

/// SSM's CommandStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandStatus {
    Pending,
    InProgress,
    Success,
    Cancelled,
    Failed,
    TimedOut,
    Cancelling,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Success => "Success",
            Self::Cancelled => "Cancelled",
            Self::Failed => "Failed",
            Self::TimedOut => "TimedOut",
            Self::Cancelling => "Cancelling",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::InProgress | Self::Cancelling)
    }
}

/// A command's `Status` and `StatusDetails`, derived from its invocations.
///
/// Rules (SSM's, where SSM documents them): while anything is unfinished the command is Pending (nothing
/// picked up yet), Cancelling (a cancel was asked) or InProgress. Once all are finished: every invocation
/// succeeded, or the only others never reached the node (Undeliverable) → Success; a cancel took effect →
/// Cancelled; errors exceeded MaxErrors → Failed (TimedOut / Execution Timed Out when every error was an
/// execution timeout); every invocation missed delivery → TimedOut / Delivery Timed Out; nothing reached
/// any node → Failed / Undeliverable; otherwise → Failed / Incomplete.
pub fn command_status(tally: &Tally, cancel_requested: bool, max_errors: u32) -> (CommandStatus, &'static str) {
    if tally.unfinished() > 0 {
        // Cancelling while a cancel is still being carried out; a cancel of some nodes that has taken
        // effect leaves the others' rollout In Progress.
        if tally.cancelling > 0 {
            return (CommandStatus::Cancelling, "Cancelling");
        }
        if tally.in_progress + tally.cancelling + tally.completed() == 0 {
            return (CommandStatus::Pending, "Pending");
        }
        return (CommandStatus::InProgress, "In Progress");
    }
    let total = tally.total();
    if total == 0 {
        return (CommandStatus::Failed, "No Instances In Tag");
    }
    if tally.success > 0 && tally.success + tally.undeliverable == total {
        return (CommandStatus::Success, "Success");
    }
    if cancel_requested && tally.cancelled > 0 {
        return (CommandStatus::Cancelled, "Cancelled");
    }
    if tally.errors() > max_errors || (tally.errors() > 0 && tally.errors() + tally.terminated == total) {
        if tally.failed + tally.abandoned == 0 {
            return (CommandStatus::TimedOut, "Execution Timed Out");
        }
        return (CommandStatus::Failed, "Failed");
    }
    if tally.delivery_timed_out == total {
        return (CommandStatus::TimedOut, "Delivery Timed Out");
    }
    if tally.undeliverable == total {
        return (CommandStatus::Failed, "Undeliverable");
    }
    if tally.cancelled == total {
        return (CommandStatus::Cancelled, "Cancelled");
    }
    (CommandStatus::Failed, "Incomplete")
}

#[cfg(test)]
mod tests;
