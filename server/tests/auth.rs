//! Token auth over real sockets: who may connect, as whom, into which rooms, and for how long.

mod common;

use common::{Client, TestServer, Ws, config};
use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tether_server::Config;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "a-test-secret-of-some-length";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn token_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("a key"),
    )
    .expect("signed")
}

/// A token for `user`, good for an hour.
fn token(user: &str, extra: Value) -> String {
    let mut claims = json!({"sub": user, "exp": now() + 3600, "aud": "chat"});
    if let Value::Object(extra) = extra {
        claims.as_object_mut().expect("an object").extend(extra);
    }
    token_with(SECRET, claims)
}

fn with_auth() -> Config {
    config().jwt_secret(SECRET).jwt_audience("chat")
}

/// The close code a connection with `query` gets before anything else.
async fn refused(server: &TestServer, query: &str) -> u16 {
    let mut ws: Ws = server.open(query).await;
    let next = timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("answered");
    match next {
        Some(Ok(Message::Close(Some(frame)))) => u16::from(frame.code),
        other => panic!("expected a close, got {other:?}"),
    }
}

async fn connect_as(server: &TestServer, token: &str) -> (Client, Value) {
    let mut ws = server.open(&format!("token={token}")).await;
    let text = match timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        other => panic!("expected connected, got {other:?}"),
    };
    let connected: Value = serde_json::from_str(text.as_str()).expect("JSON");
    let client = Client {
        ws,
        id: connected["payload"]["clientId"]
            .as_str()
            .expect("an id")
            .to_owned(),
        resume_token: connected["payload"]["resumeToken"]
            .as_str()
            .map(str::to_owned),
    };
    (client, connected["payload"].clone())
}

#[tokio::test]
async fn only_a_valid_token_gets_in() {
    let server = TestServer::with(with_auth()).await;
    assert_eq!(refused(&server, "").await, 4401, "no token");
    let forged = token_with(
        "another-secret",
        json!({"sub": "ada", "exp": now() + 60, "aud": "chat"}),
    );
    assert_eq!(
        refused(&server, &format!("token={forged}")).await,
        4401,
        "bad signature"
    );
    let elsewhere = token_with(
        SECRET,
        json!({"sub": "ada", "exp": now() + 60, "aud": "billing"}),
    );
    assert_eq!(
        refused(&server, &format!("token={elsewhere}")).await,
        4401,
        "wrong audience"
    );
    assert_eq!(refused(&server, "token=garbage").await, 4401, "not a JWT");
    let old = token_with(
        SECRET,
        json!({"sub": "ada", "exp": now() - 60, "aud": "chat"}),
    );
    assert_eq!(
        refused(&server, &format!("token={old}")).await,
        4419,
        "expired: come back with a fresh one"
    );

    let (mut ada, connected) = connect_as(&server, &token("ada", json!({"name": "Ada"}))).await;
    assert_eq!(connected["userId"], "ada");
    assert_eq!(connected["name"], "Ada");
    ada.join("r").await;
    // The token's name is not for `identify` to change.
    ada.send_json(json!({"type": "identify", "payload": {"name": "Eve"}, "id": 1}))
        .await;
    let ack = ada.recv_until("ack").await;
    assert_eq!(ack["payload"]["code"], "forbidden", "{ack}");

    let (mut bo, _) = connect_as(&server, &token("bo", json!({}))).await;
    bo.join("r").await;
    let joined = ada.recv_until("user:joined").await;
    assert_eq!(
        joined["payload"]["userId"], "bo",
        "others see the user, not the client"
    );
    ada.say("r", "hello").await;
    let message = bo.recv_until("message").await;
    assert_eq!(
        (
            message["payload"]["from"].clone(),
            message["payload"]["name"].clone()
        ),
        (json!("ada"), json!("Ada"))
    );
}

#[tokio::test]
async fn a_token_limits_the_rooms() {
    let server = TestServer::with(with_auth()).await;
    let (mut ada, _) = connect_as(
        &server,
        &token("ada", json!({"rooms": ["lobby", "team-*"]})),
    )
    .await;
    ada.join("lobby").await;
    ada.join("team-red").await;
    ada.send_json(json!({"type": "join", "payload": {"roomId": "secret"}, "id": "j"}))
        .await;
    let ack = ada.recv_until("ack").await;
    assert_eq!(ack["payload"]["code"], "forbidden", "{ack}");
}

#[tokio::test]
async fn two_tabs_of_one_user_are_one_member() {
    let server = TestServer::with(with_auth()).await;
    let (mut bo, _) = connect_as(&server, &token("bo", json!({}))).await;
    bo.join("r").await;
    let (mut first, _) = connect_as(&server, &token("ada", json!({}))).await;
    first.join("r").await;
    assert_eq!(
        bo.recv_until("user:joined").await["payload"]["userId"],
        "ada"
    );
    let (mut second, _) = connect_as(&server, &token("ada", json!({}))).await;
    second.join("r").await;
    bo.send_json(json!({"type": "presence", "payload": {"roomId": "r"}}))
        .await;
    let presence = bo.recv_until("presence").await;
    let mut users: Vec<&str> = presence["payload"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["userId"].as_str().expect("an id"))
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        ["ada", "bo"],
        "{presence}: no second user:joined, one member"
    );
    // One tab goes: Ada is still here.
    first.close().await;
    second.say("r", "still here").await;
    let next = bo.recv().await;
    assert_eq!(
        next["type"], "message",
        "no user:left while a tab stays: {next}"
    );
}

#[tokio::test]
async fn a_resume_token_works_only_for_its_user() {
    let server = TestServer::with(with_auth()).await;
    let (ada, _) = connect_as(&server, &token("ada", json!({}))).await;
    let (id, resume) = (
        ada.id.clone(),
        ada.resume_token.clone().expect("a resume token"),
    );
    drop(ada);
    let (ada, _) = connect_as(
        &server,
        &format!("{}&resume={resume}", token("ada", json!({}))),
    )
    .await;
    assert_eq!(ada.id, id, "the same user gets the id back");
    let (eve, _) = connect_as(
        &server,
        &format!("{}&resume={resume}", token("eve", json!({}))),
    )
    .await;
    assert_ne!(eve.id, id, "another user does not");
}

#[tokio::test]
async fn an_expiring_token_closes_the_connection_unless_refreshed() {
    let fast = with_auth().heartbeat_interval(Duration::from_millis(200));
    let server = TestServer::with(fast).await;
    // Expired 5 s (the leeway) after its `exp`: about 6 s from now.
    let short = token_with(
        SECRET,
        json!({"sub": "ada", "exp": now() + 1, "aud": "chat"}),
    );
    let (mut stays, _) = connect_as(&server, &short).await;
    let (mut goes, _) = connect_as(&server, &short).await;
    let fresh = token("ada", json!({}));
    stays
        .send_json(json!({"type": "refresh", "payload": {"token": fresh}, "id": "r"}))
        .await;
    assert_eq!(stays.recv_until("ack").await["payload"]["ok"], true);
    let other = token("eve", json!({}));
    stays
        .send_json(json!({"type": "refresh", "payload": {"token": other}, "id": "e"}))
        .await;
    assert_eq!(
        stays.recv_until("ack").await["payload"]["code"],
        "forbidden"
    );
    // `goes` is closed with 4419 (its client fetches a fresh token and comes back), while
    // `stays` reads on (and so answers the heartbeat's pings).
    let closed = timeout(Duration::from_secs(10), async {
        loop {
            tokio::select! {
                next = goes.ws.next() => match next {
                    Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                    Some(Ok(_)) => continue,
                    other => panic!("expected a close, got {other:?}"),
                },
                next = stays.ws.next() => match next {
                    Some(Ok(Message::Close(frame))) => panic!("the refreshed one was closed: {frame:?}"),
                    Some(Ok(_)) => continue,
                    other => panic!("the refreshed one failed: {other:?}"),
                },
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, 4419);
    stays.join("r").await;
}

#[tokio::test]
async fn the_dev_issuer_gives_tokens_that_work() {
    let server = TestServer::with(config().dev_issue_tokens(true)).await;
    let response = reqwest_post(&server, r#"{"name":"Cy","ttl":60}"#).await;
    let token = response["token"].as_str().expect("a token").to_owned();
    let (_, connected) = connect_as(&server, &token).await;
    assert_eq!(connected["name"], "Cy");
    assert_eq!(connected["userId"], response["userId"]);
    assert_eq!(refused(&server, "").await, 4401, "auth is on");
    // Without the flag there is no issuer: 404, also where the built app is served (whose file
    // service would answer a POST with 405).
    let plain = TestServer::with(config()).await;
    assert_eq!(plain.post("/dev/token", "{}").await.status, 404);
    let dist = tempfile::tempdir().expect("a folder");
    std::fs::write(dist.path().join("index.html"), "<!doctype html>").expect("written");
    let served = TestServer::with(config().static_dir(dist.path())).await;
    assert_eq!(served.post("/dev/token", "{}").await.status, 404);
    assert_eq!(
        served.post("/dev/token", r#"{"name":"Cy"}"#).await.status,
        404
    );
}

/// The claims of a token, read without checking its signature (the test trusts its server).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON")
}

#[tokio::test]
async fn dev_tokens_last_the_dev_token_ttl_unless_asked_otherwise() {
    let short = config()
        .dev_issue_tokens(true)
        .dev_token_ttl(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(200));
    let server = TestServer::with(short).await;
    // The same user again keeps its id, with the name it asks for.
    let first = reqwest_post(&server, r#"{"name":"Ada"}"#).await;
    let user = first["userId"].as_str().expect("a user").to_owned();
    let again = reqwest_post(
        &server,
        &json!({"name": "Ada L.", "user": user}).to_string(),
    )
    .await;
    assert_eq!(again["userId"], user.as_str());
    let claims = claims_of(again["token"].as_str().expect("a token"));
    assert_eq!(
        (&claims["sub"], &claims["name"]),
        (&json!(user), &json!("Ada L."))
    );
    let lifetime = claims["exp"].as_u64().expect("exp") - now();
    assert!(
        (1..=2).contains(&lifetime),
        "--dev-token-ttl 2s: {lifetime} s"
    );
    let asked = reqwest_post(&server, r#"{"name":"Bo","ttl":600}"#).await;
    let lifetime = claims_of(asked["token"].as_str().expect("a token"))["exp"]
        .as_u64()
        .expect("exp")
        - now();
    assert!((599..=600).contains(&lifetime), "ttl 600: {lifetime} s");
    // A connection on the short token is closed with 4419 once it expires (and the leeway is
    // over), at a heartbeat.
    let (mut client, _) = connect_as(&server, first["token"].as_str().expect("a token")).await;
    let closed = timeout(Duration::from_secs(15), async {
        loop {
            match client.ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                Some(Ok(_)) => continue,
                other => panic!("expected a close, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(closed, 4419);
}

async fn reqwest_post(server: &TestServer, body: &str) -> Value {
    let response = server.post("/dev/token", body).await;
    assert_eq!(response.status, 200, "{}", response.text());
    serde_json::from_str(&response.text()).expect("JSON")
}
