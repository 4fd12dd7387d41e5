//! Issue 22's evaluation target: one inbound message against 1,000 enabled rules of one business,
//! p50 ≤ 1 ms and p99 ≤ 5 ms. Measures what the engine does per event once the business's compiled
//! rules are cached: folding the message into words, then matching every rule by priority. The
//! same-run baseline is the same message against one rule.
//!
//! Run: `cargo bench -p wacrm-core --bench automation`

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use wacrm_core::Stage;
use wacrm_core::automation::{Active, Facts, RuleSpec, Trigger, decide};
use wacrm_core::events::Cause;

const SAMPLES: usize = 20_000;

fn rules(n: usize) -> Vec<Active> {
    (0..n)
        .map(|i| {
            let condition = match i % 5 {
                0 => format!(r#"{{"contains": ["word{i}", "price{i}", "café {i}", "order", "refund{i}"]}}"#),
                1 => format!(r#"{{"regex": "(?i)order\\s*#?{i}\\b"}}"#),
                2 => format!(r#"{{"all": [{{"contains": "hello{i}"}}, {{"tags_any": ["vip", "t{i}"]}}]}}"#),
                3 => format!(r#"{{"any": [{{"not": {{"window": "open"}}}}, {{"contains": ["promo{i}", "deal"]}}]}}"#),
                _ => format!(r#"{{"stage": "Engaged", "contains": ["k{i}", "shipping"]}}"#),
            };
            let json = format!(
                r#"{{"name": "r{i}", "trigger": "message_received", "condition": {condition},
                    "action": {{"add_tag": "t{i}", "notify": "rule {i}"}}, "priority": {i}}}"#
            );
            let spec = RuleSpec::from_json(&json).expect("bench rule");
            Active::compile(i as i32 + 1, &spec).expect("bench rule compiles")
        })
        .collect()
}

fn measure(label: &str, rules: &[Active]) -> (Duration, Duration) {
    let text = "Hi! Qué precio tiene el envío? I'd like to know the PRICE of order #4411 and about shipping, thanks";
    let base = Facts {
        stage: Some(Stage::Engaged),
        tags: BTreeSet::from(["customer".to_string()]),
        window_open: true,
        ..Facts::default()
    };
    let cause = Cause::customer();
    let mut times = Vec::with_capacity(SAMPLES);
    let mut fired = 0;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let facts = base.clone().with_text(text);
        fired = decide(rules, Trigger::MessageReceived, &cause, &facts).len();
        times.push(started.elapsed());
    }
    times.sort();
    let (p50, p99) = (times[SAMPLES / 2], times[SAMPLES * 99 / 100]);
    println!(
        "{label:>10}: p50 {p50:>10.1?}  p99 {p99:>10.1?}  max {:>10.1?}  ({fired} rules fire)",
        times[SAMPLES - 1]
    );
    (p50, p99)
}

fn main() {
    let one = rules(1);
    let thousand = rules(1_000);
    measure("1 rule", &one);
    let (p50, p99) = measure("1000 rules", &thousand);
    let ok = p50 <= Duration::from_millis(1) && p99 <= Duration::from_millis(5);
    println!("target p50 ≤ 1 ms, p99 ≤ 5 ms: {}", if ok { "met" } else { "MISSED" });
}
