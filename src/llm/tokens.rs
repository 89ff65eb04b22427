//! Token counting with tiktoken-rs (the BPE tables are compiled in: fully offline).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// The tokenizer for `model`: cl100k_base for GPT-3.5/4-era names, o200k_base otherwise
/// (GPT-4o and later, and a fair estimate for other model families).
fn bpe_for(model: &str) -> &'static CoreBPE {
    static O200K: OnceLock<CoreBPE> = OnceLock::new();
    static CL100K: OnceLock<CoreBPE> = OnceLock::new();
    let legacy = model.starts_with("gpt-4") && !model.starts_with("gpt-4o") || model.starts_with("gpt-3.5");
    if legacy {
        CL100K.get_or_init(|| tiktoken_rs::cl100k_base().expect("bundled cl100k table loads"))
    } else {
        O200K.get_or_init(|| tiktoken_rs::o200k_base().expect("bundled o200k table loads"))
    }
}

/// Number of tokens `text` takes for `model`.
pub fn count(model: &str, text: &str) -> usize {
    bpe_for(model).encode_with_special_tokens(text).len()
}

/// Loads the tables now (≈0.2 s) so the first turn does not pay for it.
pub fn warm_up(model: &str) {
    let _ = count(model, "warm up");
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_tokens_with_the_model_family_table() {
        let n = super::count("gpt-4o-mini", "Do you have the blouse in red?");
        assert!((5..=12).contains(&n), "{n}");
        assert!(super::count("gpt-3.5-turbo", "hello world") >= 2);
    }
}
