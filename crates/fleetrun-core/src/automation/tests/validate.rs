//! Validation at CreateDocument: SSM's own examples are accepted, and every rule refuses what it
//! should with a message naming the step and the field.

use super::{refused, runbook};
use crate::automation::{
    Action, OnCancel, OnFailure, RunbookError, Runtime, RuntimeDecl, ScriptDecl, validate_runbook,
};
use crate::document::{DocumentFormat, ParamType};

/// Modelled on the example in SSM's aws:executeScript and "scripted runbook" documentation: an
/// inline Python script with a handler, an `InputPayload` built from parameters, and outputs that
/// select from the returned `Payload`.
pub(super) const EXECUTE_SCRIPT_EXAMPLE: &str = r#"
description: 'An example of an Automation runbook that reads instance states with a script.'
schemaVersion: '0.3'
assumeRole: '{{AutomationAssumeRole}}'
parameters:
  AutomationAssumeRole:
    type: String
    description: '(Optional) The ARN of the role that allows Automation to perform the actions on your behalf.'
    default: ''
  PrimaryPatchGroupTag:
    type: StringMap
    description: '(Required) The tag of the instances. Example: {"key" : "value"}'
  Operation:
    type: String
    allowedValues:
      - Install
      - Scan
    default: Install
mainSteps:
  - name: getPrimaryInstanceState
    action: 'aws:executeScript'
    timeoutSeconds: 120
    onFailure: Abort
    inputs:
      Runtime: python3.8
      Handler: getInstanceStates
      InputPayload:
        primaryTag: '{{PrimaryPatchGroupTag}}'
        operation: 'Operation is {{ Operation }}'
      Script: |-
        def getInstanceStates(events,context):
          tag = events['primaryTag']
          tagKey, tagValue = list(tag.items())[0]
          return {'tagKey': 'tag:' + tagKey, 'states': {'i-1': 'running'}}
    outputs:
      - Name: Payload
        Selector: $.Payload
        Type: StringMap
      - Name: primaryPatchGroupKey
        Selector: $.Payload.tagKey
        Type: String
      - Name: originalInstanceStates
        Selector: $.Payload.states
        Type: StringMap
    nextStep: verifyPrimaryInstancesRunning
  - name: verifyPrimaryInstancesRunning
    action: 'aws:executeScript'
    timeoutSeconds: 600
    onFailure: Abort
    inputs:
      Runtime: python3.8
      Handler: verifyInstancesRunning
      InputPayload:
        targetInstances: '{{getPrimaryInstanceState.originalInstanceStates}}'
      Script: |-
        def verifyInstancesRunning(events,context):
          for instance in events['targetInstances']:
            print(instance)
    isEnd: true
outputs:
  - getPrimaryInstanceState.primaryPatchGroupKey
  - getPrimaryInstanceState.OutputPayload
"#;

#[test]
fn execute_script_example_is_accepted() {
    let runbook = runbook(EXECUTE_SCRIPT_EXAMPLE);
    assert_eq!(runbook.assume_role.as_deref(), Some("{{AutomationAssumeRole}}"));
    assert_eq!(runbook.steps.len(), 2);
    let first = &runbook.steps[0];
    assert_eq!(first.name, "getPrimaryInstanceState");
    let Action::ExecuteScript(script) = &first.action else { panic!("not a script: {:?}", first.action) };
    assert_eq!(
        *script,
        ScriptDecl {
            runtime: RuntimeDecl::Literal(Runtime::Python { minor: 8 }),
            handler: Some("getInstanceStates".to_owned()),
            attachment: None,
            has_script: true,
        }
    );
    assert_eq!(first.timeout_seconds, Some(120));
    assert_eq!(first.effective_timeout_seconds(), Some(120));
    assert_eq!(first.on_failure, OnFailure::Abort);
    assert!(first.is_critical);
    assert_eq!(first.max_attempts, 1);
    assert_eq!(first.next_step.as_deref(), Some("verifyPrimaryInstancesRunning"));
    let outputs: Vec<_> = first.outputs.iter().map(|o| (o.name.as_str(), o.selector.as_str(), o.kind)).collect();
    assert_eq!(
        outputs,
        [
            ("Payload", "$.Payload", ParamType::StringMap),
            ("primaryPatchGroupKey", "$.Payload.tagKey", ParamType::String),
            ("originalInstanceStates", "$.Payload.states", ParamType::StringMap),
        ]
    );
    assert!(runbook.steps[1].is_end);
    let keys: Vec<_> = runbook.outputs.iter().map(|o| o.key()).collect();
    assert_eq!(keys, ["getPrimaryInstanceState.primaryPatchGroupKey", "getPrimaryInstanceState.OutputPayload"]);
    assert_eq!(runbook.document.parameters.len(), 3);
}

#[test]
fn the_same_runbook_in_json_is_accepted() {
    let content = r#"{
      "schemaVersion": "0.3",
      "parameters": {"Name": {"type": "String", "default": "world"}},
      "mainSteps": [
        {"name": "hello", "action": "aws:executeScript",
         "inputs": {"Runtime": "python3.11", "Handler": "handler",
                    "Script": "def handler(events, context):\n  return {'message': 'hi ' + events['name']}",
                    "InputPayload": {"name": "{{ Name }}"}},
         "outputs": [{"Name": "message", "Selector": "$.Payload.message", "Type": "String"}]}
      ],
      "outputs": ["hello.message"]
    }"#;
    let runbook = validate_runbook(content, DocumentFormat::Json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runbook.steps[0].outputs[0].name, "message");
}

/// A runbook with one step of each kind that uses every step property.
#[test]
fn every_step_property_is_read() {
    let runbook = runbook(
        r#"
schemaVersion: "0.3"
parameters:
  Instance: {type: String}
files:
  tools.zip:
    checksums:
      sha256: "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
    size: 1024
mainSteps:
  - name: run
    action: aws:runCommand
    maxAttempts: 3
    timeoutSeconds: "60"
    onFailure: step:cleanup
    onCancel: step:cleanup
    isCritical: "false"
    description: Runs a command.
    inputs:
      DocumentName: AWS-RunShellScript
      InstanceIds: ["{{ Instance }}"]
      Parameters: {commands: [date]}
  - name: script
    action: aws:executeScript
    onFailure: Continue
    inputs: {Runtime: PowerShell 7.4, Attachment: tools.zip}
  - name: wait
    action: aws:sleep
    inputs: {Duration: PT10S}
  - name: hold
    action: aws:pause
    inputs: {}
  - name: approve
    action: aws:approve
    inputs: {Approvers: [alice, bob], MinRequiredApprovals: 2, Message: Please approve}
    isEnd: true
  - name: cleanup
    action: aws:sleep
    inputs: {Timestamp: "2020-01-01T01:00:00Z"}
"#,
    );
    let run = &runbook.steps[0];
    assert_eq!((run.max_attempts, run.timeout_seconds), (3, Some(60)));
    assert_eq!(run.on_failure, OnFailure::Step("cleanup".to_owned()));
    assert_eq!(run.on_cancel, OnCancel::Step("cleanup".to_owned()));
    assert!(!run.is_critical);
    assert_eq!(run.description, "Runs a command.");
    assert_eq!(run.on_failure.to_wire(), "step:cleanup");
    assert_eq!(run.valid_next_steps(&runbook), ["cleanup", "script"]);
    let script = &runbook.steps[1];
    assert!(!script.is_critical, "onFailure Continue makes a step non-critical by default");
    assert_eq!(script.effective_timeout_seconds(), Some(600));
    assert_eq!(runbook.steps[4].effective_timeout_seconds(), Some(604_800));
    assert_eq!(runbook.steps[4].valid_next_steps(&runbook), Vec::<&str>::new());
    assert_eq!(
        runbook.attachment_sha256("tools.zip"),
        Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789")
    );
    assert_eq!(runbook.file("tools.zip").and_then(|file| file.size), Some(1024));
    let actions: Vec<_> = runbook.steps.iter().map(|step| step.action.name()).collect();
    assert_eq!(actions, ["aws:runCommand", "aws:executeScript", "aws:sleep", "aws:pause", "aws:approve", "aws:sleep"]);
}

#[test]
fn runtimes() {
    for (text, expected) in [
        ("python3.6", Some(Runtime::Python { minor: 6 })),
        ("python3.11", Some(Runtime::Python { minor: 11 })),
        ("python3.5", None),
        ("python3", None),
        ("python3.x", None),
        ("Python3.8", None),
        ("PowerShell Core 6.0", Some(Runtime::PowerShellCore6)),
        ("PowerShell 7.0", Some(Runtime::PowerShell7 { minor: 0 })),
        ("PowerShell 7.4", Some(Runtime::PowerShell7 { minor: 4 })),
        ("PowerShell 6.0", None),
        ("pwsh", None),
    ] {
        assert_eq!(Runtime::parse(text), expected, "{text}");
        if let Some(runtime) = expected {
            assert_eq!(runtime.to_wire(), text);
        }
    }
}

#[test]
fn a_runtime_may_come_from_a_parameter() {
    let runbook = runbook(
        r#"
schemaVersion: "0.3"
parameters:
  Runtime: {type: String, default: python3.11}
mainSteps:
  - name: s
    action: aws:executeScript
    inputs: {Runtime: "{{ Runtime }}", Script: "x"}
"#,
    );
    let Action::ExecuteScript(script) = &runbook.steps[0].action else { panic!() };
    assert_eq!(script.runtime, RuntimeDecl::Parameter("Runtime".to_owned()));
}

/// Wraps `steps` (YAML list items, indented by two) in a runbook with a few parameters.
fn with_steps(steps: &str) -> String {
    format!(
        "schemaVersion: '0.3'\nparameters:\n  Name: {{type: String, default: x}}\n  Count: {{type: Integer, default: 1}}\nfiles:\n  lib.zip: {{checksums: {{sha256: {}}}}}\n  main.py: {{checksums: {{sha256: {}}}}}\nmainSteps:\n{steps}",
        "a".repeat(64),
        "b".repeat(64)
    )
}

/// Every rule of validation, with the exact message it gives.
#[test]
fn refusals() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "step name with a dash",
            "- {name: my-step, action: aws:pause, inputs: {}}",
            r#"Step name "my-step" is invalid: it must be one or more letters, digits or '_'"#,
        ),
        (
            "duplicate step names",
            "- {name: a, action: aws:pause, inputs: {}}\n- {name: a, action: aws:pause, inputs: {}}",
            r#"Step name "a" is used more than once"#,
        ),
        (
            "unsupported action",
            "- {name: a, action: aws:executeAwsApi, inputs: {Service: ec2, Api: DescribeInstances}}",
            r#"Step "a" uses action "aws:executeAwsApi", which fleetrun does not support (supported: aws:executeScript, aws:runCommand, aws:branch, aws:sleep, aws:pause, aws:approve)"#,
        ),
        (
            "nextStep names no step",
            "- {name: a, action: aws:pause, inputs: {}, nextStep: b}",
            r#"Step "a" field "nextStep" names step "b", which does not exist"#,
        ),
        (
            "onFailure names no step",
            "- {name: a, action: aws:pause, inputs: {}, onFailure: 'step:b'}",
            r#"Step "a" field "onFailure" names step "b", which does not exist"#,
        ),
        (
            "onCancel names no step",
            "- {name: a, action: aws:pause, inputs: {}, onCancel: 'step:b'}",
            r#"Step "a" field "onCancel" names step "b", which does not exist"#,
        ),
        (
            "onFailure is something else",
            "- {name: a, action: aws:pause, inputs: {}, onFailure: Retry}",
            r#"Step "a" field "onFailure" must be Abort, Continue or step:<step name>"#,
        ),
        (
            "onFailure step: without a name",
            "- {name: a, action: aws:pause, inputs: {}, onFailure: 'step:'}",
            r#"Step "a" field "onFailure" must be Abort, Continue or step:<step name>"#,
        ),
        (
            "onCancel Continue",
            "- {name: a, action: aws:pause, inputs: {}, onCancel: Continue}",
            r#"Step "a" field "onCancel" must be Abort or step:<step name>"#,
        ),
        (
            "maxAttempts zero",
            "- {name: a, action: aws:pause, inputs: {}, maxAttempts: 0}",
            r#"Step "a" field "maxAttempts" must be an integer of at least 1"#,
        ),
        (
            "maxAttempts a reference",
            "- {name: a, action: aws:pause, inputs: {}, maxAttempts: '{{ Count }}'}",
            r#"Step "a" field "maxAttempts" must be an integer of at least 1"#,
        ),
        (
            "timeoutSeconds zero",
            "- {name: a, action: aws:pause, inputs: {}, timeoutSeconds: 0}",
            r#"Step "a" field "timeoutSeconds" must be an integer of at least 1"#,
        ),
        (
            "isEnd not a boolean",
            "- {name: a, action: aws:pause, inputs: {}, isEnd: yes please}",
            r#"Step "a" field "isEnd" must be true or false"#,
        ),
        (
            "script without runtime",
            "- {name: a, action: aws:executeScript, inputs: {Handler: h, Script: x}}",
            r#"Step "a" input "Runtime" is required"#,
        ),
        (
            "script with an unknown runtime",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: ruby3.2, Script: x}}",
            r#"Step "a" input "Runtime" "ruby3.2" is not supported (python3.6 or later, PowerShell Core 6.0, PowerShell 7.x, or a {{ parameter }} reference)"#,
        ),
        (
            "runtime refers to an undeclared parameter",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: '{{ Missing }}', Script: x}}",
            r#"Step "a" input "Runtime" "{{ Missing }}" is not supported (python3.6 or later, PowerShell Core 6.0, PowerShell 7.x, or a {{ parameter }} reference)"#,
        ),
        (
            "python without handler",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: python3.11, Script: x}}",
            r#"Step "a" input "Handler" is required"#,
        ),
        (
            "neither script nor attachment",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0}}",
            r#"Step "a" needs input "Script" or "Attachment""#,
        ),
        (
            "attachment not in files",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: python3.11, Handler: m.h, Attachment: other.zip}}",
            r#"Step "a" input "Attachment" names "other.zip", which the document's "files" section does not declare"#,
        ),
        (
            "PowerShell attachment that is not a zip",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Attachment: main.py}}",
            r#"Step "a" input "Attachment" is invalid: a PowerShell 7.0 attachment must be a .zip file"#,
        ),
        (
            "unknown script input",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: python3.11, handler: h, Script: x}}",
            r#"Step "a" input "handler" is not supported by aws:executeScript"#,
        ),
        (
            "input payload a list",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: python3.11, Handler: h, Script: x, InputPayload: [1]}}",
            r#"Step "a" input "InputPayload" is invalid: it must be a mapping"#,
        ),
        (
            "output without selector",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o, Type: String}]}",
            r#"Step "a" output "o" field "Selector" is invalid: it is required"#,
        ),
        (
            "output selector not starting with $.",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o, Selector: Payload.x, Type: String}]}",
            r#"Step "a" output "o" field "Selector" is invalid: a selector starts with "$.", e.g. "$.Payload.message""#,
        ),
        (
            "output selector that is not JSONPath",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o, Selector: '$.Payload[', Type: String}]}",
            r#"Step "a" output "o" field "Selector" is invalid: not valid JSONPath: *"#,
        ),
        (
            "output of an unknown type",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o, Selector: $.Payload, Type: Map}]}",
            r#"Step "a" output "o" field "Type" is invalid: it must be String, Integer, Boolean, StringList, StringMap or MapList"#,
        ),
        (
            "output name with a dot",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o.p, Selector: $.Payload, Type: String}]}",
            r#"Step "a" output "o.p" field "Name" is invalid: it must be one or more letters, digits or '_'"#,
        ),
        (
            "duplicate output",
            "- {name: a, action: aws:executeScript, inputs: {Runtime: PowerShell 7.0, Script: x}, outputs: [{Name: o, Selector: $.Payload, Type: String}, {Name: o, Selector: $.Payload.x, Type: String}]}",
            r#"Step "a" declares output "o" more than once"#,
        ),
        (
            "outputs on a sleep",
            "- {name: a, action: aws:sleep, inputs: {Duration: PT1S}, outputs: [{Name: o, Selector: $.x, Type: String}]}",
            r#"Step "a" field "outputs" must be absent: this action produces no result to select outputs from"#,
        ),
        (
            "runCommand without a document",
            "- {name: a, action: aws:runCommand, inputs: {InstanceIds: [i-1]}}",
            r#"Step "a" input "DocumentName" is required"#,
        ),
        (
            "runCommand without targets",
            "- {name: a, action: aws:runCommand, inputs: {DocumentName: AWS-RunShellScript}}",
            r#"Step "a" input "InstanceIds" is required"#,
        ),
        (
            "sleep without duration",
            "- {name: a, action: aws:sleep, inputs: {}}",
            r#"Step "a" input "Duration" is required"#,
        ),
        (
            "sleep with both",
            "- {name: a, action: aws:sleep, inputs: {Duration: PT1S, Timestamp: '2020-01-01T00:00:00Z'}}",
            r#"Step "a" input "Duration" is invalid: give Duration or Timestamp, not both"#,
        ),
        (
            "sleep duration not ISO 8601",
            "- {name: a, action: aws:sleep, inputs: {Duration: 10s}}",
            r#"Step "a" input "Duration" is invalid: it must be an ISO 8601 duration such as PT10M"#,
        ),
        (
            "sleep longer than a week",
            "- {name: a, action: aws:sleep, inputs: {Duration: P8D}}",
            r#"Step "a" input "Duration" is invalid: it may be at most 7 days (P7D or PT604800S)"#,
        ),
        (
            "sleep timestamp not a timestamp",
            "- {name: a, action: aws:sleep, inputs: {Timestamp: tomorrow}}",
            r#"Step "a" input "Timestamp" is invalid: it must be an ISO 8601 timestamp such as 2020-01-01T01:00:00Z"#,
        ),
        (
            "pause with inputs",
            "- {name: a, action: aws:pause, inputs: {Seconds: 5}}",
            r#"Step "a" input "Seconds" is not supported by aws:pause"#,
        ),
        (
            "approve without approvers",
            "- {name: a, action: aws:approve, inputs: {Message: hi}}",
            r#"Step "a" input "Approvers" is required"#,
        ),
        (
            "approve needing more approvals than approvers",
            "- {name: a, action: aws:approve, inputs: {Approvers: [alice], MinRequiredApprovals: 2}}",
            r#"Step "a" input "MinRequiredApprovals" is invalid: it is 2, more than the 1 approvers listed"#,
        ),
        (
            "reference to an undeclared parameter",
            "- {name: a, action: aws:runCommand, inputs: {DocumentName: X, InstanceIds: ['{{ Nope }}']}}",
            r#"Step "a" input "InstanceIds" refers to "{{ Nope }}": no parameter of that name is declared"#,
        ),
        (
            "reference to a missing step",
            "- {name: a, action: aws:runCommand, inputs: {DocumentName: X, InstanceIds: ['{{ b.Output }}']}}",
            r#"Step "a" input "InstanceIds" refers to "{{ b.Output }}": no step of that name exists"#,
        ),
        (
            "reference to a missing output",
            "- {name: a, action: aws:pause, inputs: {}}\n- {name: b, action: aws:runCommand, inputs: {DocumentName: X, InstanceIds: ['{{ a.Output }}']}}",
            r#"Step "b" input "InstanceIds" refers to "{{ a.Output }}": that step has no output of that name"#,
        ),
        (
            "unknown global variable",
            "- {name: a, action: aws:runCommand, inputs: {DocumentName: X, InstanceIds: [i-1], Comment: 'at {{ global:TIME }}'}}",
            r#"Step "a" input "Comment" refers to "{{ global:TIME }}": the global variables are ACCOUNT_ID, REGION, AWS_PARTITION, DATE and DATE_TIME"#,
        ),
        (
            "unknown automation variable",
            "- {name: a, action: aws:runCommand, inputs: {DocumentName: X, InstanceIds: [i-1], Comment: '{{ automation:STEP }}'}}",
            r#"Step "a" input "Comment" refers to "{{ automation:STEP }}": the automation variables are EXECUTION_ID and DOCUMENT_NAME"#,
        ),
        (
            "two steps that loop",
            "- {name: a, action: aws:pause, inputs: {}, nextStep: b}\n- {name: b, action: aws:pause, inputs: {}, nextStep: a}",
            "Steps loop forever when every step succeeds: a -> b -> a",
        ),
        (
            "a step that loops to itself",
            "- {name: a, action: aws:pause, inputs: {}}\n- {name: b, action: aws:pause, inputs: {}, nextStep: b}",
            "Steps loop forever when every step succeeds: b -> b",
        ),
    ];
    for (case, steps, expected) in cases {
        let message = refused(&with_steps(steps));
        match expected.strip_suffix('*') {
            Some(prefix) => assert!(message.starts_with(prefix), "case {case:?}: {message:?}"),
            None => assert_eq!(message, *expected, "case {case:?}"),
        }
    }
}

#[test]
fn a_loop_through_a_branch_is_allowed() {
    runbook(&with_steps(
        r#"
- name: poll
  action: aws:sleep
  inputs: {Duration: PT5S}
- name: check
  action: aws:branch
  inputs:
    Choices:
      - {NextStep: poll, Variable: "{{ Name }}", StringEquals: again}
  isEnd: true
"#,
    ));
}

#[test]
fn top_level_refusals() {
    let base = "schemaVersion: '0.3'\nparameters:\n  Role: {type: String, default: ''}\nmainSteps:\n- {name: a, action: aws:pause, inputs: {}}\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "command schema",
            "schemaVersion: '2.2'\nmainSteps:\n- {name: a, action: aws:pause, inputs: {}}\n",
            "Schema version \"2.2\" is not supported for Automation documents (supported: 0.3)",
        ),
        ("output without a dot", "outputs: [a]", r#"Document output "a" is invalid: it must be "step.Output""#),
        (
            "output of a missing step",
            "outputs: [b.Output]",
            r#"Document output "b.Output" is invalid: no step of that name exists"#,
        ),
        (
            "output a step does not have",
            "outputs: [a.Output]",
            r#"Document output "a.Output" is invalid: that step has no output of that name"#,
        ),
        (
            "files without a checksum",
            "files: {x.zip: {size: 3}}",
            r#"Document field "files.x.zip" is invalid: it needs checksums.sha256"#,
        ),
        (
            "files with a short checksum",
            "files: {x.zip: {checksums: {sha256: abc}}}",
            r#"Document field "files.x.zip" is invalid: checksums.sha256 must be 64 hexadecimal digits"#,
        ),
        (
            "assumeRole from an undeclared parameter",
            "assumeRole: '{{ Other }}'",
            r#"Document field "assumeRole" is invalid: it refers to a parameter that is not declared"#,
        ),
        (
            "assumeRole from Parameter Store",
            "assumeRole: '{{ssm:role}}'",
            r#"Document field "assumeRole" is invalid: it must be a constant ARN or exactly one {{ Parameter }} reference"#,
        ),
    ];
    for (case, extra, expected) in cases {
        let content = if extra.starts_with("schemaVersion") { extra.to_string() } else { format!("{base}{extra}\n") };
        assert_eq!(refused(&content), *expected, "case {case:?}");
    }
    let accepted = runbook(&format!("{base}assumeRole: '{{{{ Role }}}}'\n"));
    assert_eq!(accepted.assume_role.as_deref(), Some("{{ Role }}"));
}

#[test]
fn refusals_are_document_errors_or_runbook_errors() {
    let error = validate_runbook("{", DocumentFormat::Json).unwrap_err();
    assert!(matches!(error, RunbookError::Document(_)), "{error:?}");
    let error =
        validate_runbook(&with_steps("- {name: a, action: aws:pause, inputs: {}, isEnd: 3}"), DocumentFormat::Yaml)
            .unwrap_err();
    assert!(matches!(error, RunbookError::InvalidStepField { field: "isEnd", .. }), "{error:?}");
}

#[test]
fn script_text_is_not_checked_for_references() {
    // Python's doubled braces are not a reference, and Script is never interpolated anyway.
    runbook(&with_steps(
        "- {name: a, action: aws:executeScript, inputs: {Runtime: python3.11, Handler: h, Script: \"def h(e, c):\\n  return f'{{ nope }}'\"}}",
    ));
}

#[test]
fn builtin_outputs_can_be_referenced_and_listed() {
    let runbook = runbook(&with_steps(
        r#"
- {name: run, action: aws:runCommand, inputs: {DocumentName: AWS-RunShellScript, InstanceIds: [i-1]}}
- {name: approve, action: aws:approve, inputs: {Approvers: [alice]}}
- name: report
  action: aws:executeScript
  inputs:
    Runtime: python3.11
    Handler: h
    Script: x
    InputPayload: {id: "{{ run.CommandId }}", code: "{{ run.ResponseCode }}", approval: "{{ approve.ApprovalStatus }}"}
"#,
    ));
    assert!(runbook.steps[0].has_output("Output"));
    assert!(runbook.steps[0].has_output("OutputPayload"));
    assert!(!runbook.steps[1].has_output("Output"));
}

#[test]
fn pause_and_approve_are_accepted_with_their_inputs() {
    let content = "schemaVersion: '0.3'\nmainSteps:\n  - {name: p, action: aws:pause, inputs: {}}\n  - name: a\n    action: aws:approve\n    inputs: {Approvers: [AKIA1], Message: ok?, NotificationArn: 'arn:aws:sns:us-east-1:1:t'}\noutputs: [a.ApprovalStatus, a.ApproverDecisions]\n";
    let runbook = crate::automation::validate_runbook(content, crate::document::DocumentFormat::Yaml).unwrap();
    assert_eq!(runbook.steps[0].action.name(), "aws:pause");
    assert_eq!(runbook.steps[1].action.name(), "aws:approve");
    assert_eq!(runbook.outputs.len(), 2);
}
