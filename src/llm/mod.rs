//! Drafting replies: an OpenAI-compatible chat client (async-openai), prompt templates
//! (minijinja), token counting (tiktoken-rs), and the offline responder.

pub mod client;
pub mod offline;
pub mod prompts;
pub mod tokens;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::facts::Facts;

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

/// Why no draft came back.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("llm timed out after {0} s")]
    Timeout(u64),
    #[error("llm request failed: {0}")]
    Failed(String),
    /// The server rejected the request as malformed (400 or 422), e.g. a `response_format`
    /// it does not support.
    #[error("llm server refused the request: {0}")]
    Refused(String),
}

/// Something that drafts a reply from the turn's facts.
#[async_trait]
pub trait Generator: Send + Sync {
    /// Drafts a reply.
    async fn draft(&self, facts: &Facts) -> Result<Draft, LlmError>;
    /// The model name recorded on turns.
    fn model(&self) -> String;
}
