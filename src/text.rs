//! Small text helpers shared by the opt-out rules and the sentiment score.

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
    fn runs_of_letters_are_cut_and_digits_kept() {
        assert_eq!(squeeze_letters("stoppppp", 2), "stopp");
        assert_eq!(squeeze_letters("goooood", 1), "god");
        assert_eq!(squeeze_letters("#1000007", 1), "#1000007");
        assert_eq!(squeeze_letters("", 2), "");
    }
}
