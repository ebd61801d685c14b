//! MITRE ATT&CK from Sigma tags: `attack.persistence` → tactic TA0003 Persistence,
//! `attack.t1098.001` → technique T1098, sub-technique T1098.001.

/// Tactic tag slugs with their ids and names.
const TACTICS: &[(&str, &str, &str)] = &[
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("stealth", "TA0005", "Stealth"),
    ("defense-impairment", "TA0112", "Defense Impairment"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("impact", "TA0040", "Impact"),
];

/// The ATT&CK content of a rule's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attack {
    pub tactic_ids: Vec<String>,
    pub tactic_names: Vec<String>,
    pub technique_ids: Vec<String>,
    pub subtechnique_ids: Vec<String>,
}

impl Attack {
    pub fn is_empty(&self) -> bool {
        self.tactic_ids.is_empty() && self.technique_ids.is_empty()
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// Reads the `attack.*` tags (others are ignored).
pub fn from_tags(tags: &[String]) -> Attack {
    let mut a = Attack::default();
    for tag in tags {
        let Some(rest) = tag
            .trim()
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_string)
        else {
            continue;
        };
        if let Some(&(_, id, name)) = TACTICS.iter().find(|(slug, _, _)| *slug == rest) {
            push_unique(&mut a.tactic_ids, id.to_string());
            push_unique(&mut a.tactic_names, name.to_string());
            continue;
        }
        let Some(num) = rest.strip_prefix('t') else {
            continue;
        };
        let (main, sub) = match num.split_once('.') {
            Some((m, s)) => (m, Some(s)),
            None => (num, None),
        };
        if main.len() != 4 || !main.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        push_unique(&mut a.technique_ids, format!("T{main}"));
        if let Some(sub) = sub {
            if sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit()) {
                push_unique(&mut a.subtechnique_ids, format!("T{main}.{sub}"));
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tactics_techniques_and_subtechniques() {
        let tags: Vec<String> = [
            "attack.persistence",
            "attack.t1098.001",
            "attack.t1098",
            "attack.g0016",
            "cve.2021-1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let a = from_tags(&tags);
        assert_eq!(a.tactic_ids, ["TA0003"]);
        assert_eq!(a.tactic_names, ["Persistence"]);
        assert_eq!(a.technique_ids, ["T1098"]);
        assert_eq!(a.subtechnique_ids, ["T1098.001"]);
        assert!(from_tags(&["detection.threat-hunting".to_string()]).is_empty());
    }
}
