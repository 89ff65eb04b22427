//! Small text helpers shared by the opt-out rules, the sentiment score, the guard and the
//! SMS segmenter.

/// The byte offsets just after each sentence end of `text`: `.`, `!` or `?` followed by
/// whitespace or the end of the text, so "$5.95" is not cut at its decimal point.
pub fn sentence_ends(text: &str) -> Vec<usize> {
    text.char_indices()
        .filter_map(|(i, c)| {
            let end = i + c.len_utf8();
            let boundary = matches!(c, '.' | '!' | '?') && text[end..].chars().next().is_none_or(char::is_whitespace);
            boundary.then_some(end)
        })
        .collect()
}

/// `word` with every run of one letter longer than `keep` cut to `keep` ("stoppppp" →
/// "stopp" with 2, "stop" with 1). Digits and other characters are kept as they are, so an
/// order number survives.
pub fn squeeze_letters(word: &str, keep: usize) -> String {
    let mut out = String::with_capacity(word.len());
    let mut run = 0;
    let mut last = None;
    for c in word.chars() {
        run = if Some(c) == last { run + 1 } else { 1 };
        last = Some(c);
        if run <= keep || !c.is_alphabetic() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::squeeze_letters;

    #[test]
    fn sentences_end_at_punctuation_before_a_space_or_the_end() {
        assert_eq!(super::sentence_ends("It is $5.95. Yes! Ok?"), [12, 17, 21]);
        assert!(super::sentence_ends("no end").is_empty());
    }

    #[test]
    fn runs_of_letters_are_cut_and_digits_kept() {
        assert_eq!(squeeze_letters("stoppppp", 2), "stopp");
        assert_eq!(squeeze_letters("goooood", 1), "god");
        assert_eq!(squeeze_letters("#1000007", 1), "#1000007");
        assert_eq!(squeeze_letters("", 2), "");
    }
}
