//! Sigma's condition expressions: `and`, `or`, `not`, parentheses, `1 of x*`, `all of them`
//! (precedence: not, then and, then or).

/// A parsed condition expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// A detection (selection) by name.
    Name(String),
    /// `1 of PATTERN` / `all of PATTERN`; `them` is the pattern `None`.
    Of {
        all: bool,
        pattern: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

/// Parses `text`; `Err` is the problem, with the character offset where it is.
pub fn parse(text: &str) -> Result<Expr, (usize, String)> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some((offset, token)) => Err((
            *offset,
            format!("unexpected {} after a complete condition", describe(token)),
        )),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "`(`".into(),
        Token::Close => "`)`".into(),
        Token::Word(word) => format!("`{word}`"),
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut word_start: Option<usize> = None;
    let flush = |tokens: &mut Vec<(usize, Token)>, start: &mut Option<usize>, end: usize| {
        if let Some(begin) = start.take() {
            tokens.push((begin, Token::Word(text[begin..end].to_string())));
        }
    };
    for (offset, c) in text.char_indices() {
        match c {
            '(' | ')' => {
                flush(&mut tokens, &mut word_start, offset);
                tokens.push((offset, if c == '(' { Token::Open } else { Token::Close }));
            }
            c if c.is_whitespace() => flush(&mut tokens, &mut word_start, offset),
            '|' => {
                return Err((
                    offset,
                    "aggregations after `|` (count() by …) are not supported: write a correlation rule".into(),
                ));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.') => {
                if word_start.is_none() {
                    word_start = Some(offset);
                }
            }
            other => return Err((offset, format!("unexpected character `{other}` in the condition"))),
        }
    }
    flush(&mut tokens, &mut word_start, text.len());
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.at) {
            Some((_, Token::Word(word))) => Some(word.as_str()),
            _ => None,
        }
    }

    fn keyword(&self, keyword: &str) -> bool {
        self.peek_word().is_some_and(|word| word.eq_ignore_ascii_case(keyword))
    }

    fn end_offset(&self) -> usize {
        self.tokens.last().map_or(0, |(offset, _)| *offset)
    }

    fn or(&mut self) -> Result<Expr, (usize, String)> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, (usize, String)> {
        let mut parts = vec![self.not()?];
        while self.keyword("and") {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn not(&mut self) -> Result<Expr, (usize, String)> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, (usize, String)> {
        let Some((offset, token)) = self.tokens.get(self.at).cloned() else {
            return Err((
                self.end_offset(),
                "the condition ends where a selection name is expected".into(),
            ));
        };
        self.at += 1;
        match token {
            Token::Open => {
                let inner = self.or()?;
                match self.tokens.get(self.at) {
                    Some((_, Token::Close)) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err((offset, "`(` is never closed".into())),
                }
            }
            Token::Close => Err((offset, "unexpected `)`".into())),
            Token::Word(word) => {
                let lower = word.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or" | "not" | "of") {
                    return Err((offset, format!("`{word}` where a selection name is expected")));
                }
                if self.keyword("of") {
                    let all = match lower.as_str() {
                        "1" | "any" => false,
                        "all" => true,
                        _ => {
                            return Err((
                                offset,
                                format!("`{word} of` is not supported: write `1 of` or `all of`"),
                            ));
                        }
                    };
                    self.at += 1;
                    let Some((_, Token::Word(target))) = self.tokens.get(self.at).cloned() else {
                        return Err((offset, "`of` needs a selection pattern or `them`".into()));
                    };
                    self.at += 1;
                    let pattern = (!target.eq_ignore_ascii_case("them")).then_some(target);
                    return Ok(Expr::Of { all, pattern });
                }
                if word.contains('*') {
                    return Err((offset, format!("`{word}`: wildcards in names need `1 of` or `all of`")));
                }
                Ok(Expr::Name(word))
            }
        }
    }
}

/// True when `name` matches `pattern` (`*` is any sequence).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            match rest.strip_prefix(part) {
                Some(after) => rest = after,
                None => return false,
            }
        } else if index == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(found) => rest = &rest[found + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Expr {
        Expr::Name(n.into())
    }

    #[test]
    fn precedence_and_grouping() {
        assert_eq!(
            parse("a or b and not c").expect("parses"),
            Expr::Or(vec![
                name("a"),
                Expr::And(vec![name("b"), Expr::Not(Box::new(name("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").expect("parses"),
            Expr::And(vec![Expr::Or(vec![name("a"), name("b")]), name("c")])
        );
        assert_eq!(
            parse("selection and not 1 of filter_*").expect("parses"),
            Expr::And(vec![
                name("selection"),
                Expr::Not(Box::new(Expr::Of {
                    all: false,
                    pattern: Some("filter_*".into())
                }))
            ])
        );
        assert_eq!(
            parse("all of them").expect("parses"),
            Expr::Of {
                all: true,
                pattern: None
            }
        );
        assert_eq!(
            parse("NOT a AND b").expect("parses"),
            Expr::And(vec![Expr::Not(Box::new(name("a"))), name("b")])
        );
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(parse("a and (b").unwrap_err().0, 6);
        assert!(parse("a and").is_err());
        assert!(parse("a b").unwrap_err().1.contains("unexpected `b`"));
        assert!(
            parse("selection | count() by x > 3")
                .unwrap_err()
                .1
                .contains("correlation")
        );
        assert!(parse("2 of sel*").unwrap_err().1.contains("not supported"));
        assert!(parse("sel*").is_err());
    }

    #[test]
    fn name_patterns() {
        assert!(name_matches("selection_*", "selection_img"));
        assert!(name_matches("sel*", "sel"));
        assert!(!name_matches("sel*", "filter"));
        assert!(name_matches("*_cli", "sel_cli"));
        assert!(name_matches("a*b*c", "axxbyyc"));
        assert!(!name_matches("a*b*c", "axxcyyb"));
        assert!(name_matches("exact", "exact") && !name_matches("exact", "exactly"));
    }
}
