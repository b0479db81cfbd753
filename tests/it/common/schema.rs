//! A small validator for request bodies against Microsoft's Graph v1.0 schemas
//! (`tests/fixtures/graph-schema-subset.json`, a subset of the published component schemas).
//!
//! It checks what matters for bodies the crate sends: every property is one the type declares
//! (no navigation properties), types, enums, GUID / date-time / base64 formats, nullability.

use serde_json::Value;

pub struct GraphSchema {
    doc: Value,
}

const PREFIX: &str = "#/components/schemas/";

impl GraphSchema {
    pub fn load() -> Self {
        let path = format!(
            "{}/tests/fixtures/graph-schema-subset.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let doc = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        Self { doc }
    }

    /// The schema node for the body of `method path` (path relative to /v1.0 or with it).
    pub fn body_schema(&self, method: &str, path: &str) -> Option<Value> {
        let path = path.strip_prefix("/v1.0").unwrap_or(path);
        let path = path.split('?').next().unwrap_or_default();
        let entity = |name: &str| {
            Some(serde_json::json!({ "$ref": format!("{PREFIX}microsoft.graph.{name}") }))
        };
        let action = |name: &str| self.doc["actionBodies"].get(name).cloned();
        let last = path.rsplit('/').next().unwrap_or_default();
        match (method, last) {
            ("POST", "addPassword")
            | ("POST", "removePassword")
            | ("POST", "addKey")
            | ("POST", "removeKey") => action(last),
            ("POST", "appRoleAssignedTo") | ("POST", "appRoleAssignments") => {
                entity("appRoleAssignment")
            }
            ("POST", "applications") => entity("application"),
            ("PATCH", _) if path.starts_with("/applications") => entity("application"),
            ("POST", "servicePrincipals") => entity("servicePrincipal"),
            ("PATCH", _) if path.starts_with("/servicePrincipals") => entity("servicePrincipal"),
            _ => None,
        }
    }

    /// Validates a body; `Err` lists every problem with its JSON path.
    pub fn validate(&self, method: &str, path: &str, body: &Value) -> Result<(), Vec<String>> {
        let Some(schema) = self.body_schema(method, path) else {
            return Err(vec![format!("no schema known for {method} {path}")]);
        };
        let mut errors = Vec::new();
        self.check(&schema, body, "$", &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn resolve<'a>(&'a self, node: &'a Value) -> Option<&'a Value> {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => self.doc["schemas"].get(r.strip_prefix(PREFIX)?),
            None => Some(node),
        }
    }

    /// Collects the properties of an object schema, following `allOf` inheritance.
    fn properties(&self, node: &Value, out: &mut serde_json::Map<String, Value>) {
        let Some(node) = self.resolve(node) else {
            return;
        };
        if let Some(parts) = node.get("allOf").and_then(Value::as_array) {
            for p in parts {
                self.properties(p, out);
            }
        }
        if let Some(props) = node.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                out.insert(k.clone(), v.clone());
            }
        }
    }

    fn check(&self, node: &Value, inst: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(node) = self.resolve(node) else {
            return; // a type outside the subset: accepted as is
        };
        if inst.is_null() {
            let nullable = node
                .get("nullable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || node
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.contains(&Value::Null));
            let any_null = node
                .get("anyOf")
                .and_then(Value::as_array)
                .is_some_and(|branches| {
                    branches.iter().any(|b| {
                        b.get("enum")
                            .and_then(Value::as_array)
                            .is_some_and(|e| e.contains(&Value::Null))
                    })
                });
            if !(nullable || any_null) {
                errors.push(format!("{at}: null is not allowed"));
            }
            return;
        }
        if let Some(branches) = node.get("anyOf").and_then(Value::as_array) {
            let mut best: Option<Vec<String>> = None;
            for b in branches {
                let mut e = Vec::new();
                self.check(b, inst, at, &mut e);
                if e.is_empty() {
                    return;
                }
                if best.as_ref().is_none_or(|x| e.len() < x.len()) {
                    best = Some(e);
                }
            }
            errors.extend(best.unwrap_or_default());
            return;
        }
        if node.get("x-ms-navigationProperty").and_then(Value::as_bool) == Some(true) {
            errors.push(format!(
                "{at}: a navigation property cannot be set in a request body"
            ));
            return;
        }
        let is_object = node.get("allOf").is_some()
            || node.get("type").and_then(Value::as_str) == Some("object");
        if is_object {
            let Some(obj) = inst.as_object() else {
                errors.push(format!("{at}: expected an object"));
                return;
            };
            let mut props = serde_json::Map::new();
            self.properties(node, &mut props);
            for (k, v) in obj {
                if k.starts_with("@odata.") {
                    continue;
                }
                match props.get(k) {
                    Some(schema) => self.check(schema, v, &format!("{at}.{k}"), errors),
                    None => errors.push(format!("{at}: unknown property {k:?}")),
                }
            }
            return;
        }
        match node.get("type").and_then(Value::as_str) {
            Some("array") => match inst.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check(&node["items"], item, &format!("{at}[{i}]"), errors);
                    }
                }
                None => errors.push(format!("{at}: expected an array")),
            },
            Some("string") => {
                let Some(s) = inst.as_str() else {
                    errors.push(format!("{at}: expected a string"));
                    return;
                };
                if let Some(e) = node.get("enum").and_then(Value::as_array)
                    && !e.contains(inst)
                {
                    errors.push(format!("{at}: {s:?} is not one of {e:?}"));
                }
                match node.get("format").and_then(Value::as_str) {
                    Some("uuid") if uuid::Uuid::parse_str(s).is_err() => {
                        errors.push(format!("{at}: {s:?} is not a GUID"))
                    }
                    Some("date-time")
                        if time::OffsetDateTime::parse(
                            s,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_err() =>
                    {
                        errors.push(format!("{at}: {s:?} is not an RFC 3339 date-time"))
                    }
                    Some("base64url")
                        if !s
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+/-_=".contains(c)) =>
                    {
                        errors.push(format!("{at}: not base64"))
                    }
                    _ => {}
                }
            }
            Some("boolean") if !inst.is_boolean() => {
                errors.push(format!("{at}: expected a boolean"))
            }
            Some("number") | Some("integer") if !inst.is_number() => {
                errors.push(format!("{at}: expected a number"))
            }
            _ => {}
        }
    }
}
