//! The condition grammar: search identifiers joined by `and`, `or`, `not` and
//! parentheses, and the quantifiers `1 of name*`, `all of them`, `any of sel_*`.
//!
//! Precedence, least binding first: `or`, `and`, `not`, `x of`, parentheses. `them`
//! covers every identifier not starting with `_`; a pattern's `*` matches any run of
//! characters. The obsolete aggregation (`| count() by x > 5`) and `near` forms are
//! refused: correlation rules replace them.

/// A parsed condition over search identifiers (indices into the rule's searches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Search(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// At least `n` of the searches.
    AtLeast(usize, Vec<usize>),
    /// Every one of the searches.
    All(Vec<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(out);
        };
        match c {
            '(' => {
                out.push(Token::Open);
                rest = &rest[1..];
            }
            ')' => {
                out.push(Token::Close);
                rest = &rest[1..];
            }
            '|' => {
                return Err(
                    "the obsolete aggregation syntax `| count() ...` (use a correlation rule)"
                        .into(),
                )
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?') => {
                let end = rest
                    .find(|c: char| {
                        !(c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.' | '?'))
                    })
                    .unwrap_or(rest.len());
                out.push(Token::Word(&rest[..end]));
                rest = &rest[end..];
            }
            other => return Err(format!("unexpected character `{other}`")),
        }
    }
}

struct Parser<'a, 'n> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    names: &'n [String],
    /// Open parentheses and `not`s around the current position.
    depth: usize,
}

/// How deeply parentheses and `not` may nest (the parser recurses per level).
const MAX_DEPTH: usize = 64;

/// Parses a condition over the rule's search identifiers.
pub fn parse(text: &str, names: &[String]) -> Result<Cond, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        names,
        depth: 0,
    };
    let cond = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(cond),
        Some(t) => Err(format!(
            "unexpected {} after a complete condition",
            describe(t)
        )),
    }
}

fn describe(t: &Token<'_>) -> String {
    match t {
        Token::Word(w) => format!("`{w}`"),
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
    }
}

fn is_kw(t: Option<Token<'_>>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.pos).cloned()
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "parentheses or `not` nested deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not()?];
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if is_kw(self.peek(), "not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let token = self.peek();
        self.pos += 1;
        match token {
            None => Err("the condition ends where a search identifier was expected".into()),
            Some(Token::Open) => {
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(Token::Close) {
                    return Err("a `(` is not closed".into());
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Word(w)) => {
                if is_kw(self.peek(), "of") {
                    self.pos += 1;
                    return self.quantified(w);
                }
                let lower = w.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or" | "of" | "them") {
                    return Err(format!("`{w}` where a search identifier was expected"));
                }
                if lower == "near" {
                    return Err(
                        "the obsolete `near` operator (use a temporal correlation rule)".into(),
                    );
                }
                self.names
                    .iter()
                    .position(|n| n == w)
                    .map(Cond::Search)
                    .ok_or_else(|| format!("`{w}`, which is not a search identifier of the rule"))
            }
            Some(t) => Err(format!("unexpected {}", describe(&t))),
        }
    }

    fn quantified(&mut self, quantity: &str) -> Result<Cond, String> {
        let target = match self.peek() {
            Some(Token::Word(w)) => w,
            _ => {
                return Err(format!(
                    "`{quantity} of` is not followed by `them` or a pattern"
                ))
            }
        };
        self.pos += 1;
        let matching: Vec<usize> = if target.eq_ignore_ascii_case("them") {
            (0..self.names.len())
                .filter(|&i| !self.names[i].starts_with('_'))
                .collect()
        } else {
            (0..self.names.len())
                .filter(|&i| wildcard_name(target, &self.names[i]))
                .collect()
        };
        if matching.is_empty() {
            return Err(format!(
                "`{quantity} of {target}` matches no search identifier"
            ));
        }
        let q = quantity.to_ascii_lowercase();
        match q.as_str() {
            "all" => Ok(Cond::All(matching)),
            "any" => Ok(Cond::AtLeast(1, matching)),
            n => match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Cond::AtLeast(n, matching)),
                _ => Err(format!("`{quantity} of`: expected a count, `all` or `any`")),
            },
        }
    }
}

/// Matches an identifier against a pattern where `*` is any run of characters.
fn wildcard_name(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(at) => rest = &rest[at + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "selection",
            "selection_img",
            "filter_main_a",
            "filter_main_b",
            "_hidden",
            "keywords",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn precedence_or_and_not() {
        let c = parse("selection or selection_img and not keywords", &names()).unwrap();
        assert_eq!(
            c,
            Cond::Or(vec![
                Cond::Search(0),
                Cond::And(vec![Cond::Search(1), Cond::Not(Box::new(Cond::Search(5)))])
            ])
        );
        let c = parse("(selection or selection_img) and not keywords", &names()).unwrap();
        assert!(matches!(c, Cond::And(_)));
    }

    #[test]
    fn quantifiers() {
        let n = names();
        assert_eq!(
            parse("1 of selection*", &n).unwrap(),
            Cond::AtLeast(1, vec![0, 1])
        );
        assert_eq!(
            parse("all of filter_main_*", &n).unwrap(),
            Cond::All(vec![2, 3])
        );
        assert_eq!(
            parse("any of filter_*", &n).unwrap(),
            Cond::AtLeast(1, vec![2, 3])
        );
        assert_eq!(
            parse("all of them", &n).unwrap(),
            Cond::All(vec![0, 1, 2, 3, 5])
        );
        assert_eq!(
            parse("2 of them", &n).unwrap(),
            Cond::AtLeast(2, vec![0, 1, 2, 3, 5])
        );
        assert_eq!(
            parse("selection and not 1 of filter_main_*", &n).unwrap(),
            Cond::And(vec![
                Cond::Search(0),
                Cond::Not(Box::new(Cond::AtLeast(1, vec![2, 3])))
            ])
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let n = names();
        assert!(parse("selection and", &n).unwrap_err().contains("ends"));
        assert!(parse("nope", &n).unwrap_err().contains("`nope`"));
        assert!(parse("1 of nothing*", &n)
            .unwrap_err()
            .contains("matches no search identifier"));
        assert!(parse("selection | count() by host > 5", &n)
            .unwrap_err()
            .contains("aggregation"));
        assert!(parse("(selection", &n).unwrap_err().contains("not closed"));
        let deep = format!("{}selection{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep, &n).unwrap_err().contains("nested deeper"));
        assert!(parse(&"not ".repeat(10_000), &n)
            .unwrap_err()
            .contains("nested deeper"));
        assert!(parse("selection selection_img", &n)
            .unwrap_err()
            .contains("unexpected"));
    }
}
