//! Sigma value modifiers and strings: wildcards, `contains`/`startswith`/`endswith`, `windash`,
//! `base64`/`base64offset`, case, and their translation into the engine's regular expressions.

/// A value modifier (`Field|contains|all`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Re,
    /// `re` flags: `i` (ignore case), `m` (multi-line), `s` (dot matches newline).
    ReI,
    ReM,
    ReS,
    Cidr,
    Exists,
    Gt,
    Gte,
    Lt,
    Lte,
    Windash,
    Base64,
    Base64Offset,
    Cased,
}

/// Why a Sigma value modifier is not supported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModifierError {
    #[error("unsupported modifier `{0}`: UTF-16 encodings are Windows data; Linux events are UTF-8")]
    Utf16(String),
    #[error("unsupported modifier `expand`: the sensor has no placeholder values")]
    Expand,
    #[error("unsupported modifier `fieldref`: the engine does not compare two fields of an event")]
    FieldRef,
    #[error("unsupported modifier `{0}`: the engine does not test parts of timestamps")]
    TimePart(String),
    #[error("unknown modifier `{0}`")]
    Unknown(String),
}

/// A Sigma value that `base64` or `base64offset` cannot encode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{modifier}` cannot encode wildcards; escape `*` and `?` as `\\*` and `\\?`")]
pub struct EncodeError {
    /// The modifier: `base64` or `base64offset`.
    pub modifier: &'static str,
}

impl Modifier {
    /// Parses one modifier; `Err` says why it is not supported.
    pub fn parse(name: &str) -> Result<Modifier, ModifierError> {
        Ok(match name {
            "contains" => Self::Contains,
            "startswith" => Self::StartsWith,
            "endswith" => Self::EndsWith,
            "all" => Self::All,
            "re" => Self::Re,
            "i" | "ignorecase" => Self::ReI,
            "m" | "multiline" => Self::ReM,
            "s" | "dotall" => Self::ReS,
            "cidr" => Self::Cidr,
            "exists" => Self::Exists,
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "windash" => Self::Windash,
            "base64" => Self::Base64,
            "base64offset" => Self::Base64Offset,
            "cased" => Self::Cased,
            "wide" | "utf16" | "utf16le" | "utf16be" => {
                return Err(ModifierError::Utf16(name.to_string()));
            }
            "expand" => return Err(ModifierError::Expand),
            "fieldref" => {
                return Err(ModifierError::FieldRef);
            }
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(ModifierError::TimePart(name.to_string()));
            }
            other => return Err(ModifierError::Unknown(other.to_string())),
        })
    }

    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Gt | Self::Gte | Self::Lt | Self::Lte)
    }

    pub fn is_re_flag(self) -> bool {
        matches!(self, Self::ReI | Self::ReM | Self::ReS)
    }
}

/// One part of a Sigma string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(char),
    /// `*`: any sequence of characters, `/` included.
    Many,
    /// `?`: any one character.
    One,
    /// A dash or slash that `windash` lets be any of `-`, `/`, en dash, em dash, horizontal bar.
    Dash,
}

/// A Sigma string: literal characters and wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigmaString(pub Vec<Piece>);

impl SigmaString {
    /// Reads wildcards: `*` and `?`; `\*`, `\?` and `\\` are the characters themselves; any other
    /// backslash is a backslash.
    pub fn parse(text: &str) -> Self {
        let mut pieces = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => pieces.push(Piece::Many),
                '?' => pieces.push(Piece::One),
                '\\' => match chars.peek() {
                    Some(&next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        pieces.push(Piece::Literal(next));
                    }
                    _ => pieces.push(Piece::Literal('\\')),
                },
                c => pieces.push(Piece::Literal(c)),
            }
        }
        Self(pieces)
    }

    pub fn literal(text: &str) -> Self {
        Self(text.chars().map(Piece::Literal).collect())
    }

    fn plain(&self) -> Option<String> {
        self.0
            .iter()
            .map(|piece| match piece {
                Piece::Literal(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// `windash`: a `-` or `/` that starts a word after a non-word character (`\B[-/]\b`).
    pub fn windash(mut self) -> Self {
        let word = |piece: Option<&Piece>| matches!(piece, Some(Piece::Literal(c)) if c.is_alphanumeric() || *c == '_');
        let len = self.0.len();
        for index in 0..len {
            let dash = matches!(self.0[index], Piece::Literal('-' | '/'));
            let before = index.checked_sub(1).and_then(|i| self.0.get(i));
            if dash && !word(before) && word(self.0.get(index + 1)) {
                self.0[index] = Piece::Dash;
            }
        }
        self
    }

    pub fn contains(self) -> Self {
        let mut pieces = vec![Piece::Many];
        pieces.extend(self.0);
        pieces.push(Piece::Many);
        Self(pieces)
    }

    pub fn starts_with(mut self) -> Self {
        self.0.push(Piece::Many);
        self
    }

    pub fn ends_with(self) -> Self {
        let mut pieces = vec![Piece::Many];
        pieces.extend(self.0);
        Self(pieces)
    }

    /// The regular expression matching the whole value; `cased` keeps the case.
    pub fn to_regex(&self, cased: bool) -> String {
        let mut out = String::from(if cased { "(?s)" } else { "(?is)" });
        let pieces = &self.0;
        let leading = pieces.first() == Some(&Piece::Many);
        let trailing = pieces.last() == Some(&Piece::Many);
        let start = usize::from(leading);
        let end = (pieces.len() - usize::from(trailing)).max(start);
        if !leading {
            out.push('^');
        }
        for piece in &pieces[start..end] {
            match piece {
                Piece::Literal(c) => out.push_str(&regex::escape(&c.to_string())),
                Piece::Many => out.push_str(".*"),
                Piece::One => out.push('.'),
                Piece::Dash => out.push_str("[-/\u{2013}\u{2014}\u{2015}]"),
            }
        }
        if !trailing {
            out.push('$');
        }
        out
    }
}

/// `base64`: the value encoded. Wildcards cannot be encoded.
pub fn base64(value: &SigmaString) -> Result<SigmaString, EncodeError> {
    let plain = value.plain().ok_or(EncodeError { modifier: "base64" })?;
    Ok(SigmaString::literal(&encode(plain.as_bytes())))
}

/// `base64offset`: the three encodings of the value at each offset within base64's 3-byte
/// groups, without the characters that depend on what surrounds it.
pub fn base64_offsets(value: &SigmaString) -> Result<Vec<SigmaString>, EncodeError> {
    let plain = value.plain().ok_or(EncodeError {
        modifier: "base64offset",
    })?;
    let bytes = plain.as_bytes();
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    let mut variants = Vec::new();
    for shift in 0..3 {
        let mut padded = vec![b' '; shift];
        padded.extend_from_slice(bytes);
        let encoded = encode(&padded);
        let cut_end = END[(bytes.len() + shift) % 3];
        let end = encoded.len().saturating_sub(cut_end);
        let text = encoded.get(START[shift]..end).unwrap_or_default();
        variants.push(SigmaString::literal(text));
    }
    Ok(variants)
}

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(regex: &str, text: &str) -> bool {
        regex::Regex::new(regex).expect("regex").is_match(text)
    }

    #[test]
    fn wildcards_escapes_and_case() {
        let re = SigmaString::parse("/usr/bin/*sh").to_regex(false);
        assert!(matches(&re, "/usr/bin/bash") && matches(&re, "/USR/BIN/ZSH"));
        assert!(matches(&re, "/usr/bin/x/y/sh"), "`*` crosses `/`");
        assert!(!matches(&re, "/usr/bin/bash -c"), "anchored");
        let cased = SigmaString::parse("Foo").to_regex(true);
        assert!(matches(&cased, "Foo") && !matches(&cased, "foo"));
        let escaped = SigmaString::parse(r"a\*b\?c\\d\e").to_regex(false);
        assert!(matches(&escaped, r"a*b?c\d\e") && !matches(&escaped, r"axb?c\d\e"));
        let one = SigmaString::parse("a?c").to_regex(false);
        assert!(matches(&one, "abc") && !matches(&one, "abbc"));
        let contains = SigmaString::parse("curl").contains().to_regex(false);
        assert_eq!(contains, "(?is)curl");
        assert!(matches(&contains, "x CURL y"));
        assert_eq!(SigmaString::parse("a").starts_with().to_regex(false), "(?is)^a");
        assert_eq!(SigmaString::parse("a").ends_with().to_regex(false), "(?is)a$");
        assert_eq!(SigmaString::parse("").to_regex(false), "(?is)^$");
        assert_eq!(SigmaString::parse("*").to_regex(false), "(?is)");
    }

    #[test]
    fn windash_variants() {
        let re = SigmaString::parse(" -f ").windash().contains().to_regex(false);
        for text in ["x -f y", "x /f y", "x \u{2013}f y", "x \u{2014}f y", "x \u{2015}f y"] {
            assert!(matches(&re, text), "{text}");
        }
        assert!(!matches(&re, "x +f y"));
        // A dash inside a word stays a dash.
        let inner = SigmaString::parse("a-b").windash().to_regex(false);
        assert!(matches(&inner, "a-b") && !matches(&inner, "a/b"));
    }

    #[test]
    fn base64_and_offsets() {
        assert_eq!(encode(b"Man"), "TWFu");
        assert_eq!(encode(b"Ma"), "TWE=");
        assert_eq!(encode(b"M"), "TQ==");
        assert_eq!(
            base64(&SigmaString::parse("/bin/sh")).expect("b64"),
            SigmaString::literal("L2Jpbi9zaA==")
        );
        assert!(base64(&SigmaString::parse("a*")).is_err());
        // pySigma's values for `base64offset` of "/bin/bash".
        let variants: Vec<String> = base64_offsets(&SigmaString::parse("/bin/bash"))
            .expect("offsets")
            .iter()
            .map(|v| v.plain().expect("plain"))
            .collect();
        assert_eq!(variants, ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
        // Each variant is found in the encoding of a text holding the value at that offset.
        for prefix in ["", "x", "xy"] {
            let encoded = encode(format!("{prefix}/bin/bash -i").as_bytes());
            assert!(
                variants.iter().any(|v| encoded.contains(v.as_str())),
                "{prefix}: {encoded}"
            );
        }
    }

    #[test]
    fn modifiers() {
        assert_eq!(Modifier::parse("contains"), Ok(Modifier::Contains));
        assert!(Modifier::parse("wide").unwrap_err().to_string().contains("UTF-16"));
        assert!(
            Modifier::parse("bogus")
                .unwrap_err()
                .to_string()
                .contains("unknown modifier")
        );
    }
}
