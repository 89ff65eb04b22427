//! A fake Qdrant: a real gRPC server (tonic, over HTTP/2 on a local port) that speaks
//! Qdrant's protocol for the calls Backtalk makes, over collections held in memory.
//!
//! It answers health checks; creates, describes, checks and deletes collections of one
//! unnamed cosine vector; indexes a payload field (accepted, nothing to do); upserts, counts
//! and deletes points (by id, or by a filter of keyword matches); and answers a nearest-vector
//! query with an optional keyword filter, by exact cosine. Anything else is `unimplemented`,
//! so a new kind of call fails loudly here instead of passing untested.
//!
//! It stands in for a real server in CI, where none can be installed; the same tests run
//! against a real Qdrant when `BACKTALK_TEST_QDRANT_URL` is set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ::qdrant_client::qdrant::collections_server::{Collections, CollectionsServer};
use ::qdrant_client::qdrant::points_server::{Points, PointsServer};
use ::qdrant_client::qdrant::qdrant_server::{Qdrant as QdrantService, QdrantServer};
use ::qdrant_client::qdrant::*;
use tonic::{Request, Response, Status};

/// One stored point: its vector (unit length) and its payload.
struct Point {
    vector: Vec<f32>,
    payload: HashMap<String, Value>,
}

/// A collection: its vector size and points by id.
struct Collection {
    dim: u64,
    points: HashMap<String, Point>,
}

type Shared = Arc<Mutex<HashMap<String, Collection>>>;

/// The running fake; it stops when the test's runtime ends.
pub struct FakeQdrant {
    url: String,
    collections: Shared,
    requests: Arc<Mutex<Vec<&'static str>>>,
}

#[derive(Clone)]
struct Service {
    collections: Shared,
    requests: Arc<Mutex<Vec<&'static str>>>,
}

impl FakeQdrant {
    /// Starts the server on a free local port.
    pub async fn start() -> FakeQdrant {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = Service { collections: Shared::default(), requests: Arc::default() };
        let server = tonic::transport::Server::builder()
            .add_service(QdrantServer::new(service.clone()))
            .add_service(CollectionsServer::new(service.clone()))
            .add_service(PointsServer::new(service.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        FakeQdrant { url, collections: service.collections, requests: service.requests }
    }

    /// The gRPC url to configure as `qdrant.url`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Points in `collection` (0 when it does not exist).
    pub fn points(&self, collection: &str) -> usize {
        self.collections.lock().unwrap().get(collection).map_or(0, |c| c.points.len())
    }

    /// How many times the named call was made.
    pub fn calls(&self, name: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|n| **n == name).count()
    }
}

impl Service {
    fn record(&self, name: &'static str) {
        self.requests.lock().unwrap().push(name);
    }
}

fn point_key(id: Option<&PointId>) -> Result<String, Status> {
    match id.and_then(|id| id.point_id_options.as_ref()) {
        Some(point_id::PointIdOptions::Uuid(uuid)) => Ok(uuid.clone()),
        Some(point_id::PointIdOptions::Num(n)) => Ok(n.to_string()),
        None => Err(Status::invalid_argument("point without an id")),
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The dense vector of an upserted point.
fn dense(vectors: Option<&Vectors>) -> Result<Vec<f32>, Status> {
    match vectors.and_then(|v| v.vectors_options.as_ref()) {
        Some(vectors::VectorsOptions::Vector(Vector { vector: Some(vector::Vector::Dense(d)), .. })) => {
            Ok(d.data.clone())
        }
        _ => Err(Status::invalid_argument("the fake stores one unnamed dense vector per point")),
    }
}

/// True when `payload` passes `filter`: every `must` and no `must_not` condition matches.
/// Conditions are keyword matches on a payload field (all Backtalk sends).
fn passes(filter: Option<&Filter>, payload: &HashMap<String, Value>) -> Result<bool, Status> {
    let Some(filter) = filter else { return Ok(true) };
    let matches = |c: &Condition| -> Result<bool, Status> {
        let Some(condition::ConditionOneOf::Field(field)) = &c.condition_one_of else {
            return Err(Status::unimplemented("only field conditions"));
        };
        let Some(Match { match_value: Some(r#match::MatchValue::Keywords(words)) }) = &field.r#match else {
            return Err(Status::unimplemented("only keyword-list matches"));
        };
        let value = payload.get(&field.key).and_then(|v| v.as_str());
        Ok(value.is_some_and(|v| words.strings.iter().any(|w| w == v)))
    };
    for c in &filter.must {
        if !matches(c)? {
            return Ok(false);
        }
    }
    for c in &filter.must_not {
        if matches(c)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn done() -> PointsOperationResponse {
    PointsOperationResponse {
        result: Some(UpdateResult { operation_id: Some(0), status: UpdateStatus::Completed as i32 }),
        ..Default::default()
    }
}

fn missing(name: &str) -> Status {
    Status::not_found(format!("Collection `{name}` doesn't exist!"))
}

/// Writes the impl of a generated service trait: the calls given, then every other call as
/// `unimplemented`.
macro_rules! service_impl {
    (impl $trait:ident { $($implemented:tt)* } unimplemented { $($name:ident($req:ident) -> $resp:ident;)* }) => {
        #[tonic::async_trait]
        impl $trait for Service {
            $($implemented)*
            $(
                async fn $name(&self, _: Request<$req>) -> Result<Response<$resp>, Status> {
                    Err(Status::unimplemented(concat!("the fake qdrant does not do ", stringify!($name))))
                }
            )*
        }
    };
}

service_impl! {
    impl QdrantService {
        async fn health_check(&self, _: Request<HealthCheckRequest>) -> Result<Response<HealthCheckReply>, Status> {
            self.record("health_check");
            Ok(Response::new(HealthCheckReply { title: "fake qdrant".into(), version: "1.15.0".into(), commit: None }))
        }
    }
    unimplemented {}
}

service_impl! {
    impl Collections {
        async fn collection_exists(
            &self,
            request: Request<CollectionExistsRequest>,
        ) -> Result<Response<CollectionExistsResponse>, Status> {
            self.record("collection_exists");
            let exists = self.collections.lock().unwrap().contains_key(&request.get_ref().collection_name);
            Ok(Response::new(CollectionExistsResponse { result: Some(CollectionExists { exists }), time: 0.0 }))
        }

        async fn create(&self, request: Request<CreateCollection>) -> Result<Response<CollectionOperationResponse>, Status> {
            self.record("create_collection");
            let request = request.into_inner();
            let Some(VectorsConfig { config: Some(vectors_config::Config::Params(params)) }) = request.vectors_config
            else {
                return Err(Status::invalid_argument("the fake holds one unnamed vector per point"));
            };
            if params.distance != Distance::Cosine as i32 {
                return Err(Status::invalid_argument("the fake does cosine only"));
            }
            let mut collections = self.collections.lock().unwrap();
            if collections.contains_key(&request.collection_name) {
                return Err(Status::already_exists(format!("Collection `{}` already exists!", request.collection_name)));
            }
            collections.insert(request.collection_name, Collection { dim: params.size, points: HashMap::new() });
            Ok(Response::new(CollectionOperationResponse { result: true, time: 0.0 }))
        }

        async fn get(&self, request: Request<GetCollectionInfoRequest>) -> Result<Response<GetCollectionInfoResponse>, Status> {
            self.record("collection_info");
            let name = &request.get_ref().collection_name;
            let collections = self.collections.lock().unwrap();
            let collection = collections.get(name).ok_or_else(|| missing(name))?;
            let vectors = VectorsConfig {
                config: Some(vectors_config::Config::Params(VectorParams {
                    size: collection.dim,
                    distance: Distance::Cosine as i32,
                    ..Default::default()
                })),
            };
            let info = CollectionInfo {
                points_count: Some(collection.points.len() as u64),
                config: Some(CollectionConfig {
                    params: Some(CollectionParams { vectors_config: Some(vectors), ..Default::default() }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            Ok(Response::new(GetCollectionInfoResponse { result: Some(info), time: 0.0 }))
        }

        async fn delete(&self, request: Request<DeleteCollection>) -> Result<Response<CollectionOperationResponse>, Status> {
            self.record("delete_collection");
            let removed = self.collections.lock().unwrap().remove(&request.get_ref().collection_name);
            Ok(Response::new(CollectionOperationResponse { result: removed.is_some(), time: 0.0 }))
        }
    }
    unimplemented {
        list(ListCollectionsRequest) -> ListCollectionsResponse;
        update(UpdateCollection) -> CollectionOperationResponse;
        update_aliases(ChangeAliases) -> CollectionOperationResponse;
        list_collection_aliases(ListCollectionAliasesRequest) -> ListAliasesResponse;
        list_aliases(ListAliasesRequest) -> ListAliasesResponse;
        collection_cluster_info(CollectionClusterInfoRequest) -> CollectionClusterInfoResponse;
        update_collection_cluster_setup(UpdateCollectionClusterSetupRequest) -> UpdateCollectionClusterSetupResponse;
        create_shard_key(CreateShardKeyRequest) -> CreateShardKeyResponse;
        delete_shard_key(DeleteShardKeyRequest) -> DeleteShardKeyResponse;
        list_shard_keys(ListShardKeysRequest) -> ListShardKeysResponse;
    }
}

service_impl! {
    impl Points {
        async fn create_field_index(
            &self,
            request: Request<CreateFieldIndexCollection>,
        ) -> Result<Response<PointsOperationResponse>, Status> {
            self.record("create_field_index");
            let name = &request.get_ref().collection_name;
            if !self.collections.lock().unwrap().contains_key(name) {
                return Err(missing(name));
            }
            Ok(Response::new(done()))
        }

        async fn upsert(&self, request: Request<UpsertPoints>) -> Result<Response<PointsOperationResponse>, Status> {
            self.record("upsert");
            let request = request.into_inner();
            let mut collections = self.collections.lock().unwrap();
            let name = &request.collection_name;
            let collection = collections.get_mut(name).ok_or_else(|| missing(name))?;
            for point in request.points {
                let vector = dense(point.vectors.as_ref())?;
                if vector.len() as u64 != collection.dim {
                    return Err(Status::invalid_argument(format!(
                        "Wrong input: Vector dimension error: expected dim: {}, got {}",
                        collection.dim,
                        vector.len()
                    )));
                }
                let key = point_key(point.id.as_ref())?;
                collection.points.insert(key, Point { vector: unit(vector), payload: point.payload });
            }
            Ok(Response::new(done()))
        }

        async fn delete(&self, request: Request<DeletePoints>) -> Result<Response<PointsOperationResponse>, Status> {
            self.record("delete_points");
            let request = request.into_inner();
            let mut collections = self.collections.lock().unwrap();
            let name = &request.collection_name;
            let collection = collections.get_mut(name).ok_or_else(|| missing(name))?;
            match request.points.and_then(|p| p.points_selector_one_of) {
                Some(points_selector::PointsSelectorOneOf::Points(list)) => {
                    for id in &list.ids {
                        collection.points.remove(&point_key(Some(id))?);
                    }
                }
                Some(points_selector::PointsSelectorOneOf::Filter(filter)) => {
                    let mut doomed = Vec::new();
                    for (key, point) in &collection.points {
                        if passes(Some(&filter), &point.payload)? {
                            doomed.push(key.clone());
                        }
                    }
                    doomed.iter().for_each(|key| {
                        collection.points.remove(key);
                    });
                }
                None => return Err(Status::invalid_argument("delete without a selector")),
            }
            Ok(Response::new(done()))
        }

        async fn count(&self, request: Request<CountPoints>) -> Result<Response<CountResponse>, Status> {
            self.record("count");
            let request = request.into_inner();
            let collections = self.collections.lock().unwrap();
            let name = &request.collection_name;
            let collection = collections.get(name).ok_or_else(|| missing(name))?;
            let mut count = 0;
            for point in collection.points.values() {
                count += u64::from(passes(request.filter.as_ref(), &point.payload)?);
            }
            Ok(Response::new(CountResponse { result: Some(CountResult { count }), ..Default::default() }))
        }

        async fn query(&self, request: Request<QueryPoints>) -> Result<Response<QueryResponse>, Status> {
            self.record("query");
            let request = request.into_inner();
            let Some(Query { variant: Some(query::Variant::Nearest(VectorInput { variant: Some(vector_input::Variant::Dense(d)) })) }) =
                request.query
            else {
                return Err(Status::unimplemented("the fake answers nearest-dense-vector queries only"));
            };
            let collections = self.collections.lock().unwrap();
            let name = &request.collection_name;
            let collection = collections.get(name).ok_or_else(|| missing(name))?;
            if d.data.len() as u64 != collection.dim {
                return Err(Status::invalid_argument("query vector of the wrong size"));
            }
            let query = unit(d.data);
            let mut scored = Vec::new();
            for (key, point) in &collection.points {
                if passes(request.filter.as_ref(), &point.payload)? {
                    let score: f32 = query.iter().zip(&point.vector).map(|(a, b)| a * b).sum();
                    let id = PointId { point_id_options: Some(point_id::PointIdOptions::Uuid(key.clone())) };
                    scored.push(ScoredPoint { id: Some(id), payload: point.payload.clone(), score, ..Default::default() });
                }
            }
            scored.sort_by(|a, b| b.score.total_cmp(&a.score));
            scored.truncate(request.limit.unwrap_or(10) as usize);
            Ok(Response::new(QueryResponse { result: scored, ..Default::default() }))
        }
    }
    unimplemented {
        get(GetPoints) -> GetResponse;
        update_vectors(UpdatePointVectors) -> PointsOperationResponse;
        delete_vectors(DeletePointVectors) -> PointsOperationResponse;
        set_payload(SetPayloadPoints) -> PointsOperationResponse;
        overwrite_payload(SetPayloadPoints) -> PointsOperationResponse;
        delete_payload(DeletePayloadPoints) -> PointsOperationResponse;
        clear_payload(ClearPayloadPoints) -> PointsOperationResponse;
        delete_field_index(DeleteFieldIndexCollection) -> PointsOperationResponse;
        create_vector_name(CreateVectorNameRequest) -> PointsOperationResponse;
        delete_vector_name(DeleteVectorNameRequest) -> PointsOperationResponse;
        search(SearchPoints) -> SearchResponse;
        search_batch(SearchBatchPoints) -> SearchBatchResponse;
        search_groups(SearchPointGroups) -> SearchGroupsResponse;
        scroll(ScrollPoints) -> ScrollResponse;
        recommend(RecommendPoints) -> RecommendResponse;
        recommend_batch(RecommendBatchPoints) -> RecommendBatchResponse;
        recommend_groups(RecommendPointGroups) -> RecommendGroupsResponse;
        discover(DiscoverPoints) -> DiscoverResponse;
        discover_batch(DiscoverBatchPoints) -> DiscoverBatchResponse;
        update_batch(UpdateBatchPoints) -> UpdateBatchResponse;
        query_batch(QueryBatchPoints) -> QueryBatchResponse;
        query_groups(QueryPointGroups) -> QueryGroupsResponse;
        facet(FacetCounts) -> FacetResponse;
        search_matrix_pairs(SearchMatrixPoints) -> SearchMatrixPairsResponse;
        search_matrix_offsets(SearchMatrixPoints) -> SearchMatrixOffsetsResponse;
    }
}
