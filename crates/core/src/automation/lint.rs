//! `wacrm automation lint`: what is wrong with a set of rules as a whole, beyond each rule's own
//! checks: rules no event can reach, stage rules that cycle, and rules that fight over the stage.

use serde::Serialize;

use super::actions::Action;
use super::conditions::Condition;
use super::rules::{Compiled, RuleSpec};

/// One finding, naming the rule (by its name) and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub problem: String,
    pub fix: String,
}

/// Lints rules in evaluation order (priority, then as given). Invalid rules are findings too.
pub fn lint(specs: &[RuleSpec]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut ordered: Vec<&RuleSpec> = specs.iter().collect();
    ordered.sort_by_key(|s| s.priority);
    let mut compiled: Vec<(&RuleSpec, Compiled)> = Vec::new();
    for spec in ordered {
        match spec.compile() {
            Ok(c) => compiled.push((spec, c)),
            Err(p) => findings.push(Finding { rule: spec.name.clone(), problem: p.to_string(), fix: p.fix }),
        }
    }
    let enabled: Vec<&(&RuleSpec, Compiled)> = compiled.iter().filter(|(s, _)| s.enabled).collect();
    for (i, (spec, rule)) in enabled.iter().enumerate() {
        if let Some((shadow, _)) = enabled[..i].iter().find(|(s, r)| {
            s.stop_processing && r.trigger == rule.trigger && always(&r.condition) && s.priority < spec.priority
        }) {
            findings.push(Finding {
                rule: spec.name.clone(),
                problem: format!(
                    "unreachable: {:?} matches every {} event first and stops processing",
                    shadow.name,
                    rule.trigger.as_str()
                ),
                fix: format!("give {:?} a lower priority number, or a condition to {:?}", spec.name, shadow.name),
            });
        }
        for (other_spec, other) in &enabled[i + 1..] {
            if rule.trigger != other.trigger {
                continue;
            }
            let (a, b) = (moves(rule), moves(other));
            if let (Some(a), Some(b)) = (a, b)
                && a != b
                && always(&rule.condition)
                && always(&other.condition)
            {
                findings.push(Finding {
                    rule: other_spec.name.clone(),
                    problem: format!(
                        "conflicts with {:?}: on every {} one moves to {a}, the other to {b}",
                        spec.name,
                        rule.trigger.as_str()
                    ),
                    fix: "give one of them a condition, or stop processing after the first".into(),
                });
            }
            // A → B on entering A, and B → A on entering B: each undoes the other.
            let (entered, moved) = (rule.condition.transition().1, moves(rule));
            let (other_entered, other_moved) = (other.condition.transition().1, moves(other));
            if entered.is_some() && entered == other_moved && moved.is_some() && moved == other_entered {
                findings.push(Finding {
                    rule: other_spec.name.clone(),
                    problem: format!(
                        "cycles with {:?}: each moves the contact back into the other's trigger",
                        spec.name
                    ),
                    fix: "remove one of the moves; the loop guard stops the cycle, but only after several moves".into(),
                });
            }
        }
    }
    findings
}

/// Whether a condition holds for every event (the empty condition).
fn always(condition: &Condition) -> bool {
    matches!(condition, Condition::All(all) if all.iter().all(always))
}

fn moves(rule: &Compiled) -> Option<crate::types::Stage> {
    rule.actions.iter().find_map(|a| match a {
        Action::MoveStage { stage } => Some(*stage),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> RuleSpec {
        RuleSpec::from_json(json).unwrap()
    }

    #[test]
    fn shadowed_cycling_and_invalid_rules_are_found() {
        let rules = [
            spec(
                r#"{"name": "catch all", "trigger": "message_received", "action": {"notify": "n"}, "stop_processing": true, "priority": 1}"#,
            ),
            spec(
                r#"{"name": "pricing", "trigger": "message_received", "condition": {"contains": "price"}, "action": {"notify": "p"}}"#,
            ),
            spec(
                r#"{"name": "ping", "trigger": "stage_changed", "condition": {"to": "Interested"}, "action": {"move_stage": "Engaged"}}"#,
            ),
            spec(
                r#"{"name": "pong", "trigger": "stage_changed", "condition": {"to": "Engaged"}, "action": {"move_stage": "Interested"}}"#,
            ),
            spec(r#"{"name": "broken", "trigger": "nope", "action": {"notify": "n"}}"#),
        ];
        let found: Vec<(String, String)> =
            lint(&rules).into_iter().map(|f| (f.rule, f.problem.split(':').next().unwrap().to_string())).collect();
        assert!(found.contains(&("pricing".into(), "unreachable".into())), "{found:?}");
        assert!(found.contains(&("pong".into(), "cycles with \"ping\"".into())), "{found:?}");
        assert!(found.contains(&("broken".into(), "$.trigger".into())), "{found:?}");
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
