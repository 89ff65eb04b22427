//! A drafted reply as the generator hands it on: the text, what it claims to be about, and
//! the generator's own record (model, prompt, tokens). Made by `llm`, read by scoring,
//! escalation and the turn's audit; here so that they need not import `llm`.

use serde::{Deserialize, Serialize};

/// A drafted reply, before the guard sees it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Draft {
    pub text: String,
    /// Skus the reply talks about.
    pub skus: Vec<String>,
    /// The generator's own confidence (0–1): self-rated by an LLM, evidence-based offline.
    pub confidence: f64,
    /// Set when the generator itself asks for a person, with the reason.
    pub needs_human: Option<String>,
    /// What the generator took the message to be about (greeting, product, policy, ...).
    pub intent: String,
    pub model: String,
    pub prompt_version: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// The prompt's tokens as counted here with tiktoken (the budget's measure; a server's
    /// own tokenizer, which gives `prompt_tokens`, may count differently).
    pub prompt_tokens_counted: i64,
    /// What the token budget cut from the prompt's context (`kind:count`), if anything.
    pub prompt_cuts: Vec<String>,
}
