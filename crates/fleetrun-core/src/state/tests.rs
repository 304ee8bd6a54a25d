//! Table-driven tests of the invocation state machine and the command status rules.

use super::*;
use InvocationState as S;

#[test]
fn transitions_table() {
    let ok = [
        (S::Pending, Event::Release, S::Queued),
        (S::Queued, Event::Claim, S::InProgress),
        (S::InProgress, Event::Finish(Finish::Success), S::Success),
        (S::InProgress, Event::Finish(Finish::Failed), S::Failed),
        (S::InProgress, Event::Finish(Finish::TimedOut), S::ExecutionTimedOut),
        (S::InProgress, Event::Finish(Finish::Cancelled), S::Cancelled),
        (S::Cancelling, Event::Finish(Finish::Cancelled), S::Cancelled),
        // A script that finished before the kill reached it is reported truthfully.
        (S::Cancelling, Event::Finish(Finish::Success), S::Success),
        (S::Pending, Event::CancelRequested, S::Cancelled),
        (S::Queued, Event::CancelRequested, S::Cancelled),
        (S::InProgress, Event::CancelRequested, S::Cancelling),
        (S::Cancelling, Event::CancelRequested, S::Cancelling),
        (S::Success, Event::CancelRequested, S::Success),
        (S::Pending, Event::DeliveryDeadline, S::DeliveryTimedOut),
        (S::Queued, Event::DeliveryDeadline, S::DeliveryTimedOut),
        (S::Pending, Event::Terminate, S::Terminated),
        (S::Queued, Event::Terminate, S::Terminated),
        (S::Queued, Event::NodeGone, S::Undeliverable),
        (S::InProgress, Event::Abandon, S::Abandoned),
        (S::Cancelling, Event::Abandon, S::Abandoned),
        // A late result replaces Abandoned: a run that finished is never left reported as lost.
        (S::Abandoned, Event::Finish(Finish::Success), S::Success),
        (S::Abandoned, Event::CancelRequested, S::Abandoned),
    ];
    for (from, event, to) in ok {
        assert_eq!(transition(from, event), Ok(to), "{from:?} + {event:?}");
    }
    let illegal = [
        (S::Pending, Event::Claim),
        (S::Pending, Event::Finish(Finish::Success)),
        (S::Queued, Event::Finish(Finish::Success)),
        (S::InProgress, Event::DeliveryDeadline),
        (S::InProgress, Event::Terminate),
        (S::InProgress, Event::Release),
        (S::Success, Event::Finish(Finish::Failed)),
        (S::DeliveryTimedOut, Event::Claim),
        (S::Terminated, Event::Release),
        (S::Cancelled, Event::Claim),
        (S::Pending, Event::Abandon),
        (S::Success, Event::Abandon),
    ];
    for (from, event) in illegal {
        assert!(transition(from, event).is_err(), "{from:?} + {event:?} should be illegal");
    }
}

#[test]
fn names_round_trip_and_ssm_names() {
    for state in InvocationState::ALL {
        assert_eq!(InvocationState::parse(state.as_str()), Some(state));
    }
    assert_eq!(S::DeliveryTimedOut.ssm_status(), ("TimedOut", "Delivery Timed Out"));
    assert_eq!(S::ExecutionTimedOut.ssm_status(), ("TimedOut", "Execution Timed Out"));
    assert_eq!(S::Queued.ssm_status(), ("Pending", "Pending"));
    assert!(S::DeliveryTimedOut.matches_filter("DeliveryTimedOut"));
    assert!(S::DeliveryTimedOut.matches_filter("TimedOut"));
    assert!(!S::DeliveryTimedOut.matches_filter("ExecutionTimedOut"));
    assert!(S::Terminated.matches_filter("Terminated"));
}

fn tally(states: &[(InvocationState, u32)]) -> Tally {
    let mut t = Tally::default();
    for &(s, n) in states {
        t.add(s, n);
    }
    t
}

/// (invocation states, cancel requested, max errors, expected status and details)
type Case = (&'static [(InvocationState, u32)], bool, u32, (CommandStatus, &'static str));

#[test]
fn command_status_table() {
    let cases: &[Case] = &[
        (&[(S::Pending, 3)], false, 0, (CommandStatus::Pending, "Pending")),
        (&[(S::Queued, 3)], false, 0, (CommandStatus::Pending, "Pending")),
        (&[(S::InProgress, 1), (S::Pending, 2)], false, 0, (CommandStatus::InProgress, "In Progress")),
        (&[(S::Success, 1), (S::Pending, 2)], false, 0, (CommandStatus::InProgress, "In Progress")),
        (&[(S::Cancelling, 1), (S::Cancelled, 2)], true, 0, (CommandStatus::Cancelling, "Cancelling")),
        (&[(S::InProgress, 1), (S::Cancelled, 1)], true, 0, (CommandStatus::InProgress, "In Progress")),
        (&[(S::Success, 3)], false, 0, (CommandStatus::Success, "Success")),
        (&[(S::Success, 1), (S::Undeliverable, 4)], false, 0, (CommandStatus::Success, "Success")),
        (&[(S::Undeliverable, 4)], false, 0, (CommandStatus::Failed, "Undeliverable")),
        (&[(S::Cancelled, 2), (S::Success, 1)], true, 0, (CommandStatus::Cancelled, "Cancelled")),
        (&[(S::Failed, 1), (S::Success, 9)], false, 0, (CommandStatus::Failed, "Failed")),
        (&[(S::Failed, 1), (S::Success, 9)], false, 1, (CommandStatus::Failed, "Incomplete")),
        (&[(S::Failed, 2), (S::Terminated, 8)], false, 1, (CommandStatus::Failed, "Failed")),
        (&[(S::ExecutionTimedOut, 1)], false, 0, (CommandStatus::TimedOut, "Execution Timed Out")),
        (&[(S::ExecutionTimedOut, 1), (S::Failed, 1)], false, 0, (CommandStatus::Failed, "Failed")),
        (&[(S::DeliveryTimedOut, 2)], false, 0, (CommandStatus::TimedOut, "Delivery Timed Out")),
        // Delivery timeouts do not count as errors but keep the command from being a Success.
        (&[(S::DeliveryTimedOut, 1), (S::Success, 1)], false, 0, (CommandStatus::Failed, "Incomplete")),
        (&[], false, 0, (CommandStatus::Failed, "No Instances In Tag")),
        (&[(S::Abandoned, 1), (S::Success, 1)], false, 0, (CommandStatus::Failed, "Failed")),
    ];
    for (states, cancel, max_errors, want) in cases {
        let t = tally(states);
        assert_eq!(
            command_status(&t, *cancel, *max_errors),
            *want,
            "{states:?} cancel={cancel} max_errors={max_errors}"
        );
    }
}

#[test]
fn tally_counters() {
    let t = tally(&[
        (S::Success, 2),
        (S::Failed, 1),
        (S::ExecutionTimedOut, 1),
        (S::DeliveryTimedOut, 1),
        (S::Queued, 2),
        (S::InProgress, 1),
    ]);
    assert_eq!(t.total(), 8);
    assert_eq!(t.completed(), 5);
    assert_eq!(t.errors(), 2);
    assert_eq!(t.in_flight(), 3);
}
