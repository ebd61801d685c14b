//! "Did you mean" suggestions for near misses.
//!
//! Damerau-Levenshtein distance (a swapped pair of letters counts once, so `cloudtrial`
//! is one edit from `cloudtrail`), with a threshold that grows with the word: one edit
//! for short words, a third of the length for longer ones. A case-only difference always
//! matches. Ties go to the first candidate, so suggestions are deterministic.

/// The closest candidate within the threshold, if any.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    let all: Vec<&'a str> = candidates.into_iter().collect();
    for &candidate in &all {
        if candidate.is_empty() || candidate == word {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(word) {
            0
        } else {
            strsim::damerau_levenshtein(word, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    if best.is_none() {
        // `lowercase` for `lower`: one word a longer form of the other.
        best = all
            .iter()
            .copied()
            .filter(|c| {
                c.len() >= 4 && word.len() >= 4 && (word.starts_with(*c) || c.starts_with(word))
            })
            .map(|c| (0, c))
            .next();
    }
    best.map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, if any.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// A help line: the near miss if there is one, otherwise the list of what is allowed
/// (when it is short enough to read).
pub fn help<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let all: Vec<&str> = candidates.into_iter().collect();
    if let Some(hint) = did_you_mean(word, all.iter().copied()) {
        return Some(hint);
    }
    if all.is_empty() || all.len() > 12 {
        return None;
    }
    Some(format!("expected one of {}", quote_list(&all)))
}

/// `` `a`, `b`, `c` ``.
pub fn quote_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_found() {
        let types = ["cloudtrail", "file", "stdin", "syslog"];
        assert_eq!(closest("cloudtrial", types), Some("cloudtrail"));
        assert_eq!(closest("filee", types), Some("file"));
        assert_eq!(closest("SYSLOG", types), Some("syslog"));
        assert_eq!(closest("kafka", types), None);
        assert_eq!(closest("sorce", ["source", "sink"]), Some("source"));
        assert_eq!(closest("pipline", ["pipeline"]), Some("pipeline"));
        assert_eq!(closest("lowercase", ["lower", "len"]), Some("lower"));
        assert_eq!(closest("low", ["lower"]), None);
    }

    #[test]
    fn short_words_allow_one_edit_only() {
        assert_eq!(closest("ab", ["ax", "xy"]), Some("ax"));
        assert_eq!(closest("ab", ["xy"]), None);
    }

    #[test]
    fn help_lists_alternatives_without_a_near_miss() {
        assert_eq!(
            help("zzz", ["udp", "tcp"]).as_deref(),
            Some("expected one of `udp`, `tcp`")
        );
        assert_eq!(
            help("tpc", ["udp", "tcp"]).as_deref(),
            Some("did you mean `tcp`?")
        );
    }
}
