//! An OpenAI-compatible chat client on async-openai (OpenAI, vLLM, Ollama, llama.cpp server).
//!
//! Requests go through async-openai's `create_byot` with plain JSON in and out, because
//! servers deviate from OpenAI's response shape (a missing `id`, a float `created`, an odd
//! `finish_reason`) and the typed parser rejects those; we read only what we need.
//! async-openai's default HTTP client has no timeout, so we pass one, and its default
//! executor retries 429 and 5xx on its own schedule (0.43: three times), outside the turn's
//! deadline and blind to refusals, so we install a plain reqwest service instead and retry
//! 429 and 5xx here, with backoff, inside the deadline.
//!
//! Structured output: the answer is asked for as a JSON schema (`response_format` of type
//! `json_schema`); a server that refuses that with a 400 or 422 (or, as llama-cpp-python's
//! does, a 500 whose message names `response_format`) is asked again in JSON mode
//! (`json_object`), then with no `response_format` (the prompt still asks for JSON, and any
//! text is read). The first mode that works is remembered for the process.
//!
//! Concurrency: one client per configured model, holding `llm.max_concurrency` slots; a
//! turn waits for a slot inside its deadline, so a burst of texts queues here instead of
//! drawing 429s from the provider.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_trait::async_trait;
use serde_json::{Value, json};
use tracing::warn;

use super::prompts::{Prompts, RenderedPrompt};
use super::{Generator, LlmError, tokens};
use crate::config::{BrandConfig, LlmConfig};
use crate::domain::draft::Draft;
use crate::domain::facts::Facts;

/// A chat model behind an OpenAI-compatible endpoint.
pub struct OpenAiGenerator {
    client: Client<OpenAIConfig>,
    config: LlmConfig,
    prompts: Prompts,
    brand: String,
    voice: String,
    max_chars: usize,
    /// Index in [`OUTPUT_MODES`] of the first mode this server accepts (0 until one fails).
    output_mode: AtomicUsize,
    /// Slots for requests in flight to this model (`llm.max_concurrency`).
    slots: tokio::sync::Semaphore,
}

/// How the answer's format is asked for, strictest first.
const OUTPUT_MODES: &[&str] = &["json_schema", "json_object", "none"];

/// The intents a model may name (as `domain::intent::Intent` spells them).
const INTENTS: &[&str] = &["greeting", "thanks", "order_status", "policy", "product", "unknown"];

/// The JSON schema of the answer the system prompt describes.
fn answer_schema() -> Value {
    json!({
        "name": "sms_reply",
        "strict": true,
        "schema": {
            "type": "object",
            "properties": {
                "reply": {"type": "string", "description": "the SMS text to send"},
                "skus": {"type": "array", "items": {"type": "string"}, "description": "skus the reply mentions"},
                "intent": {"type": "string", "enum": INTENTS, "description": "what the customer's message is about"},
                "confidence": {"type": "number", "description": "0 to 1: how sure the facts answer the message"},
                "needs_human": {"type": "boolean"},
                "reason": {"type": "string", "description": "why a person is needed, or empty"}
            },
            "required": ["reply", "skus", "intent", "confidence", "needs_human", "reason"],
            "additionalProperties": false
        }
    })
}

/// `request` with the `response_format` of `mode`.
fn with_output_mode(request: &Value, mode: &str) -> Value {
    let mut request = request.clone();
    match mode {
        "json_schema" => request["response_format"] = json!({"type": "json_schema", "json_schema": answer_schema()}),
        "json_object" => request["response_format"] = json!({"type": "json_object"}),
        _ => {}
    }
    request
}

impl OpenAiGenerator {
    /// A client for `config.base_url`; `max_chars` is the reply length the prompt asks for.
    pub fn new(config: &LlmConfig, brand: &BrandConfig, max_chars: usize) -> anyhow::Result<OpenAiGenerator> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let openai = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.expose());
        tokens::warm_up(&config.model);
        Ok(OpenAiGenerator {
            // A plain reqwest service: async-openai's default executor wraps requests in its
            // own retry layer (3 retries of 429/5xx), which would multiply with ours and
            // retry a server's refusal of `response_format` (see `call_with_retries`).
            client: Client::with_config(openai).with_http_service(ReqwestService::new(http)),
            config: config.clone(),
            prompts: Prompts::load()?,
            brand: brand.name.clone(),
            voice: brand.voice.clone(),
            max_chars,
            output_mode: AtomicUsize::new(0),
            slots: tokio::sync::Semaphore::new(config.max_concurrency),
        })
    }

    /// The reply length the prompt asks for: the turn's room (one SMS), else the default.
    fn reply_chars(&self, facts: &Facts) -> usize {
        if facts.reply_chars > 0 { facts.reply_chars } else { self.max_chars }
    }

    async fn call_with_retries(&self, request: &Value) -> Result<Value, LlmError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.client.chat().create_byot::<&Value, Value>(request).await {
                Ok(v) => return Ok(v),
                // llama-cpp-python's server answers a `response_format` it does not know
                // with a 500 naming the field (a request validation error): a refusal, not
                // an outage, so it is not retried.
                Err(OpenAIError::ApiError(api))
                    if api.status_code.is_server_error() && api.to_string().contains("response_format") =>
                {
                    return Err(LlmError::Refused(api.to_string()));
                }
                Err(e) if is_retryable(&e) && attempt < 5 => {
                    let delay = Duration::from_millis(200 * (1 << attempt.min(5)));
                    warn!(attempt, delay_ms = delay.as_millis() as u64, error = %e, "llm call failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(OpenAIError::ApiError(api)) if matches!(api.status_code.as_u16(), 400 | 422) => {
                    return Err(LlmError::Refused(api.to_string()));
                }
                Err(e) => return Err(LlmError::Failed(e.to_string())),
            }
        }
    }

    /// Calls in the strictest output mode the server takes, falling back on a refusal (a
    /// 400 or 422: the server does not take this request's `response_format`).
    async fn call_in_best_mode(&self, request: &Value) -> Result<Value, LlmError> {
        let mut mode = self.output_mode.load(Ordering::Relaxed);
        loop {
            match self.call_with_retries(&with_output_mode(request, OUTPUT_MODES[mode])).await {
                Err(e @ LlmError::Refused(_)) if mode + 1 < OUTPUT_MODES.len() => {
                    warn!(mode = OUTPUT_MODES[mode], error = %e, "the llm server refused this output mode; trying the next");
                    mode += 1;
                    self.output_mode.store(mode, Ordering::Relaxed);
                }
                result => return result,
            }
        }
    }
}

/// 429 and 5xx are worth retrying; so is a refused connection (a restarting server).
fn is_retryable(e: &OpenAIError) -> bool {
    match e {
        OpenAIError::ApiError(api) => api.status_code.as_u16() == 429 || api.status_code.is_server_error(),
        OpenAIError::Reqwest(r) => r.is_connect(),
        _ => false,
    }
}

/// The JSON object the system prompt asks for.
#[derive(Debug, Default)]
struct ModelAnswer {
    reply: String,
    skus: Vec<String>,
    intent: String,
    confidence: Option<f64>,
    needs_human: bool,
    reason: String,
}

impl ModelAnswer {
    /// Reads the fields leniently, as small models write them: a reply nested in an object
    /// (`{"reply": {"text": "..."}}`), a sku as a lone string, a number or a boolean as a
    /// string. A field of the wrong kind is left out rather than failing the answer; only a
    /// missing reply does.
    fn from_json(v: &Value) -> Result<ModelAnswer, LlmError> {
        let reply = first_text(&v["reply"]).unwrap_or_default();
        if reply.trim().is_empty() {
            return Err(LlmError::Failed("the model's answer has no reply".into()));
        }
        let skus = match &v["skus"] {
            Value::Array(items) => items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            _ => vec![],
        };
        let confidence = match &v["confidence"] {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let needs_human = match &v["needs_human"] {
            Value::Bool(b) => *b,
            Value::String(s) => matches!(s.trim().to_lowercase().as_str(), "true" | "yes"),
            _ => false,
        };
        Ok(ModelAnswer {
            reply,
            skus,
            intent: v["intent"].as_str().unwrap_or_default().to_string(),
            confidence,
            needs_human,
            reason: v["reason"].as_str().unwrap_or_default().to_string(),
        })
    }
}

/// A string, or the first string inside an object or array (depth first).
fn first_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.values().find_map(first_text),
        Value::Array(items) => items.iter().find_map(first_text),
        _ => None,
    }
}

/// Reads the model's answer: the JSON object when there is one (also inside code fences or
/// prose), or plain text (no `{` at all) as the reply with a neutral self-rating. Text that
/// tries to be JSON and is not (cut off, unquoted keys) is an error, never a reply: its
/// braces and keys would otherwise go to the customer.
/// Tells the model a product picture goes with its reply, so it does not say it cannot send
/// one (only on such turns: every other request stays byte for byte as recorded).
fn with_picture_note(user: String, facts: &Facts) -> String {
    match &facts.picture {
        Some(p) => format!("{user}\n\nA picture of {} ({}) is sent with your reply as MMS.", p.title, p.sku.as_str()),
        None => user,
    }
}

/// The user message's content: the text alone, or with the customer's pictures as content
/// parts (OpenAI chat completions, "image_url" content part: `{"type": "image_url",
/// "image_url": {"url": …}}`, a `data:` URL accepted).
fn user_content(user: String, images: &[String]) -> Value {
    if images.is_empty() {
        return Value::String(user);
    }
    let mut parts = vec![json!({"type": "text", "text": user})];
    parts.extend(images.iter().map(|url| json!({"type": "image_url", "image_url": {"url": url}})));
    Value::Array(parts)
}

fn parse_answer(content: &str) -> Result<ModelAnswer, LlmError> {
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Err(LlmError::Failed("the model's answer is empty".into()));
    }
    let (Some(start), Some(end)) = (trimmed.find('{'), trimmed.rfind('}')) else {
        if trimmed.contains('{') {
            return Err(LlmError::Failed("the model's answer is malformed JSON (unclosed object)".into()));
        }
        return Ok(ModelAnswer { reply: trimmed.to_string(), confidence: Some(0.5), ..ModelAnswer::default() });
    };
    match serde_json::from_str::<Value>(&trimmed[start.min(end)..=end]) {
        Ok(v @ Value::Object(_)) => ModelAnswer::from_json(&v),
        Ok(_) => Err(LlmError::Failed("the model's answer is not a JSON object".into())),
        Err(e) => Err(LlmError::Failed(format!("the model's answer is malformed JSON: {e}"))),
    }
}

/// The assistant's text in a chat completion, from the standard shape
/// (`choices[0].message.content` as a string) or the variants some servers send: content as
/// a list of text parts, or a completions-style `choices[0].text`.
fn answer_text(response: &Value) -> Result<String, LlmError> {
    let choice = &response["choices"][0];
    match &choice["message"]["content"] {
        Value::String(text) => return Ok(text.clone()),
        Value::Array(parts) => {
            let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
            if !text.is_empty() {
                return Ok(text);
            }
        }
        _ => {}
    }
    if let Some(text) = choice["text"].as_str() {
        return Ok(text.to_string());
    }
    if let Some(refusal) = choice["message"]["refusal"].as_str() {
        return Err(LlmError::Failed(format!("the model refused: {refusal}")));
    }
    Err(LlmError::Failed("the response has no choices[0].message.content".into()))
}

#[async_trait]
impl Generator for OpenAiGenerator {
    async fn draft(&self, facts: &Facts) -> Result<Draft, LlmError> {
        let RenderedPrompt { system, user, version, tokens: counted, cuts } = self
            .prompts
            .render_within(
                &self.brand,
                &self.voice,
                self.reply_chars(facts),
                facts,
                &self.config.model,
                self.config.max_prompt_tokens,
            )
            .map_err(|e| LlmError::Failed(format!("prompt render failed: {e}")))?;
        let request = json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user_content(with_picture_note(user, facts), &facts.images)},
            ],
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
            "stream": false,
        });
        let deadline = Duration::from_secs(self.config.timeout_secs);
        // Waiting for a slot counts toward the deadline: a turn stuck behind a slow model
        // escalates like one stuck on it.
        let call = async {
            let _slot = self.slots.acquire().await.map_err(|_| LlmError::Failed("llm client closed".into()))?;
            self.call_in_best_mode(&request).await
        };
        let response =
            tokio::time::timeout(deadline, call).await.map_err(|_| LlmError::Timeout(self.config.timeout_secs))??;
        let content = answer_text(&response)?;
        let content = content.as_str();
        let answer = parse_answer(content)?;
        let prompt_tokens = response["usage"]["prompt_tokens"].as_i64().unwrap_or(counted as i64);
        let completion_tokens = response["usage"]["completion_tokens"]
            .as_i64()
            .unwrap_or_else(|| tokens::count(&self.config.model, content) as i64);
        Ok(Draft {
            text: answer.reply.trim().to_string(),
            skus: answer.skus,
            confidence: answer.confidence.unwrap_or(0.5).clamp(0.0, 1.0),
            needs_human: answer
                .needs_human
                .then(|| if answer.reason.is_empty() { "model asked for a person".to_string() } else { answer.reason }),
            // The model's reading of the message when it gives a known one, else ours.
            intent: if INTENTS.contains(&answer.intent.as_str()) {
                answer.intent
            } else {
                crate::domain::intent::classify(facts).as_str().to_string()
            },
            model: self.config.model.clone(),
            prompt_version: version,
            prompt_tokens,
            completion_tokens,
            prompt_tokens_counted: counted as i64,
            prompt_cuts: cuts,
        })
    }

    fn model(&self) -> String {
        self.config.model.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_answer_is_read_even_inside_a_code_fence() {
        let a = parse_answer(
            "```json\n{\"reply\":\"Yes, $32.99\",\"skus\":[\"B1\"],\"confidence\":0.8,\"needs_human\":false}\n```",
        )
        .unwrap();
        assert_eq!(a.reply, "Yes, $32.99");
        assert_eq!(a.skus, vec!["B1"]);
        assert_eq!(a.confidence, Some(0.8));
    }

    #[test]
    fn plain_text_becomes_the_reply_with_neutral_confidence() {
        let a = parse_answer("Sure, we have it.").unwrap();
        assert_eq!(a.reply, "Sure, we have it.");
        assert_eq!(a.confidence, Some(0.5));
        assert!(!a.needs_human);
    }

    #[test]
    fn broken_json_is_an_error_not_a_reply() {
        for broken in [
            r#"{"reply": "Yes, $32.99", "confidence": 0.9"#,
            r#"{reply: 'Yes, $32.99'}"#,
            r#"{"skus": [], "confidence": 0.9}"#,
            "",
        ] {
            assert!(parse_answer(broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn non_standard_response_shapes_are_read() {
        let parts = json!({"choices": [{"message": {"content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}}]});
        assert_eq!(answer_text(&parts).unwrap(), "Hi there");
        let legacy = json!({"choices": [{"text": "Hello", "finish_reason": "eos"}], "created": 1.5});
        assert_eq!(answer_text(&legacy).unwrap(), "Hello");
        assert!(answer_text(&json!({"choices": []})).is_err());
        assert!(answer_text(&json!({"choices": [{"message": {"refusal": "no"}}]})).is_err());
    }

    #[test]
    fn small_model_quirks_are_read_leniently() {
        let a =
            parse_answer(r#"{"reply": {"text": "Hi there"}, "skus": "B1", "confidence": "0.7", "needs_human": "yes"}"#)
                .unwrap();
        assert_eq!(
            (a.reply.as_str(), a.skus, a.confidence, a.needs_human),
            ("Hi there", vec!["B1".to_string()], Some(0.7), true)
        );
        let odd = parse_answer(r#"{"reply": "Hi", "confidence": "not sure"}"#).unwrap();
        assert_eq!(odd.confidence, None);
    }
}
