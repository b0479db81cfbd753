//! Credential checks at the token endpoint (client secret, client assertion) and the
//! JWT-shaped access tokens the fake issues.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use sha1::Digest as _;

use super::login::{TOKEN_LIFETIME, Trace};
use super::reply::Reply;
use super::state::{State, Subject, TokenRecord, now, parse_datetime, random_bytes, str_field};

/// The Microsoft Graph Command Line Tools app: the client of delegated admin tokens.
const GRAPH_CLI: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// Checks a client secret against the secrets `addPassword` issued for the app.
pub(crate) fn check_secret(
    state: &mut State,
    app_i: usize,
    client_id: &str,
    secret: &str,
    trace: &Trace,
) -> Result<(), Reply> {
    let app = &state.apps[app_i].json;
    let app_object_id = str_field(app, "id").to_owned();
    let end_of = |key_id: &str| {
        app.get("passwordCredentials")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .find(|p| str_field(p, "keyId") == key_id)
            .and_then(|p| parse_datetime(str_field(p, "endDateTime")))
    };
    let invalid = || {
        trace.error(401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."))
    };
    let Some(s) = state
        .secrets
        .iter()
        .position(|s| s.app_object_id == app_object_id && s.text == secret)
    else {
        return Err(invalid());
    };
    let expired = end_of(&state.secrets[s].key_id).is_some_and(|e| e <= now());
    let key = format!("secret:{}", state.secrets[s].key_id);
    if state.secrets[s].lag > 0 {
        state.secrets[s].lag -= 1;
        return Err(invalid());
    }
    if state.sign_in_pending(&key) {
        return Err(invalid());
    }
    if expired {
        return Err(trace.error(
            401,
            "invalid_client",
            7000222,
            &format!("The provided client secret keys for app '{client_id}' are expired."),
        ));
    }
    Ok(())
}

fn decode_json_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Checks a client assertion: `aud`, `iss`/`sub`, lifetime, and `x5t`/`x5t#S256` against the
/// app's registered certificates, and the signature with that certificate's public key.
pub(crate) fn check_assertion(
    state: &mut State,
    app_i: usize,
    client_id: &str,
    assertion: &str,
    tenant: &str,
    trace: &Trace,
) -> Result<(), Reply> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let decoded = match parts.as_slice() {
        [h, c, s] if !s.is_empty() => decode_json_part(h).zip(decode_json_part(c)),
        _ => None,
    };
    let Some((header, claims)) = decoded else {
        return Err(trace.error(
            400,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.",
        ));
    };
    let fail = |code: u32, m: &str| trace.error(401, "invalid_client", code, m);
    let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or("");
    let endpoint =
        |t: &str| format!("{}/{t}/oauth2/v2.0/token", state.base_uri).to_ascii_lowercase();
    let aud = claim("aud").trim_end_matches('/').to_ascii_lowercase();
    let auds = [
        endpoint(&state.tenant_id.to_string()),
        endpoint(&state.tenant_domain),
        endpoint(tenant),
    ];
    if !auds.contains(&aud) {
        return Err(fail(
            700027,
            &format!(
                "Client assertion contains an invalid audience '{}'; expected the token endpoint '{}'.",
                claim("aud"),
                endpoint(&state.tenant_id.to_string())
            ),
        ));
    }
    if !claim("iss").eq_ignore_ascii_case(client_id)
        || !claim("sub").eq_ignore_ascii_case(client_id)
    {
        return Err(fail(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let now_ts = now().unix_timestamp();
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let nbf = claims.get("nbf").and_then(Value::as_i64).unwrap_or(0);
    if exp <= now_ts || nbf > now_ts + 300 {
        return Err(fail(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        alg,
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512"
    ) {
        return Err(fail(
            700027,
            &format!("Client assertion contains an unsupported signing algorithm '{alg}'."),
        ));
    }
    let x5t = header.get("x5t").and_then(Value::as_str);
    let x5t256 = header.get("x5t#S256").and_then(Value::as_str);
    let now = now();
    let registered = state.apps[app_i]
        .json
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|k| {
            str_field(k, "type") == "AsymmetricX509Cert" && str_field(k, "usage") == "Verify"
        })
        .filter(|k| parse_datetime(str_field(k, "endDateTime")).is_none_or(|e| e > now))
        .filter_map(|k| {
            let der = STANDARD.decode(str_field(k, "key")).ok()?;
            Some((str_field(k, "keyId").to_ascii_lowercase(), der))
        })
        .find(|(_, der)| {
            let s1 = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der));
            let s256 = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der));
            x5t.is_some_and(|t| t.trim_end_matches('=') == s1)
                || x5t256.is_some_and(|t| t.trim_end_matches('=') == s256)
        });
    // A certificate added seconds ago is not known to the token endpoint yet.
    let registered = match registered {
        Some((key_id, _)) if state.sign_in_pending(&format!("key:{key_id}")) => None,
        other => other.map(|(_, der)| der),
    };
    let Some(der) = registered else {
        return Err(fail(
            700027,
            &format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                x5t.or(x5t256).unwrap_or("")
            ),
        ));
    };
    if !signature_verifies(&der, alg, parts[0], parts[1], parts[2]) {
        return Err(fail(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    Ok(())
}

impl State {
    /// Claims every token carries.
    pub(crate) fn base_claims(&self, aud: &str) -> Map<String, Value> {
        let t = now().unix_timestamp();
        let mut c = Map::new();
        c.insert("aud".into(), json!(aud));
        c.insert(
            "iss".into(),
            json!(format!("https://sts.windows.net/{}/", self.tenant_id)),
        );
        c.insert("iat".into(), json!(t));
        c.insert("nbf".into(), json!(t));
        c.insert("exp".into(), json!(t + TOKEN_LIFETIME));
        c.insert("tid".into(), json!(self.tenant_id.to_string()));
        c.insert(
            "uti".into(),
            json!(URL_SAFE_NO_PAD.encode(random_bytes(16))),
        );
        c.insert("ver".into(), json!("1.0"));
        c
    }

    /// Stores and returns a JWT-shaped token with these claims.
    pub(crate) fn mint(
        &mut self,
        claims: Map<String, Value>,
        subject: Subject,
        graph_audience: bool,
    ) -> String {
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "fake-graph"});
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string()),
            URL_SAFE_NO_PAD.encode(random_bytes(32))
        );
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                subject,
                graph_audience,
                exp,
            },
        );
        token
    }

    /// A delegated token of the signed-in administrator for the space-separated `scope` of
    /// its sign-in request: the Graph permissions named there (see [`delegated_scopes`]).
    pub(crate) fn mint_admin(&mut self, client_id: &str, scope: &str) -> String {
        let scopes = delegated_scopes(scope);
        let mut c = self.base_claims("https://graph.microsoft.com");
        c.insert("appid".into(), json!(client_id));
        c.insert("idtyp".into(), json!("user"));
        c.insert("name".into(), json!("Fake Administrator"));
        c.insert("oid".into(), json!(self.admin_oid));
        c.insert("sub".into(), json!(self.admin_oid));
        c.insert("upn".into(), json!(format!("admin@{}", self.tenant_domain)));
        c.insert("scp".into(), json!(scopes.join(" ")));
        c.insert(
            "wids".into(),
            json!([
                self.knobs.caller_role.template_id(),
                "b79fbf4d-3ef9-4689-8143-76b194e85509"
            ]),
        );
        self.mint(c, Subject::Admin { scopes }, true)
    }

    /// [`Self::mint_admin`] for the Microsoft Graph Command Line Tools client, with every
    /// permission the crate's admin sign-in asks for by default.
    pub(crate) fn mint_admin_token(&mut self) -> String {
        self.mint_admin(GRAPH_CLI, CONSENTED_SCOPES)
    }
}

/// What `.default` stands for in an admin's sign-in: the delegated permissions the tenant has
/// consented to for the public client. The fake's tenant consented to what the crate asks for.
const CONSENTED_SCOPES: &str =
    "Application.ReadWrite.All AppRoleAssignment.ReadWrite.All User.Read";

/// The Graph permissions a delegated sign-in for `scope` gets (the token's `scp`): each
/// `https://graph.microsoft.com/<name>` (or bare `<name>`) as named, `.default` as the consented
/// set, and the OpenID Connect scopes (`openid`, `profile`, `email`, `offline_access`), which are
/// not Graph permissions, left out
/// (<https://learn.microsoft.com/entra/identity-platform/scopes-oidc>).
pub(crate) fn delegated_scopes(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        let name = s.rsplit_once('/').map_or(s, |(_, n)| n);
        if ["openid", "profile", "email", "offline_access"]
            .iter()
            .any(|o| o.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let names: Vec<&str> = if name == ".default" {
            CONSENTED_SCOPES.split(' ').collect()
        } else {
            vec![name]
        };
        for n in names {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
                out.push(n.to_owned());
            }
        }
    }
    out
}

/// Verifies a JWT signature (`RS*` or `PS*`) with the RSA key of a DER certificate.
fn signature_verifies(
    cert_der: &[u8],
    alg: &str,
    header: &str,
    claims: &str,
    signature: &str,
) -> bool {
    use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return false;
    };
    let Ok(sig) = URL_SAFE_NO_PAD.decode(signature.trim_end_matches('=')) else {
        return false;
    };
    let algorithm: &'static dyn VerificationAlgorithm = match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return false,
    };
    let key = UnparsedPublicKey::new(
        algorithm,
        cert.public_key().subject_public_key.data.as_ref(),
    );
    key.verify(format!("{header}.{claims}").as_bytes(), &sig)
        .is_ok()
}
