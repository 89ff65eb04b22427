//! Embeddings from an OpenAI-compatible `/embeddings` endpoint: the client that turns
//! product and query texts into unit-length vectors for semantic search
//! ([`super::semantic`]).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{CreateEmbeddingRequestArgs, EmbeddingInput, EncodingFormat};
use serde::Deserialize;

use super::vector_store::normalize;

/// Texts sent in one request: well under OpenAI's 2048 inputs and 300k tokens per request
/// for product texts, and small enough that one slow batch does not hit the timeout.
const DEFAULT_BATCH_SIZE: usize = 64;
/// Longest part of an error body quoted in an error message.
const MAX_QUOTED_BODY: usize = 300;

/// Embeddings from an OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama,
/// llama.cpp server, text-embeddings-inference).
///
/// Requests go through async-openai's `create_byot` with our own lenient response type:
/// servers differ in the fields around the vectors (no `usage`, no `object`, sometimes no
/// `index`), and we read only the vectors and their indices. async-openai retries 429, 5xx
/// and refused connections itself (3 retries, backoff from 100 ms), so a request can take up
/// to about four times the timeout before it fails.
pub struct EmbeddingClient {
    client: Client<OpenAIConfig>,
    /// The model name sent with every request.
    model: String,
    /// Texts per request.
    batch_size: usize,
    /// The vector length of the first answer; every later answer must match it, since
    /// vectors of different models or settings cannot be compared.
    dim: OnceLock<usize>,
}

impl EmbeddingClient {
    /// A client for `base_url` (including the version path, e.g. `http://localhost:11434/v1`);
    /// `timeout` bounds each HTTP request.
    pub fn new(base_url: &str, model: &str, api_key: &str, timeout: Duration) -> anyhow::Result<EmbeddingClient> {
        ensure!(!model.trim().is_empty(), "embedding model name is empty");
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .context("failed to build the embedding http client")?;
        let config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/')).with_api_key(api_key);
        Ok(EmbeddingClient {
            client: Client::with_config(config).with_http_client(http),
            model: model.to_string(),
            batch_size: DEFAULT_BATCH_SIZE,
            dim: OnceLock::new(),
        })
    }

    /// Sends at most `batch_size` texts per request (at least 1).
    pub fn with_batch_size(mut self, batch_size: usize) -> EmbeddingClient {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The vector length, once an answer has set it.
    pub fn dim(&self) -> Option<usize> {
        self.dim.get().copied()
    }

    /// One unit-length vector per text, in the order of `texts`, fetched in requests of at
    /// most `batch_size` texts sent one after another.
    pub async fn embed(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        // OpenAI rejects an empty input with a 400 that does not say which one; say it here.
        if let Some(position) = texts.iter().position(|t| t.trim().is_empty()) {
            bail!("text {position} is empty: embedding endpoints reject empty input");
        }
        let mut vectors = Vec::with_capacity(texts.len());
        for (batch_number, batch) in texts.chunks(self.batch_size).enumerate() {
            let first = batch_number * self.batch_size;
            let embedded = self
                .embed_batch(batch)
                .await
                .with_context(|| format!("failed to embed texts {first}..{}", first + batch.len()))?;
            vectors.extend(embedded);
        }
        Ok(vectors)
    }

    async fn embed_batch(&self, batch: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let request = CreateEmbeddingRequestArgs::default()
            .model(&self.model)
            .input(EmbeddingInput::StringArray(batch.to_vec()))
            .encoding_format(EncodingFormat::Float)
            .build()
            .context("failed to build the embedding request")?;
        let response: EmbeddingResponse =
            self.client.embeddings().create_byot(request).await.map_err(describe_error)?;
        let mut vectors = in_input_order(response.data, batch.len())?;
        for (position, vector) in vectors.iter_mut().enumerate() {
            let expected = *self.dim.get_or_init(|| vector.len());
            ensure!(
                vector.len() == expected,
                "embedding {position} has {} dimensions, earlier embeddings have {expected}",
                vector.len()
            );
            normalize(vector).with_context(|| format!("embedding {position} cannot be normalised"))?;
        }
        Ok(vectors)
    }
}

/// The part of an embeddings response we read.
#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    /// Position of the input text; some servers leave it out and answer in input order.
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Puts the vectors in input order by their `index`, checking that there is exactly one
/// per text.
fn in_input_order(items: Vec<EmbeddingItem>, texts: usize) -> anyhow::Result<Vec<Vec<f32>>> {
    ensure!(items.len() == texts, "embedding endpoint returned {} vectors for {texts} texts", items.len());
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; texts];
    for (position, item) in items.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let Some(slot) = slots.get_mut(index) else {
            bail!("embedding endpoint returned index {index} for {texts} texts");
        };
        ensure!(slot.is_none(), "embedding endpoint returned index {index} twice");
        ensure!(!item.embedding.is_empty(), "embedding endpoint returned an empty vector at index {index}");
        *slot = Some(item.embedding);
    }
    // `texts` items with distinct indices below `texts` fill every slot.
    Ok(slots.into_iter().flatten().collect())
}

/// An error that says what went wrong without quoting a whole response body.
fn describe_error(error: OpenAIError) -> anyhow::Error {
    match error {
        OpenAIError::ApiError(api) => {
            let message: String = api.api_error.message.chars().take(MAX_QUOTED_BODY).collect();
            anyhow!("embedding endpoint returned http {}: {}", api.status_code.as_u16(), message.trim())
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => anyhow!("embedding request timed out"),
        OpenAIError::Reqwest(e) if e.is_connect() => anyhow!(e).context("cannot connect to the embedding endpoint"),
        // Also what a 4xx without an OpenAI error object becomes, e.g. a 404 from a base url
        // without its `/v1`: quote the start of the body, not megabytes of vectors.
        OpenAIError::JSONDeserialize(e, body) => {
            let start: String = body.chars().take(MAX_QUOTED_BODY).collect();
            anyhow!("embedding endpoint answered with something other than the expected json ({e}): {start:?}")
        }
        other => anyhow!(other).context("embedding request failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake OpenAI-compatible embeddings server speaking the real wire format.
    mod fake_server {
        use std::sync::{Arc, Mutex};

        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::post;
        use axum::{Json, Router};
        use serde_json::{Value, json};

        #[derive(Clone, Copy)]
        pub enum Mode {
            /// Vectors for every text, listed in reverse order with their `index`.
            Normal,
            /// A 500 with a plain-text body.
            ServerError,
            /// One vector fewer than texts.
            WrongCount,
            /// Answers after two seconds.
            Slow,
        }

        #[derive(Clone)]
        struct Fake {
            mode: Mode,
            /// The inputs of each request, in arrival order.
            requests: Arc<Mutex<Vec<Vec<String>>>>,
        }

        /// A vector that differs per text and is not unit length; texts starting with
        /// "wide" get four dimensions instead of three.
        pub fn vector_for(text: &str) -> Vec<f32> {
            let sum = text.bytes().map(u32::from).sum::<u32>() % 97;
            let mut v = vec![text.len() as f32, sum as f32 + 1.0, 2.0];
            if text.starts_with("wide") {
                v.push(5.0);
            }
            v
        }

        async fn embeddings(State(fake): State<Fake>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
            assert_eq!(headers["authorization"], "Bearer test-key");
            assert_eq!(body["model"], "fake-embed");
            assert_eq!(body["encoding_format"], "float");
            let inputs: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
            fake.requests.lock().unwrap().push(inputs.clone());
            let mut data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": vector_for(text)}))
                .collect();
            data.reverse();
            match fake.mode {
                Mode::Normal => {}
                Mode::ServerError => return (StatusCode::INTERNAL_SERVER_ERROR, "model crashed").into_response(),
                Mode::WrongCount => {
                    data.pop();
                }
                Mode::Slow => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            }
            let usage = json!({"prompt_tokens": 1, "total_tokens": 1});
            Json(json!({"object": "list", "model": "fake-embed", "data": data, "usage": usage})).into_response()
        }

        /// Starts the server on a free port; returns its base URL and the requests it saw.
        pub async fn start(mode: Mode) -> (String, Arc<Mutex<Vec<Vec<String>>>>) {
            let requests = Arc::new(Mutex::new(Vec::new()));
            let app = Router::new()
                .route("/v1/embeddings", post(embeddings))
                .with_state(Fake { mode, requests: requests.clone() });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            (format!("http://{address}/v1/"), requests)
        }
    }

    use fake_server::Mode;

    fn client(base_url: &str, timeout: Duration) -> EmbeddingClient {
        EmbeddingClient::new(base_url, "fake-embed", "test-key", timeout).unwrap()
    }

    fn texts(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn embeddings_come_back_in_input_order_normalised_and_in_batches() {
        let (url, requests) = fake_server::start(Mode::Normal).await;
        let client = client(&url, Duration::from_secs(5)).with_batch_size(3);
        let input = texts(&["red dress", "blue jeans", "a", "wool socks", "sandals", "hat", "scarf"]);
        let vectors = client.embed(&input).await.unwrap();

        let sizes: Vec<usize> = requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(requests.lock().unwrap().concat(), input);
        assert_eq!(vectors.len(), input.len());
        for (text, vector) in input.iter().zip(&vectors) {
            let mut expected = fake_server::vector_for(text);
            normalize(&mut expected).unwrap();
            assert_eq!(vector, &expected, "vector of {text:?}");
            let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-6);
        }
        assert_eq!(client.dim(), Some(3));
        assert!(client.embed(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_change_of_dimension_between_calls_is_an_error() {
        let (url, _) = fake_server::start(Mode::Normal).await;
        let client = client(&url, Duration::from_secs(5));
        client.embed(&texts(&["narrow"])).await.unwrap();
        let error = format!("{:#}", client.embed(&texts(&["wide one"])).await.unwrap_err());
        assert!(error.contains("embedding 0 has 4 dimensions, earlier embeddings have 3"), "{error}");
    }

    /// The whole error chain of embedding `items` with a fake server in `mode`, and how
    /// many requests the server saw.
    async fn embedding_error(mode: Mode, timeout: Duration, items: &[&str]) -> (String, usize) {
        let (url, requests) = fake_server::start(mode).await;
        let error = client(&url, timeout).embed(&texts(items)).await.unwrap_err();
        let seen = requests.lock().unwrap().len();
        (format!("{error:#}"), seen)
    }

    #[tokio::test]
    async fn a_server_error_reports_the_http_status_and_body() {
        let (error, requests) = embedding_error(Mode::ServerError, Duration::from_secs(5), &["x"]).await;
        assert!(error.contains("failed to embed texts 0..1"), "{error}");
        assert!(error.contains("embedding endpoint returned http 500: model crashed"), "{error}");
        // async-openai retried the 5xx before giving up.
        assert!(requests > 1);
    }

    #[tokio::test]
    async fn a_response_with_the_wrong_number_of_vectors_is_an_error() {
        let (error, _) = embedding_error(Mode::WrongCount, Duration::from_secs(5), &["x", "y"]).await;
        assert!(error.contains("embedding endpoint returned 1 vectors for 2 texts"), "{error}");
    }

    #[tokio::test]
    async fn a_base_url_without_the_version_path_gives_a_clear_error() {
        let (url, _) = fake_server::start(Mode::Normal).await;
        let without_v1 = url.trim_end_matches("/v1/");
        let error =
            format!("{:#}", client(without_v1, Duration::from_secs(5)).embed(&texts(&["x"])).await.unwrap_err());
        assert!(error.contains("embedding endpoint answered with something other than the expected json"), "{error}");
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let (error, _) = embedding_error(Mode::Slow, Duration::from_millis(200), &["x"]).await;
        assert!(error.contains("embedding request timed out"), "{error}");
    }

    #[tokio::test]
    async fn an_empty_text_is_refused_before_any_request() {
        let (error, requests) = embedding_error(Mode::Normal, Duration::from_secs(5), &["ok", "  "]).await;
        assert!(error.contains("text 1 is empty"), "{error}");
        assert_eq!(requests, 0);
    }

    #[test]
    fn indices_out_of_range_or_repeated_are_errors() {
        let item = |index: Option<usize>| EmbeddingItem { index, embedding: vec![1.0] };
        let error = in_input_order(vec![item(Some(0)), item(Some(5))], 2).unwrap_err().to_string();
        assert!(error.contains("index 5 for 2 texts"), "{error}");
        let error = in_input_order(vec![item(Some(1)), item(Some(1))], 2).unwrap_err().to_string();
        assert!(error.contains("index 1 twice"), "{error}");
        assert_eq!(in_input_order(vec![item(None), item(None)], 2).unwrap().len(), 2);
    }
}
