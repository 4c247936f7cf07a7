use super::*;
use crate::rules::{
    compile::{RuleEnforcement, compile},
    pack::parse_pack,
};

fn rule(body: &str) -> Result<RuleEnforcement, String> {
    let text = format!("rules:\n  - id: r\n    name: n\n    description: d\n    severity: high\n{body}");
    let (pack, problems) = parse_pack("t.yaml", &text);
    assert!(problems.is_empty(), "{problems:?}");
    match compile(&[pack.expect("pack")]) {
        Ok(set) => Ok(set.rules[0].enforcement.clone().expect("an enforcing rule")),
        Err(problems) => Err(problems.to_string()),
    }
}

fn kernel(body: &str) -> KernelForm {
    match rule(body) {
        Ok(RuleEnforcement::Kernel(form)) => (*form).clone(),
        other => panic!("expected a kernel form, got {other:?}"),
    }
}

#[test]
fn a_deny_rule_becomes_its_kernel_form() {
    let form = kernel(
        "    action: deny
    when:
      all:
        - event.action: open
        - agent_sensor.open.write: false
        - file.path: {glob: ['~/.ssh/id_*', '/etc/{shadow,gshadow}']}
        - not: {file.path: {glob: '~/.ssh/*.pub'}}
        - not: {agent_sensor.open.flags: O_DIRECTORY}
    except:
      - {process.name: [ssh], agent_sensor.process.trusted: true}
      - {file.path: {prefix: /etc/}, process.executable: /usr/sbin/unix_chkpwd}
",
    );
    assert_eq!(form.ops, Ops(PolicyOp::OpenRead.bit()));
    let paths: Vec<&str> = form.paths.iter().map(|g| g.text.as_str()).collect();
    assert_eq!(paths, ["~/.ssh/id_*", "/etc/shadow", "/etc/gshadow"]);
    assert_eq!(form.exclude.len(), 1);
    assert!(form.not_directory);
    assert_eq!(form.excepts.len(), 2);
    assert_eq!(form.excepts[0].programs, [Program::Name("ssh".into())]);
    assert!(form.excepts[0].paths.is_empty());
    assert_eq!(
        form.excepts[1].programs,
        [Program::Path("/usr/sbin/unix_chkpwd".into())]
    );
    assert_eq!(form.excepts[1].paths[0].text, "/etc/**");
}

#[test]
fn deny_rules_the_kernel_cannot_evaluate_are_errors_with_a_position() {
    let error = rule(
        "    action: deny
    when:
      all:
        - event.action: exec
        - process.command_line: {contains: curl}
",
    )
    .expect_err("not a kernel rule");
    assert!(error.contains("t.yaml:10:"), "{error}");
    assert!(error.contains("process.command_line"), "{error}");
    for (body, expected) in [
        (
            "    action: deny\n    when: {all: [{event.action: open}, {event.outcome: success}]}\n",
            "event.outcome",
        ),
        (
            "    action: deny\n    when: {all: [{event.action: open}, {file.path: {glob: '~/**/id_?sa'}}]}\n",
            "does not match `?`",
        ),
        (
            "    action: deny\n    when: {file.path: {glob: '/x/*'}}\n",
            "event.action",
        ),
        (
            "    action: deny\n    when: {all: [{event.action: [open, connect]}]}\n",
            "not both",
        ),
    ] {
        let error = rule(body).expect_err(body);
        assert!(error.contains(expected), "{body}: {error}");
    }
}

#[test]
fn kill_rules_without_a_kernel_form_are_left_to_the_sensor() {
    let enforcement = rule(
        "    action: kill-tree
    when: {all: [{event.action: unlink}, {process.name: rm}]}
    threshold: {count: 50, within: 10s}
",
    )
    .expect("compiles");
    match enforcement {
        RuleEnforcement::Sensor { reason } => assert!(reason.contains("process.name"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connection_rules_keep_networks_ports_and_families() {
    let form = kernel(
        "    action: deny
    when:
      all:
        - event.action: connect
        - network.type: ipv4
        - not: {destination.ip: {cidr: 10.0.0.0/8}}
        - destination.port: {range: '1-1023'}
",
    );
    assert_eq!(form.family, Some(4));
    assert_eq!(form.ip_exclude.len(), 1);
    assert_eq!(form.port_include, [(1, 1023)]);
}

#[test]
fn an_any_of_connection_conditions_becomes_alternatives_with_egress_tests() {
    let form = kernel(
        "    action: deny
    when:
      any:
        - all: [{event.action: connect}, {agent_sensor.destination.allowed: false}]
        - all:
            - event.action: connect
            - not: {agent_sensor.destination.allowed: {exists: true}}
            - not: {destination.ip: {cidr: [10.0.0.0/8]}}
            - not: {destination.port: [443]}
",
    );
    assert_eq!(form.ops, Ops(PolicyOp::Connect.bit()));
    assert_eq!(form.alternatives.len(), 2);
    assert_eq!(form.slots().len(), 2);
    let [first, second] = &form.alternatives[..] else {
        panic!("two alternatives");
    };
    assert_eq!(
        first.egress,
        EgressTest {
            allowed: Some(false),
            configured: None
        }
    );
    assert_eq!(
        second.egress,
        EgressTest {
            allowed: None,
            configured: Some(false)
        }
    );
    assert_eq!(second.ip_exclude.len(), 1);
    assert_eq!(second.port_exclude, [(443, 443)]);
    for (body, expected) in [
        (
            "    action: deny\n    when: {any: [{all: [{event.action: connect}, {destination.port: 53}]}, {event.action: open}]}\n",
            "judge connections in every branch",
        ),
        (
            "    action: deny\n    when: {any: [{all: [{event.action: connect}, {destination.port: 53}]}, {all: [{event.action: connect}, {destination.port: 853}]}]}\n    threshold: {count: 3, within: 10s}\n",
            "threshold",
        ),
        (
            "    action: deny\n    when: {all: [{event.action: connect}, {not: {agent_sensor.destination.allowed: false}}]}\n",
            "negation",
        ),
    ] {
        let error = rule(body).expect_err(body);
        assert!(error.contains(expected), "{body}: {error}");
    }
}

#[test]
fn the_shipped_unexpected_egress_has_a_kernel_form_once_made_deny() {
    let mut sources = crate::rules::loader::read_sources(&[]).expect("shipped packs");
    sources.push((
        "site.yaml".into(),
        "ruleset: site\noverrides:\n  rules:\n    unexpected-egress: {action: deny}\n".into(),
    ));
    let (set, _) = crate::rules::loader::compile_sources(&sources).expect("compiles");
    let rule = set
        .rules
        .iter()
        .find(|rule| &*rule.meta.id == "unexpected-egress")
        .expect("rule");
    let form = rule.kernel_form().expect("a kernel form");
    assert_eq!(form.alternatives.len(), 2);
    assert_eq!(form.alternatives[0].egress.allowed, Some(false));
    assert_eq!(form.alternatives[1].egress.configured, Some(false));
    assert!(!form.alternatives[1].ip_exclude.is_empty() && !form.alternatives[1].port_exclude.is_empty());
    let dns = set
        .rules
        .iter()
        .find(|rule| &*rule.meta.id == "dns-unexpected-resolver")
        .expect("rule");
    let dns = dns.kernel_form().expect("a kernel form");
    assert_eq!(dns.port_include, [(53, 53), (853, 853)]);
}

/// The default pack's `session-escape` condition (shared with the policy image's tests).
pub(crate) const HANDOFF: &str = "    when:
      all:
        - agent_sensor.peer.in_session: false
        - any:
            - {event.action: connect, network.type: unix}
            - event.action: [ptrace, process_vm_writev]
            - {event.action: open, agent_sensor.open.write: true}
";

#[test]
fn a_deny_of_hand_offs_becomes_the_two_hand_off_operations() {
    let form = kernel(&format!("    action: deny\n{HANDOFF}"));
    assert_eq!(
        form.ops,
        Ops(PolicyOp::HandoffConnect.bit() | PolicyOp::HandoffAttach.bit())
    );
    assert!(form.paths.is_empty() && form.alternatives.is_empty());
    // Connects alone.
    let form = kernel(
        "    action: deny
    when:
      all:
        - agent_sensor.peer.in_session: false
        - event.action: connect
        - network.type: unix
",
    );
    assert_eq!(form.ops, Ops(PolicyOp::HandoffConnect.bit()));
}

#[test]
fn hand_off_rules_the_kernel_cannot_judge_say_why() {
    // ptrace alone: the hook cannot tell it from process_vm_writev and /proc/PID/mem.
    let error = rule(
        "    action: deny
    when:
      all:
        - agent_sensor.peer.in_session: false
        - event.action: ptrace
",
    )
    .expect_err("refused");
    assert!(error.contains("names all three"), "{error}");
    // A peer inside the session is not a hand-off.
    let error = rule(&format!(
        "    action: deny\n{}",
        HANDOFF.replace("in_session: false", "in_session: true")
    ))
    .expect_err("refused");
    assert!(error.contains("in_session: false"), "{error}");
    // Connects over IP have no spawner at the other end.
    let error = rule(
        "    action: deny
    when:
      all:
        - agent_sensor.peer.in_session: false
        - event.action: connect
",
    )
    .expect_err("refused");
    assert!(error.contains("network.type: unix"), "{error}");
    // Kill rules the kernel cannot judge fall back to the sensor.
    match rule(
        "    action: kill
    when:
      all:
        - agent_sensor.peer.in_session: false
        - {event.action: ptrace, process.name: gdb}
",
    ) {
        Ok(RuleEnforcement::Sensor { reason }) => assert!(reason.contains("process.name"), "{reason}"),
        other => panic!("expected the sensor to carry it out, got {other:?}"),
    }
}
