//! Drafting replies: an OpenAI-compatible chat client (async-openai), prompt templates
//! (minijinja), token counting (tiktoken-rs), and the offline responder with its sentences in
//! English and Spanish (`phrases`).

pub mod client;
pub mod offline;
pub mod phrases;
pub mod prompts;
pub mod tokens;

use crate::domain::draft::Draft;
use crate::domain::facts::Facts;
use async_trait::async_trait;

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
