//! Compose steps (docs/flows.md, "Compose steps"): the text is written for one customer from
//! the step's goal. The flow engine asks a [`Composer`]; the pipeline's (retrieval, the model
//! or the offline responder, the reply guard) is the one the server and `flows simulate` use.
//! The engine calls it outside any database transaction.

use async_trait::async_trait;

use crate::domain::Phone;
use crate::domain::flow::RunContext;

/// What a compose step asks for.
#[derive(Debug, Clone)]
pub struct ComposeRequest<'a> {
    pub flow: &'a str,
    /// The step's goal, the brand's instruction.
    pub goal: &'a str,
    pub phone: &'a Phone,
    /// The run's trigger (the cart's items, the order): the dialogue's focus.
    pub context: &'a RunContext,
}

/// A written text, or why none may go.
#[derive(Debug, Clone, PartialEq)]
pub enum Composed {
    /// Checked by the guard, ready to send as it is (no template).
    Text(String),
    /// Why nothing is sent (starts with `compose:`): the run ends with it.
    Refused(String),
}

/// Writes compose steps' texts.
#[async_trait]
pub trait Composer: Send + Sync {
    /// The text for this request; `Err` only when it could not be decided (a database
    /// error): the step's job is tried again.
    async fn compose(&self, request: &ComposeRequest<'_>) -> anyhow::Result<Composed>;
}
