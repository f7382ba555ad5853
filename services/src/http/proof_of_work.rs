//! `--proof-of-work N`: a booking or wish costs its sender some
//! computing, so one machine cannot send hundreds a minute. The ALTCHA scheme
//! (altcha.org, "v1"), self-hosted: the server picks a secret number up to
//! the difficulty, publishes SHA-256(salt + number) with an HMAC signature and
//! an expiry inside the salt; the client tries numbers until the hash matches
//! and sends the number back. The server checks the signature (the challenge
//! is its own), the expiry, the number, and that the solution is new.
//!
//! Where it applies: `POST /termin/buchen`, `POST /suche`, `POST
//! /meine-termine` (the form field `altcha`, filled by
//! `/assets/proof-of-work.js`) and `POST /api/v1/bookings`, `POST
//! /api/v1/wishes`, `POST /api/v1/overview-requests` (header `X-Proof-Of-Work`): the API is public, so a bot
//! refused at the form would otherwise post there. Requests with a valid
//! staff, device or operator token are exempt (the counter books for
//! visitors). A form sent without a solution (no JavaScript) is not refused:
//! it is held as long as a slow browser would compute, at most
//! [`WAITING_PER_NETWORK`] at a time per client network, then goes through.
//!
//! Spent solutions are remembered until their challenge expires, in this
//! process and in the store's `spent_proofs`, so a solution one API process
//! accepted is refused by every other (API.md: "good once").

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::Problem;
use super::rate_limit::{ClientAddress, ClientNetwork, StaffRequest};

/// The form field carrying a solution (the name the ALTCHA widget uses).
pub const FORM_FIELD: &str = "altcha";
/// The API's header carrying a solution.
pub const HEADER: &str = "x-proof-of-work";
/// Where clients fetch a challenge.
pub const CHALLENGE_PATH: &str = "/api/v1/challenge";
/// The form pages' script.
pub const SCRIPT_PATH: &str = "/assets/proof-of-work.js";
/// Requests that cost a solution (POST only).
const GUARDED_PATHS: [&str; 6] = [
    "/termin/buchen",
    "/suche",
    "/meine-termine",
    "/api/v1/bookings",
    "/api/v1/wishes",
    "/api/v1/overview-requests",
];
/// How long a challenge may be solved and spent (API.md: "a few minutes");
/// the script fetches a fresh one when the form took longer.
const VALID_FOR: Duration = Duration::from_secs(5 * 60);
/// Numbers a slow browser (an old phone) tries per second; the wait without
/// JavaScript is what the difficulty would cost it at most.
const SLOW_BROWSER_HASHES_PER_SECOND: u64 = 100_000;
/// Forms held without a solution at the same time per client network.
pub const WAITING_PER_NETWORK: u32 = 2;

/// A challenge as `GET /api/v1/challenge` answers it (ALTCHA's fields).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Challenge {
    /// Always `SHA-256`.
    pub algorithm: String,
    /// Hex SHA-256 of `salt` followed by the secret number in decimal.
    pub challenge: String,
    /// The secret number is at most this (the difficulty).
    pub maxnumber: u64,
    /// Random, with the expiry as `?expires=UNIX_SECONDS`.
    pub salt: String,
    /// Hex HMAC-SHA-256 of `challenge` under the server's key.
    pub signature: String,
}

/// What a client sends back: base64 of this JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Solution {
    pub algorithm: String,
    pub challenge: String,
    pub number: u64,
    pub salt: String,
    pub signature: String,
}

impl Solution {
    /// The form field's or header's value.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a solution serializes");
        base64::engine::general_purpose::STANDARD.encode(json)
    }
}

/// Why a solution is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no proof of work: fetch a challenge from GET /api/v1/challenge and send the solution as X-Proof-Of-Work")]
    Missing,
    #[error("the proof of work is not base64 of the solution's JSON")]
    Malformed,
    #[error("the challenge was not issued by this server")]
    WrongSignature,
    #[error("the challenge has expired; fetch a new one")]
    Expired,
    #[error("the number does not solve the challenge")]
    WrongNumber,
    #[error("this solution was already used; fetch a new challenge")]
    Reused,
}

/// A checked solution: its challenge's signature and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentProof {
    signature: String,
    expires: DateTime<Utc>,
}

/// Issues and checks challenges; remembers spent solutions and held forms.
pub struct ProofOfWork {
    key: Vec<u8>,
    difficulty: u64,
    /// Signature of each spent challenge → its expiry.
    spent: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Forms held without a solution, per client network.
    waiting: Mutex<HashMap<ClientNetwork, u32>>,
}

impl ProofOfWork {
    /// `key` signs the challenges: derived from the link secret, so every API
    /// process of an installation accepts the others' challenges.
    pub fn new(key: &[u8], difficulty: u64) -> Self {
        ProofOfWork {
            key: key.to_vec(),
            difficulty,
            spent: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    pub fn difficulty(&self) -> u64 {
        self.difficulty
    }

    /// How long a form without a solution is held: what the worst case of the
    /// difficulty costs a slow browser, at least a second.
    pub fn wait_without_script(&self) -> Duration {
        Duration::from_millis((self.difficulty * 1000 / SLOW_BROWSER_HASHES_PER_SECOND).max(1000))
    }

    fn sign(&self, challenge: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(challenge.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A fresh challenge, valid for five minutes from `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> Challenge {
        let mut rng = rand::thread_rng();
        let salt_bytes: [u8; 12] = rng.r#gen();
        let expires = now + chrono::Duration::from_std(VALID_FOR).expect("five minutes");
        let salt = format!("{}?expires={}", hex(&salt_bytes), expires.timestamp());
        let number = rng.gen_range(0..=self.difficulty);
        let challenge = hash(&salt, number);
        Challenge {
            algorithm: "SHA-256".into(),
            signature: self.sign(&challenge),
            challenge,
            maxnumber: self.difficulty,
            salt,
        }
    }

    /// Accepts `payload` once in every process of the installation: checked
    /// here ([`ProofOfWork::verify`]), then spent in the store. Should the
    /// store not answer, this process's own memory decides (the request's
    /// decision needs the store too and fails then anyway).
    pub async fn accept(
        &self,
        store: &terminagent_eventstore::EventStore,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let spent = self.verify(payload, now)?;
        match store.progress().spend_proof(&spent.signature, spent.expires, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refusal::Reused),
            Err(error) => {
                tracing::warn!(%error, "a spent proof of work could not be recorded in the store");
                Ok(())
            }
        }
    }

    /// Accepts `payload` (base64 JSON of a [`Solution`]) once in this
    /// process, before its expiry; what to spend in the store.
    pub fn verify(&self, payload: &str, now: DateTime<Utc>) -> Result<SpentProof, Refusal> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|_| Refusal::Malformed)?;
        let solution: Solution = serde_json::from_slice(&json).map_err(|_| Refusal::Malformed)?;
        if solution.algorithm != "SHA-256" {
            return Err(Refusal::Malformed);
        }
        if !same(&self.sign(&solution.challenge), &solution.signature) {
            return Err(Refusal::WrongSignature);
        }
        // The expiry is part of the salt, which the signed hash covers.
        let expires = solution
            .salt
            .split_once("?expires=")
            .and_then(|(_, seconds)| seconds.split('&').next()?.parse::<i64>().ok())
            .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0))
            .ok_or(Refusal::Malformed)?;
        if expires <= now {
            return Err(Refusal::Expired);
        }
        if hash(&solution.salt, solution.number) != solution.challenge {
            return Err(Refusal::WrongNumber);
        }
        let mut spent = self.spent.lock().expect("spent solutions");
        if spent.len() > 10_000 {
            spent.retain(|_, expiry| *expiry > now);
        }
        if spent.insert(solution.signature.clone(), expires).is_some() {
            return Err(Refusal::Reused);
        }
        Ok(SpentProof {
            signature: solution.signature,
            expires,
        })
    }

    /// A place among the held forms of `network`, or `None` when it has
    /// [`WAITING_PER_NETWORK`] already.
    fn hold(self: &std::sync::Arc<Self>, network: ClientNetwork) -> Option<HeldForm> {
        let mut waiting = self.waiting.lock().expect("held forms");
        let held = waiting.entry(network).or_default();
        if *held >= WAITING_PER_NETWORK {
            return None;
        }
        *held += 1;
        Some(HeldForm {
            guard: self.clone(),
            network,
        })
    }
}

/// One held form; gives its place back when dropped (also when the client
/// goes away while it waits).
struct HeldForm {
    guard: std::sync::Arc<ProofOfWork>,
    network: ClientNetwork,
}

impl Drop for HeldForm {
    fn drop(&mut self) {
        let mut waiting = self.guard.waiting.lock().expect("held forms");
        if let Some(held) = waiting.get_mut(&self.network) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                waiting.remove(&self.network);
            }
        }
    }
}

/// Finds the number that solves `challenge`, as a client does (tests, benches, programs).
pub fn solve(challenge: &Challenge) -> Option<Solution> {
    (0..=challenge.maxnumber)
        .find(|number| hash(&challenge.salt, *number) == challenge.challenge)
        .map(|number| Solution {
            algorithm: challenge.algorithm.clone(),
            challenge: challenge.challenge.clone(),
            number,
            salt: challenge.salt.clone(),
            signature: challenge.signature.clone(),
        })
}

fn hash(salt: &str, number: u64) -> String {
    let mut sha = Sha256::new();
    sha.update(salt.as_bytes());
    sha.update(number.to_string().as_bytes());
    hex(&sha.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// Compares in time independent of where the first difference is.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The challenge endpoint and the form pages' script; `http::router` merges them.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(CHALLENGE_PATH, get(issue_challenge))
        .route(SCRIPT_PATH, get(script))
}

/// `GET /api/v1/challenge`: a fresh challenge (404 when the check is off).
#[utoipa::path(get, path = "/api/v1/challenge", tag = "bookings",
    summary = "A proof-of-work challenge for a booking or wish",
    description = "Find the `number` (0..=`maxnumber`) whose SHA-256 of `salt` followed by the number in decimal \
        is `challenge`; send base64 of `{\"algorithm\",\"challenge\",\"number\",\"salt\",\"signature\"}` as header \
        `X-Proof-Of-Work` with `POST /api/v1/bookings` or `POST /api/v1/wishes` (forms: field `altcha`). Valid five \
        minutes, once. Requests with a staff token need none.",
    responses(
        (status = 200, description = "A challenge (ALTCHA format).", body = Challenge),
        (status = 404, description = "Proof of work is off (`--proof-of-work 0`).", body = Problem,
         content_type = "application/problem+json"),
    ))]
pub(super) async fn issue_challenge(State(state): State<AppState>) -> Response {
    let Some(proof) = &state.proof_of_work else {
        return Problem::not_found("proof of work is off on this installation").into_response();
    };
    let mut response = axum::Json(proof.issue(state.executor.now())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/proof-of-work.js"),
    )
        .into_response()
}

/// Lets a guarded POST through only with a valid, unspent solution (API),
/// or, for the forms, with one or after the wait.
pub async fn require_proof_of_work(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() != Method::POST || !GUARDED_PATHS.contains(&path) {
        return next.run(request).await;
    }
    let for_programs = super::answers_programs(path);
    let Some(proof) = state
        .proof_of_work
        .clone()
        .filter(|_| request.extensions().get::<StaffRequest>().is_none())
    else {
        return next.run(request).await;
    };
    let now = state.executor.now();
    if for_programs {
        let payload = request.headers().get(HEADER).and_then(|value| value.to_str().ok());
        let accepted = match payload {
            Some(payload) => proof.accept(state.executor.store(), payload, now).await,
            None => Err(Refusal::Missing),
        };
        return match accepted {
            Ok(()) => next.run(request).await,
            Err(refusal) => refused_problem(refusal),
        };
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::MAX_BODY_BYTES).await else {
        return super::pages::body_too_large_page();
    };
    let pairs = form_pairs(bytes.clone()).await;
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    match pairs
        .iter()
        .rev()
        .find(|(name, value)| name == FORM_FIELD && !value.is_empty())
    {
        Some((_, payload)) => match proof.accept(state.executor.store(), payload, now).await {
            Ok(()) => next.run(request).await,
            Err(refusal) => refused_page(request.uri().path(), refusal, &pairs),
        },
        None => {
            let network = request
                .extensions()
                .get::<ClientAddress>()
                .copied()
                .map(ClientAddress::network);
            // Without a known client there is no one to count the wait for.
            let Some(network) = network else {
                return next.run(request).await;
            };
            let Some(_held) = proof.hold(network) else {
                return busy_page(proof.wait_without_script());
            };
            tokio::time::sleep(proof.wait_without_script()).await;
            next.run(request).await
        }
    }
}

/// The name/value pairs of a form body, read as the handlers read them
/// (unreadable bodies have none; the handler says what is wrong with them).
async fn form_pairs(bytes: axum::body::Bytes) -> Vec<(String, String)> {
    let mut probe = Request::new(axum::body::Body::from(bytes));
    *probe.method_mut() = Method::POST;
    probe.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    axum::Form::<Vec<(String, String)>>::from_request(probe, &())
        .await
        .map(|axum::Form(pairs)| pairs)
        .unwrap_or_default()
}

fn refused_problem(refusal: Refusal) -> Response {
    Problem::new(
        StatusCode::FORBIDDEN,
        "proof-of-work",
        "Proof of work missing or not valid",
        refusal.to_string(),
    )
    .into_response()
}

/// A field of the refused form, sent again unchanged.
struct HiddenField {
    name: String,
    value: String,
}

/// 403 for a form whose solution does not hold: says so in German and offers
/// to send the same form again (nothing typed is lost).
#[derive(Template)]
#[template(path = "proof_of_work_refused.html")]
struct RefusedPage {
    reason: &'static str,
    action: String,
    fields: Vec<HiddenField>,
}

fn refused_page(path: &str, refusal: Refusal, pairs: &[(String, String)]) -> Response {
    let reason = match refusal {
        Refusal::Expired => "Die Sicherheitsprüfung ist abgelaufen.",
        Refusal::Reused => "Diese Sicherheitsprüfung wurde schon einmal verwendet.",
        Refusal::Missing | Refusal::Malformed | Refusal::WrongSignature | Refusal::WrongNumber => {
            "Die Sicherheitsprüfung Ihres Browsers war nicht gültig."
        }
    };
    let page = RefusedPage {
        reason,
        action: path.to_owned(),
        fields: pairs
            .iter()
            .filter(|(name, _)| name != FORM_FIELD)
            .map(|(name, value)| HiddenField {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    };
    super::pages::render(StatusCode::FORBIDDEN, &page)
}

/// 429 when a network already has its forms held.
fn busy_page(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = super::pages::MessagePage::new("Bitte einen Moment Geduld")
        .paragraph(format!(
            "Aus Ihrem Netz werden gerade schon Anfragen bearbeitet. Bitte warten Sie {seconds} Sekunden und \
             senden Sie das Formular dann noch einmal."
        ))
        .respond(StatusCode::TOO_MANY_REQUESTS);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_solved_challenge_is_accepted_once() {
        let proof = ProofOfWork::new(b"key", 1000);
        let solution = solve(&proof.issue(at(0))).expect("solvable");
        assert!(proof.verify(&solution.encode(), at(1)).is_ok());
        assert_eq!(proof.verify(&solution.encode(), at(2)), Err(Refusal::Reused));
    }

    #[test]
    fn wrong_expired_or_foreign_solutions_are_refused() {
        let proof = ProofOfWork::new(b"key", 1000);
        let solution = solve(&proof.issue(at(0))).unwrap();
        let wrong_number = Solution {
            number: solution.number + 1,
            ..solution.clone()
        };
        assert_eq!(proof.verify(&wrong_number.encode(), at(1)), Err(Refusal::WrongNumber));
        assert_eq!(proof.verify(&solution.encode(), at(600)), Err(Refusal::Expired));
        let foreign = ProofOfWork::new(b"other key", 1000);
        assert_eq!(foreign.verify(&solution.encode(), at(1)), Err(Refusal::WrongSignature));
        // A longer expiry written into the salt breaks the signed hash.
        let extended = Solution {
            salt: solution.salt.replace("?expires=", "?expires=9"),
            ..solution.clone()
        };
        assert_eq!(proof.verify(&extended.encode(), at(1)), Err(Refusal::WrongNumber));
        assert_eq!(proof.verify("not base64!", at(1)), Err(Refusal::Malformed));
    }

    #[test]
    fn the_wait_without_script_grows_with_the_difficulty() {
        assert_eq!(
            ProofOfWork::new(b"k", 1000).wait_without_script(),
            Duration::from_secs(1)
        );
        assert_eq!(
            ProofOfWork::new(b"k", 500_000).wait_without_script(),
            Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn form_fields_are_read_percent_decoded() {
        let pairs = form_pairs(axum::body::Bytes::from_static(
            b"name=Erika+M%C3%BCller&altcha=ab%2Bc%3D",
        ))
        .await;
        assert_eq!(
            pairs,
            vec![
                ("name".to_owned(), "Erika Müller".to_owned()),
                ("altcha".to_owned(), "ab+c=".to_owned())
            ]
        );
    }
}
