//! Finding money amounts in free text: "$32.99", "$1,200", "32.99 USD", "15 dollars",
//! and bare two-decimal numbers such as "32.99" (in a shop's reply, almost always a price).

/// Every amount in `text`, in cents, in order of appearance.
pub fn amounts_in(text: &str) -> Vec<i64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let after_dollar = chars[i] == '$';
        let start = if after_dollar { i + 1 } else { i };
        let begins_number = start < chars.len()
            && chars[start].is_ascii_digit()
            && (after_dollar || i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
        if !begins_number {
            i += 1;
            continue;
        }
        let (cents, decimals, end) = read_number(&chars, start);
        let rest: String = chars[end..].iter().take(9).collect::<String>().to_lowercase();
        let unit_after = ["usd", "dollar", "buck"].iter().any(|u| rest.trim_start().starts_with(u));
        if after_dollar || unit_after || decimals == 2 {
            out.push(cents);
        }
        i = end.max(i + 1);
    }
    out
}

/// Reads `1,234.56` from `start`; returns (cents, number of decimals, index after the number).
fn read_number(chars: &[char], start: usize) -> (i64, usize, usize) {
    let mut whole: i64 = 0;
    let mut j = start;
    while j < chars.len() {
        let c = chars[j];
        if c.is_ascii_digit() {
            whole = whole.saturating_mul(10).saturating_add(i64::from(c as u8 - b'0'));
        } else if c == ',' && j + 3 < chars.len() + 1 && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
            // thousands separator
        } else {
            break;
        }
        j += 1;
    }
    let mut cents = whole.saturating_mul(100);
    let mut decimals = 0;
    if j + 1 < chars.len() && chars[j] == '.' && chars[j + 1].is_ascii_digit() {
        let mut k = j + 1;
        let mut frac = String::new();
        while k < chars.len() && chars[k].is_ascii_digit() {
            frac.push(chars[k]);
            k += 1;
        }
        decimals = frac.len();
        let two: String = format!("{frac:0<2}").chars().take(2).collect();
        // Saturating like the whole part: a 20-digit "price" must not wrap to a negative one.
        cents = cents.saturating_add(two.parse::<i64>().unwrap_or(0));
        j = k;
    }
    (cents, decimals, j)
}

#[cfg(test)]
mod tests {
    use super::amounts_in;

    #[test]
    fn finds_dollar_amounts_in_every_common_spelling() {
        assert_eq!(amounts_in("It's $32.99 and ships free over $50."), vec![3299, 5000]);
        assert_eq!(amounts_in("only 15 dollars, or 20 USD, or 32.99"), vec![1500, 2000, 3299]);
        assert_eq!(amounts_in("$1,200.5"), vec![120050]);
    }

    #[test]
    fn an_amount_too_large_for_cents_saturates() {
        // Found by the guard_claims fuzz target: the cents overflowed after the whole part
        // had saturated.
        assert_eq!(amounts_in("$99999999999999999999.99"), vec![i64::MAX]);
    }

    #[test]
    fn ignores_numbers_that_are_not_money() {
        assert!(amounts_in("order 591188 ships in 3-5 business days, size 10").is_empty());
        assert!(amounts_in("sku ZO0549605496").is_empty());
    }
}
