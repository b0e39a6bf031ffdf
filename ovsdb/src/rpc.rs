//! JSON-RPC 1.0 messages as used by OVSDB (RFC 7047 section 4).
//!
//! A request carries a non-null `id`; a notification is a request whose `id` is `null`; a
//! response carries `result` and `error`, exactly one of them non-null.

use serde_json::{json, Value as Json};

use crate::error::{Error, Result};

/// A call expecting a response with the same `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Json,
    pub method: String,
    pub params: Json,
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Json,
    pub result: Json,
    pub error: Json,
}

/// A one-way message (`id` is `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub method: String,
    pub params: Json,
}

/// Any JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Response(Response),
    Notification(Notification),
}

impl Request {
    pub fn new(id: impl Into<Json>, method: impl Into<String>, params: Json) -> Self {
        Request {
            id: id.into(),
            method: method.into(),
            params,
        }
    }
}

impl Response {
    pub fn ok(id: Json, result: Json) -> Self {
        Response {
            id,
            result,
            error: Json::Null,
        }
    }
}

impl Message {
    /// Classifies a decoded JSON object.
    pub fn from_json(json: Json) -> Result<Message> {
        let Json::Object(mut object) = json else {
            return Err(Error::Protocol(format!(
                "JSON-RPC message is not an object: {json}"
            )));
        };
        let id = object.remove("id").unwrap_or(Json::Null);
        match object.remove("method") {
            Some(Json::String(method)) => {
                let params = object.remove("params").unwrap_or(Json::Array(Vec::new()));
                if id.is_null() {
                    Ok(Message::Notification(Notification { method, params }))
                } else {
                    Ok(Message::Request(Request { id, method, params }))
                }
            }
            Some(other) => Err(Error::Protocol(format!(
                "JSON-RPC method is not a string: {other}"
            ))),
            None => {
                if !object.contains_key("result") && !object.contains_key("error") {
                    return Err(Error::Protocol(
                        "JSON-RPC message has neither method nor result".into(),
                    ));
                }
                Ok(Message::Response(Response {
                    id,
                    result: object.remove("result").unwrap_or(Json::Null),
                    error: object.remove("error").unwrap_or(Json::Null),
                }))
            }
        }
    }

    pub fn to_json(&self) -> Json {
        match self {
            Message::Request(r) => json!({"id": r.id, "method": r.method, "params": r.params}),
            Message::Response(r) => json!({"id": r.id, "result": r.result, "error": r.error}),
            Message::Notification(n) => json!({"id": null, "method": n.method, "params": n.params}),
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Message::Response(r)
    }
}

impl From<Notification> for Message {
    fn from(n: Notification) -> Self {
        Message::Notification(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let m = Message::from_json(json!({"id": 1, "method": "echo", "params": []})).unwrap();
        assert_eq!(m, Message::Request(Request::new(1, "echo", json!([]))));
        let m =
            Message::from_json(json!({"id": null, "method": "update", "params": [1, {}]})).unwrap();
        assert!(matches!(m, Message::Notification(ref n) if n.method == "update"));
        let m = Message::from_json(json!({"id": 7, "result": ["a"], "error": null})).unwrap();
        assert_eq!(m, Message::Response(Response::ok(json!(7), json!(["a"]))));
        assert!(Message::from_json(json!([1])).is_err());
        assert!(Message::from_json(json!({"id": 1})).is_err());
    }

    #[test]
    fn round_trips() {
        let messages = [
            Message::Request(Request::new("x", "transact", json!(["db"]))),
            Message::Response(Response {
                id: json!(3),
                result: Json::Null,
                error: json!("oops"),
            }),
            Message::Notification(Notification {
                method: "locked".into(),
                params: json!(["l"]),
            }),
        ];
        for message in messages {
            assert_eq!(Message::from_json(message.to_json()).unwrap(), message);
        }
    }
}
