//! Certificates and secrets: generation, import, export, upload without loss, no orphans,
//! rotation, sign-in as the new app.

use std::time::Duration;

use crate::common;
use crate::common::{fake_graph, graph_round_trips, graph_writes};
use entra_appreg::auth::{AssertionAlgorithm, ClientCertificateCredential};
use entra_appreg::credentials::{
    Certificate, CertificateOutput, ConnectionDetails, CredentialKind, CredentialProvisioner,
    IssuedCredential, NewCredential, PfxEncryption, SecretOptions,
};
use entra_appreg::graph::models::{Application, KeyCredential};
use entra_appreg::profile::PermissionProfile;
use entra_appreg::registration::{AppCredential, AppRegistration, ReadyOptions};
use entra_appreg::{Error, Graph};
use entra_appreg_fake::{FakeGraph, Fault, FaultRule};
use secrecy::{ExposeSecret, SecretString};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/certs/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn cert() -> Certificate {
    Certificate::generate("Contoso Backup", 365).unwrap()
}

#[test]
fn x5t_headers_are_the_thumbprint_in_base64url() {
    use base64::Engine;
    let c = cert();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.x5t())
        .unwrap();
    let hex: String = raw.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, c.thumbprint().as_str());
    // Both checked against a second, independent SHA implementation (aws-lc-rs), not against
    // the crate's own thumbprint.
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
    let sha1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, c.der());
    assert_eq!(raw, sha1.as_ref());
    let expected_hex: String = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(c.thumbprint().as_str(), expected_hex);
    let s256 =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&SHA256, c.der()).as_ref());
    assert_eq!(c.x5t_s256(), s256);
}

#[test]
fn imports_refuse_weak_non_rsa_expired_and_keyless_certificates() {
    let weak =
        Certificate::from_pem(&(fixture("rsa1024.pem") + &fixture("rsa1024.key.pem"))).unwrap_err();
    assert!(weak.to_string().contains("1024 bits"), "{weak}");
    let ec = Certificate::from_pem(&fixture("ec.pem")).unwrap_err();
    assert!(ec.to_string().contains("not RSA"), "{ec}");
    let ec_key =
        Certificate::from_pem(&(fixture("pkcs1.pem") + &fixture("ec.key.pem"))).unwrap_err();
    assert!(ec_key.to_string().contains("not an RSA key"), "{ec_key}");

    // PKCS#1 keys are accepted and converted.
    let pkcs1 = Certificate::from_pem(&(fixture("pkcs1.pem") + &fixture("pkcs1.key.pem"))).unwrap();
    assert!(pkcs1.has_private_key());
    assert_eq!(pkcs1.key_bits(), 2048);

    // Expired: a certificate whose validity ended yesterday.
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let old = params.self_signed(&key).unwrap();
    let expired = Certificate::from_pem(&(old.pem() + &key.serialize_pem())).unwrap();
    let err = expired.check_usable(true).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        NewCredential::Certificate(Box::new(expired))
            .check()
            .is_err()
    );

    let keyless = Certificate::from_der(cert().der()).unwrap();
    assert!(
        keyless
            .check_usable(true)
            .unwrap_err()
            .to_string()
            .contains("private key")
    );
    assert!(Certificate::from_pem("not pem").is_err());
    assert!(Certificate::from_der(b"\x30\x03\x02\x01").is_err());
}

#[test]
fn pfx_opens_with_its_password_only_in_both_encryptions() {
    let c = cert();
    let password = SecretString::from("correct horse".to_owned());
    for enc in [PfxEncryption::Aes256, PfxEncryption::LegacyTripleDes] {
        let pfx = c.to_pfx(&password, enc).unwrap();
        let back = Certificate::from_pfx(&pfx, &password).unwrap();
        assert_eq!(back.thumbprint(), c.thumbprint());
        assert!(back.has_private_key());
        let wrong = Certificate::from_pfx(&pfx, &SecretString::from("wrong".to_owned()));
        assert!(wrong.is_err(), "{enc:?} opened with a wrong password");
    }
    assert!(
        c.to_pfx(&SecretString::from(String::new()), PfxEncryption::Aes256)
            .is_err()
    );
}

#[test]
fn files_are_owner_only_for_keys_and_never_overwritten_unless_asked() {
    let dir = std::env::temp_dir().join(format!("appreg-files-{}", uuid::Uuid::new_v4()));
    let c = cert();
    let mut out = CertificateOutput::new(&dir, "contoso");
    out.pfx_password = Some(SecretString::from("pw".to_owned()));
    let files = c.write_files(&out).unwrap();
    // Windows: tests/it/windows_files.rs reads the key files' DACL back.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(files.private_key_pem.as_ref().unwrap()), 0o600);
        assert_eq!(mode(files.pfx.as_ref().unwrap()), 0o600);
    }
    assert_eq!(
        std::fs::read(files.certificate_cer.as_ref().unwrap()).unwrap(),
        c.der()
    );
    let reread = Certificate::from_file(files.private_key_pem.as_ref().unwrap(), None);
    assert!(reread.is_err(), "a key file alone is not a certificate");
    let pem = std::fs::read_to_string(files.certificate_pem.as_ref().unwrap()).unwrap()
        + &std::fs::read_to_string(files.private_key_pem.as_ref().unwrap()).unwrap();
    assert_eq!(
        Certificate::from_pem(&pem).unwrap().thumbprint(),
        c.thumbprint()
    );

    // A second certificate with the same names: refused, and the first files are intact.
    let other = cert();
    let err = other.write_files(&out).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(files.certificate_cer.as_ref().unwrap()).unwrap(),
        c.der()
    );
    out.overwrite = true;
    other.write_files(&out).unwrap();
    assert_eq!(
        std::fs::read(files.certificate_cer.as_ref().unwrap()).unwrap(),
        other.der()
    );
    // No temporary files left behind: the four files and the record of what was written
    // (`CertificateOutput::record_file`).
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contoso.appreg.json",
            "contoso.cer",
            "contoso.key.pem",
            "contoso.pem",
            "contoso.pfx"
        ],
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn fresh_registration_with_a_certificate_or_secret_takes_four_round_trips() {
    for credential in [
        NewCredential::Certificate(Box::new(cert())),
        NewCredential::Secret(SecretOptions::default()),
    ] {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        let kind = credential.kind();
        let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
            .unwrap()
            .with_credential(credential)
            .apply(&graph)
            .await
            .unwrap();
        assert_eq!(graph_round_trips(&fake).len(), 4, "{kind}");
        let stored = &fake.snapshot().applications[0];
        match app.credential.as_ref().unwrap() {
            IssuedCredential::Certificate { key_id, .. } => {
                let keys = stored.key_credentials.as_ref().unwrap();
                assert_eq!(keys.len(), 1);
                assert_eq!(keys[0].key_id, Some(*key_id));
                assert!(
                    keys[0]
                        .display_name
                        .as_deref()
                        .unwrap()
                        .starts_with("entra-appreg")
                );
            }
            IssuedCredential::Secret(s) => {
                let secrets = fake.secret_texts(app.application_object_id);
                assert_eq!(secrets, vec![s.secret.expose_secret().to_owned()]);
                assert_eq!(stored.password_credentials.as_ref().unwrap().len(), 1);
            }
            other => panic!("{other:?}"),
        }
        // The secret is never serialised with the result.
        let json = serde_json::to_string(&app).unwrap();
        for s in fake.secret_texts(app.application_object_id) {
            assert!(!json.contains(&s));
            assert!(!format!("{app:?}").contains(&s));
        }
    }
}

#[tokio::test]
async fn a_secret_for_sharepoint_backup_is_refused_before_any_request() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupSharePoint)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()));
    for err in [
        reg.plan(&graph).await.unwrap_err(),
        reg.apply(&graph).await.unwrap_err(),
    ] {
        assert!(err.is_invalid_input());
        assert!(
            err.to_string()
                .contains("SharePoint Online accepts only certificates"),
            "{err}"
        );
    }
    let provisioner = CredentialProvisioner::new(
        &graph,
        entra_appreg::ObjectId::from_uuid(uuid::Uuid::new_v4()),
    )
    .for_profile(PermissionProfile::BackupSharePoint);
    assert!(
        provisioner
            .add_secret(&SecretOptions::default())
            .await
            .is_err()
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test]
async fn zero_or_too_long_lifetimes_are_refused_before_any_request() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    for days in [0, 100_000] {
        let reg = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
            .unwrap()
            .with_credential(NewCredential::Secret(SecretOptions::valid_for_days(days)));
        assert!(reg.apply(&graph).await.unwrap_err().is_invalid_input());
    }
    assert!(Certificate::generate("x", 0).is_err());
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn a_lifetime_policy_refusal_names_the_policy_and_leaves_no_secret() {
    let fake = FakeGraph::start().await;
    fake.set_password_lifetime_limit(Some(time::Duration::days(180)));
    let (graph, _) = fake_graph(&fake);
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::valid_for_days(365)))
        .apply(&graph)
        .await
        .unwrap_err();
    let Error::CredentialLifetimePolicy {
        kind,
        requested_days,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*kind, *requested_days), (CredentialKind::Secret, 365));
    assert!(
        err.report().to_string().contains("shorter lifetime"),
        "{err}"
    );
    assert!(
        fake.snapshot().applications[0]
            .password_credentials
            .iter()
            .flatten()
            .next()
            .is_none()
    );
    // Within the policy, a re-run completes.
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::valid_for_days(90)))
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.is_complete() && app.credential.is_some());
}

#[tokio::test]
async fn a_failure_after_add_password_removes_the_secret() {
    let fake = FakeGraph::start().await;
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 500,
            retry_after: None,
        })
        .path_contains("appRoleAssignedTo")
        .times(u32::MAX),
    );
    let (graph, _) = fake_graph(&fake);
    // The grants keep failing until the run's time budget is spent.
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500), "{err}");
    let app = &fake.snapshot().applications[0];
    assert!(
        app.password_credentials.iter().flatten().next().is_none(),
        "orphaned secret: {app:?}"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.ends_with("/removePassword"))
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_removed_is_returned_inside_the_error() {
    let fake = FakeGraph::start().await;
    for fragment in ["appRoleAssignedTo", "removePassword"] {
        fake.inject_fault(
            FaultRule::new(Fault::Status {
                status: 500,
                retry_after: None,
            })
            .path_contains(fragment)
            .times(u32::MAX),
        );
    }
    let (graph, _) = fake_graph(&fake);
    let err = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap_err();
    let Error::CredentialNotRemoved { credential, .. } = &err else {
        panic!("{err:?}")
    };
    let IssuedCredential::Secret(secret) = credential.as_ref() else {
        panic!()
    };
    let live = fake.secret_texts(fake.snapshot().applications[0].id.unwrap());
    assert_eq!(live, vec![secret.secret.expose_secret().to_owned()]);
    let report = err.report().to_string();
    assert!(!report.contains(secret.secret.expose_secret()));
    assert!(!format!("{err:?}").contains(secret.secret.expose_secret()));
    assert!(err.to_string().contains("could not be removed"), "{err}");
    // The failure that stopped the run is the source, shown once in the report.
    let cause = std::error::Error::source(&err)
        .expect("the run's failure")
        .to_string();
    assert_eq!(report.matches(&cause).count(), 1, "{report}");
}

#[tokio::test]
async fn adding_a_certificate_to_an_existing_app_keeps_every_certificate_already_there() {
    use base64::Engine;
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let admin_cert = cert();
    let mut existing = admin_cert.key_credential("uploaded by an admin");
    existing.key_id = Some(entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()));
    fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.unique_name = Some("contoso-backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v.key_credentials = Some(vec![existing.clone()]);
        v
    });
    let new = cert();
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .with_credential(NewCredential::Certificate(Box::new(new.clone())))
        .apply(&graph)
        .await
        .unwrap();
    let keys: Vec<KeyCredential> = fake.snapshot().applications[0]
        .key_credentials
        .clone()
        .unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k.key_id == existing.key_id));
    assert!(
        keys.iter()
            .any(|k| Some(k.key_id.unwrap()) == app.credential.as_ref().map(|c| c.key_id()))
    );
    // Both keys are the real certificates (read back with $select=keyCredentials).
    let with_keys: Application = graph
        .send_json(&common::requests::application_key_credentials(
            app.application_object_id,
        ))
        .await
        .unwrap();
    let ders: Vec<Vec<u8>> = with_keys
        .key_credentials
        .unwrap()
        .iter()
        .map(|k| {
            base64::engine::general_purpose::STANDARD
                .decode(k.key.as_ref().unwrap())
                .unwrap()
        })
        .collect();
    assert!(ders.contains(&admin_cert.der().to_vec()) && ders.contains(&new.der().to_vec()));

    // The provisioner keeps both too, and a re-run with the same certificate adds nothing.
    let third = cert();
    let provisioner = CredentialProvisioner::new(&graph, app.application_object_id);
    provisioner.add_certificate(&third).await.unwrap();
    provisioner.add_certificate(&third).await.unwrap();
    assert_eq!(
        fake.snapshot().applications[0]
            .key_credentials
            .as_ref()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_certificate_spans_exactly_its_lifetime_and_so_does_the_key_credential_sent() {
    let parse = |v: &serde_json::Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    for days in [1, 30, 365] {
        let generated = Certificate::generate("Contoso Backup", days).unwrap();
        let span = time::Duration::days(i64::from(days));
        assert_eq!(generated.not_after() - generated.not_before(), span);
        // Backdated for clock skew, so usable at once.
        assert!(generated.not_before() < time::OffsetDateTime::now_utc());
        // The same span in the DER itself, as an independent parser reads it.
        let (_, x509) = x509_parser::parse_x509_certificate(generated.der()).unwrap();
        let validity = x509.validity();
        assert_eq!(
            validity.not_after.to_datetime() - validity.not_before.to_datetime(),
            span
        );
    }
    // The keyCredential sent to Graph carries the certificate's own dates.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v
    });
    let new = Certificate::generate("Contoso Backup", 365).unwrap();
    CredentialProvisioner::new(&graph, app.id.unwrap())
        .add_certificate(&new)
        .await
        .unwrap();
    let patch = graph_writes(&fake)
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    let sent = &patch.body.as_ref().unwrap()["keyCredentials"][0];
    let (start, end) = (parse(&sent["startDateTime"]), parse(&sent["endDateTime"]));
    assert_eq!((start, end), (new.not_before(), new.not_after()));
    assert_eq!(end - start, time::Duration::days(365));
}

#[tokio::test]
async fn rotation_adds_before_it_removes_and_never_touches_foreign_credentials() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    let first = app.credential.unwrap().key_id();
    // A secret an admin made by hand.
    let foreign: serde_json::Value = graph
        .send_json(
            &common::requests::add_password(
                app.application_object_id,
                "made in the portal",
                time::OffsetDateTime::now_utc() + time::Duration::days(10),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let provisioner = CredentialProvisioner::new(&graph, app.application_object_id);
    fake.clear_requests();
    let rotation = provisioner
        .rotate(NewCredential::Secret(SecretOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        rotation
            .removed
            .iter()
            .map(|c| c.key_id)
            .collect::<Vec<_>>(),
        vec![first]
    );
    let listed = provisioner.list().await.unwrap();
    let ids: Vec<_> = listed.iter().map(|c| c.key_id.to_string()).collect();
    assert!(ids.contains(&foreign["keyId"].as_str().unwrap().to_owned()));
    assert!(ids.contains(&rotation.issued.key_id().to_string()));
    assert_eq!(listed.len(), 2);
    // Overlap: the add came before the remove.
    let writes: Vec<String> = graph_writes(&fake).iter().map(|r| r.path.clone()).collect();
    let add = writes
        .iter()
        .position(|p| p.ends_with("addPassword"))
        .unwrap();
    let remove = writes
        .iter()
        .position(|p| p.ends_with("removePassword"))
        .unwrap();
    assert!(add < remove, "{writes:?}");
    // Removing a foreign credential is refused.
    let foreign_id: entra_appreg::KeyId = foreign["keyId"].as_str().unwrap().parse().unwrap();
    assert!(provisioner.remove(&[foreign_id]).await.is_err());
    // Expiry audit: the admin's secret expires within 30 days.
    let warnings = entra_appreg::credentials::expiry_warnings(&listed, 30);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let expiring = &warnings[0];
    assert!(
        !expiring.expired && expiring.within_days == 30,
        "{expiring:?}"
    );
    assert!(listed.contains(&expiring.credential));
    // Shown, and in JSON, as the sentence for the admin.
    let sentence = expiring.to_string();
    assert!(
        sentence.ends_with("expires within 30 days: rotate it"),
        "{sentence}"
    );
    assert_eq!(serde_json::to_value(expiring).unwrap(), sentence.as_str());
}

#[tokio::test]
async fn a_rerun_can_retire_the_older_certificates_it_created() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let reg = |c: Certificate| {
        AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
            .unwrap()
            .with_credential(NewCredential::Certificate(Box::new(c)))
    };
    let first = reg(cert()).apply(&graph).await.unwrap();
    assert!(first.is_complete());
    let plan = reg(cert()).plan(&graph).await.unwrap();
    assert!(
        plan.warnings.iter().any(|w| w.code == "older_credentials"),
        "{plan}"
    );
    let newest = cert();
    let app = reg(newest.clone())
        .retire_previous_credentials(true)
        .apply(&graph)
        .await
        .unwrap();
    assert_eq!(app.retired_credentials.len(), 1);
    let keys = fake.snapshot().applications[0]
        .key_credentials
        .clone()
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id, app.credential.as_ref().map(|c| c.key_id()));
}

async fn sign_in_as(
    fake: &FakeGraph,
    provider: impl entra_appreg::TokenProvider + 'static,
) -> Graph {
    Graph::builder()
        .tenant(fake.tenant_id().to_string())
        .graph_root(fake.graph_root().as_str())
        .login_root(fake.login_root().as_str())
        .token_provider(provider)
        .sleeper(entra_appreg::retry::RecordingSleeper::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_new_app_signs_in_with_its_certificate_and_its_token_carries_the_profile_roles() {
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let c = cert();
    let profile = PermissionProfile::BackupSharePoint;
    let app = AppRegistration::new("Contoso Backup", profile.clone())
        .unwrap()
        .with_credential(NewCredential::Certificate(Box::new(c.clone())))
        .apply(&admin)
        .await
        .unwrap();
    for alg in [AssertionAlgorithm::Rs256, AssertionAlgorithm::Ps256] {
        let credential = ClientCertificateCredential::new(app.client_id, c.clone())
            .unwrap()
            .with_algorithm(alg);
        let token = sign_in_as(&fake, credential)
            .await
            .access_token()
            .await
            .unwrap();
        let mut roles = token.claims().unwrap().roles;
        roles.sort();
        assert_eq!(
            roles,
            ["Directory.Read.All", "Group.Read.All", "User.Read.All"]
        );
    }
    // A certificate that is not registered is refused by the fake (thumbprint check)...
    let stranger = ClientCertificateCredential::new(app.client_id, cert()).unwrap();
    let err = sign_in_as(&fake, stranger)
        .await
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(err.aadsts_code(), Some(700_027), "{err}");
    // ...and so is an assertion signed with another key under the registered thumbprint.
    let forged = {
        let real = ClientCertificateCredential::new(app.client_id, c.clone())
            .unwrap()
            .assertion(&fake.token_endpoint())
            .unwrap();
        let other = ClientCertificateCredential::new(app.client_id, cert())
            .unwrap()
            .assertion(&fake.token_endpoint())
            .unwrap();
        let parts: Vec<&str> = real.expose_secret().split('.').collect();
        let sig = other.expose_secret().rsplit('.').next().unwrap().to_owned();
        format!("{}.{}.{sig}", parts[0], parts[1])
    };
    let body = format!(
        "grant_type=client_credentials&client_id={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={forged}",
        app.client_id
    );
    let reply = reqwest::Client::new()
        .post(fake.token_endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    assert!(reply.text().await.unwrap().contains("signature"));
}

#[tokio::test]
async fn check_sign_in_waits_out_a_new_secret_that_has_not_replicated() {
    let fake = FakeGraph::start().await;
    let (admin, sleeper) = fake_graph(&fake);
    let registration = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()));
    let app = registration.apply(&admin).await.unwrap();
    let Some(IssuedCredential::Secret(secret)) = &app.credential else {
        panic!()
    };
    fake.set_replication_lag(2);
    // A second secret, created now, lags at the token endpoint.
    let fresh = CredentialProvisioner::new(&admin, app.application_object_id)
        .add_secret(&SecretOptions::default())
        .await
        .unwrap();
    let before = sleeper.durations().len();
    let check = registration
        .check_sign_in(
            &admin,
            app.client_id,
            &AppCredential::Secret(fresh.secret.clone()),
            &ReadyOptions::default().with_timeout(Duration::from_secs(120)),
        )
        .await
        .unwrap();
    assert!(check.ready, "{check}");
    assert!(
        check.resources.iter().any(|r| r.attempts > 1),
        "the lag was not exercised: {check:?}"
    );
    assert!(sleeper.durations().len() > before);
    assert_ne!(secret.key_id, fresh.key_id);
}

#[tokio::test]
async fn connection_details_show_the_secret_only_when_asked() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new(
        "Contoso Backup",
        PermissionProfile::MigrationTarget {
            create_mailboxes: true,
        },
    )
    .unwrap()
    .with_credential(NewCredential::Secret(SecretOptions::default()))
    .apply(&graph)
    .await
    .unwrap();
    let details =
        ConnectionDetails::new(app.tenant_id, app.client_id, app.credential.clone(), None);
    let secret = fake.secret_texts(app.application_object_id).pop().unwrap();
    let without = details.to_json(false).to_string();
    assert!(!without.contains(&secret));
    assert!(!details.to_string().contains(&secret));
    assert!(!format!("{details:?}").contains(&secret));
    let with = details.to_json(true);
    assert_eq!(with["credential"]["secret"], secret);
    assert_eq!(with["tenant_id"], fake.tenant_id().to_string());
    assert_eq!(with["credential"]["type"], "secret");
    assert!(details.to_string().contains(&app.client_id.to_string()));
}

/// An app with one secret the crate created; returns the app's object id and the secret's key
/// id.
async fn app_with_a_secret(
    fake: &FakeGraph,
    graph: &Graph,
) -> (entra_appreg::ObjectId, entra_appreg::KeyId) {
    let app = seed_app(fake);
    let secret = CredentialProvisioner::new(graph, app)
        .add_secret(&SecretOptions::default())
        .await
        .unwrap();
    (app, secret.key_id)
}

fn has_secret(fake: &FakeGraph, key_id: entra_appreg::KeyId) -> bool {
    fake.snapshot().applications[0]
        .password_credentials
        .iter()
        .flatten()
        .any(|p| p.key_id == Some(key_id))
}

/// The reads of the app's secrets that confirm a failed `removePassword`.
fn secret_reads(fake: &FakeGraph) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.query.contains("$select=id,passwordCredentials"))
        .count()
}

/// A copy of a request (`http::Request` is not `Clone`).
fn copy_request(request: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut copy = http::Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone());
    for (name, value) in request.headers() {
        copy = copy.header(name, value);
    }
    copy.body(request.body().clone()).unwrap()
}

/// The default transport, with `removePassword` delivered twice: the first delivery removes
/// the secret and its reply is lost, so the client sees the fake's answer for a keyId the app
/// no longer has.
fn delivering_remove_password_twice() -> std::sync::Arc<dyn entra_appreg::GraphTransport> {
    let inner = common::tenant::reqwest_transport();
    std::sync::Arc::new(move |request: http::Request<Vec<u8>>| {
        let inner = inner.clone();
        async move {
            if request.uri().path().ends_with("/removePassword") {
                let first = inner.send(copy_request(&request)).await?;
                assert_eq!(first.status(), 204);
            }
            inner.send(request).await
        }
    })
}

/// The default transport, with `removePassword` answered by a 400 whose message says the keyId
/// is unknown, without reaching the fake: the secret is still there.
fn answering_remove_password_with_unknown_key() -> std::sync::Arc<dyn entra_appreg::GraphTransport>
{
    let inner = common::tenant::reqwest_transport();
    std::sync::Arc::new(move |request: http::Request<Vec<u8>>| {
        let inner = inner.clone();
        async move {
            if request.uri().path().ends_with("/removePassword") {
                let body = serde_json::json!({"error": {
                    "code": "Request_BadRequest",
                    "message": "No credential with keyId '00000000-0000-0000-0000-000000000000' was found on the application.",
                    "innerError": {"request-id": "0b6e3a39-6e1f-4c53-9a55-3d3b5bd2a001"}}});
                return Ok(http::Response::builder()
                    .status(400)
                    .header("content-type", "application/json")
                    .body(body.to_string().into_bytes())
                    .unwrap());
            }
            inner.send(request).await
        }
    })
}

#[tokio::test]
async fn a_failed_remove_password_counts_as_removed_only_when_the_app_no_longer_has_the_secret() {
    // Removed by an earlier delivery: the fake answers 400 for the keyId it no longer has, and
    // the read-back shows the secret gone.
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let (app, key_id) = app_with_a_secret(&fake, &admin).await;
    let (graph, _) = common::tenant::graph_over(&fake, delivering_remove_password_twice());
    let removed = CredentialProvisioner::new(&graph, app)
        .remove(&[key_id])
        .await
        .unwrap();
    assert_eq!(
        removed.iter().map(|c| c.key_id).collect::<Vec<_>>(),
        [key_id]
    );
    assert!(!has_secret(&fake, key_id));
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.ends_with("/removePassword") && r.status == 400)
    );
    assert_eq!(secret_reads(&fake), 1);

    // Removed, then a 400 with a message that says nothing about the key: the state decides.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let (app, key_id) = app_with_a_secret(&fake, &graph).await;
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 400 })
            .method("POST")
            .path_contains("/removePassword"),
    );
    let removed = CredentialProvisioner::new(&graph, app)
        .remove(&[key_id])
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert!(!has_secret(&fake, key_id));
}

#[tokio::test]
async fn a_failed_remove_password_while_the_secret_is_still_there_is_an_error() {
    // A 400 that never reached the directory, with a generic message.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let (app, key_id) = app_with_a_secret(&fake, &graph).await;
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 400,
            retry_after: None,
        })
        .method("POST")
        .path_contains("/removePassword"),
    );
    let err = CredentialProvisioner::new(&graph, app)
        .remove(&[key_id])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(err.request_id().is_some(), "{err}");
    assert!(has_secret(&fake, key_id));
    assert_eq!(secret_reads(&fake), 1);

    // A 400 whose message claims the keyId is unknown: the message is not believed, the
    // read-back shows the secret, and retiring reports the failure instead of a removal.
    let fake = FakeGraph::start().await;
    let (admin, _) = fake_graph(&fake);
    let (app, key_id) = app_with_a_secret(&fake, &admin).await;
    let (graph, _) =
        common::tenant::graph_over(&fake, answering_remove_password_with_unknown_key());
    let err = CredentialProvisioner::new(&graph, app)
        .retire_older(
            CredentialKind::Secret,
            entra_appreg::KeyId::from_uuid(uuid::Uuid::new_v4()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert!(
        err.to_string().contains("No credential with keyId"),
        "{err}"
    );
    assert!(has_secret(&fake, key_id));
    assert_eq!(secret_reads(&fake), 1);

    // 403 says the request was refused: no read-back.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let (app, key_id) = app_with_a_secret(&fake, &graph).await;
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 403,
            retry_after: None,
        })
        .path_contains("/removePassword"),
    );
    let err = CredentialProvisioner::new(&graph, app)
        .remove(&[key_id])
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(has_secret(&fake, key_id));
    assert_eq!(secret_reads(&fake), 0);
}

/// Every `addPassword` the fake received, at the top level or inside a `$batch`.
fn add_password_requests(fake: &FakeGraph) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.ends_with("/addPassword"))
        .count()
}

fn secrets_of(fake: &FakeGraph) -> usize {
    fake.snapshot().applications[0]
        .password_credentials
        .iter()
        .flatten()
        .count()
}

/// A bare single-tenant app, by object id.
fn seed_app(fake: &FakeGraph) -> entra_appreg::ObjectId {
    fake.seed_application({
        let mut v = Application::default();
        v.display_name = Some("Contoso Backup".into());
        v.sign_in_audience = Some("AzureADMyOrg".into());
        v
    })
    .id
    .unwrap()
}

/// The secrets of the app, by key id.
fn secret_ids(fake: &FakeGraph) -> Vec<entra_appreg::KeyId> {
    fake.snapshot().applications[0]
        .password_credentials
        .iter()
        .flatten()
        .filter_map(|p| p.key_id)
        .collect()
}

#[tokio::test]
async fn a_lost_add_password_reply_is_reconciled_by_its_marker_never_blindly_resent() {
    for status in [500, 502, 503, 504] {
        let fake = FakeGraph::start().await;
        let (graph, _) = fake_graph(&fake);
        let app = seed_app(&fake);
        fake.inject_fault(
            FaultRule::new(Fault::ActThenFail { status })
                .method("POST")
                .path_contains("/addPassword"),
        );
        let secret = CredentialProvisioner::new(&graph, app)
            .add_secret(&SecretOptions::default())
            .await
            .unwrap();
        // The lost one was found by its marker and removed before a second was added: the
        // caller holds the only one.
        assert_eq!(add_password_requests(&fake), 2, "{status}");
        assert_eq!(secret_ids(&fake), [secret.key_id], "{status}");
        let removed = fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/removePassword"))
            .count();
        assert_eq!(removed, 1, "{status}");
    }
}

#[tokio::test]
async fn replies_lost_past_the_last_try_end_in_may_have_taken_effect_with_one_secret_left() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = seed_app(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 })
            .method("POST")
            .path_contains("/addPassword")
            .times(1000),
    );
    let err = CredentialProvisioner::new(&graph, app)
        .add_secret(&SecretOptions::default())
        .await
        .unwrap_err();
    let Error::MayHaveTakenEffect {
        request, source, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(request.ends_with("/addPassword"), "{request}");
    assert!(matches!(source.as_ref(), Error::Graph(_)), "{source:?}");
    assert_eq!(err.status(), Some(503));
    assert!(err.request_id().is_some(), "{err}");
    assert!(err.report().to_string().contains("not sent again"), "{err}");
    // Five tries; each earlier one's secret was removed, only the last one's is left.
    assert_eq!(add_password_requests(&fake), 5);
    assert_eq!(secrets_of(&fake), 1);
}

#[tokio::test]
async fn an_add_password_whose_connection_failed_after_sending_is_reconciled() {
    use crate::common::faulty::{FaultyTransport, WireFault};
    for (fault, sends) in [
        (WireFault::ResetAfterServerActed, 2),
        (WireFault::ResetBeforeSend, 1),
    ] {
        let fake = FakeGraph::start().await;
        let app = seed_app(&fake);
        let transport = std::sync::Arc::new(FaultyTransport::new(
            common::tenant::reqwest_transport(),
            1,
            fault.clone(),
        ));
        let (graph, _) = common::tenant::graph_over(&fake, transport.clone());
        let secret = CredentialProvisioner::new(&graph, app)
            .add_secret(&SecretOptions::default())
            .await
            .unwrap();
        assert!(transport.fired());
        // After the reset, the one Graph made is removed before another is added; a request
        // that never left is simply sent again.
        assert_eq!(add_password_requests(&fake), sends, "{fault:?}");
        assert_eq!(secret_ids(&fake), [secret.key_id], "{fault:?}");
    }
}

#[tokio::test]
async fn a_throttled_add_password_is_sent_again_after_retry_after() {
    let fake = FakeGraph::start().await;
    let (graph, sleeper) = fake_graph(&fake);
    let app = seed_app(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(3),
        })
        .path_contains("/addPassword"),
    );
    let secret = CredentialProvisioner::new(&graph, app)
        .add_secret(&SecretOptions::default())
        .await
        .unwrap();
    assert_eq!(add_password_requests(&fake), 2);
    assert_eq!(sleeper.durations(), [Duration::from_secs(3)]);
    assert_eq!(
        fake.snapshot().applications[0]
            .password_credentials
            .iter()
            .flatten()
            .filter_map(|p| p.key_id)
            .collect::<Vec<_>>(),
        [secret.key_id]
    );
}

#[tokio::test]
async fn rotating_a_secret_through_a_lost_reply_leaves_only_the_new_secret() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let (app, first) = app_with_a_secret(&fake, &graph).await;
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 })
            .method("POST")
            .path_contains("/addPassword"),
    );
    let rotation = CredentialProvisioner::new(&graph, app)
        .rotate(NewCredential::Secret(SecretOptions::default()))
        .await
        .unwrap();
    assert!(!has_secret(&fake, first));
    assert_eq!(secret_ids(&fake), [rotation.issued.key_id()]);
    assert_eq!(rotation.removed.len(), 1);
}

#[tokio::test]
async fn rotating_a_secret_whose_replies_stay_lost_fails_and_retires_nothing() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let (app, first) = app_with_a_secret(&fake, &graph).await;
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 })
            .method("POST")
            .path_contains("/addPassword")
            .times(1000),
    );
    let err = CredentialProvisioner::new(&graph, app)
        .rotate(NewCredential::Secret(SecretOptions::default()))
        .await
        .unwrap_err();
    assert!(err.may_have_taken_effect(), "{err:?}");
    // The first secret stays; of the secrets the lost replies made, only the last is left.
    assert!(has_secret(&fake, first));
    assert_eq!(secrets_of(&fake), 2);
}

#[tokio::test]
async fn a_batch_holding_add_password_is_not_sent_again_after_its_envelope_may_have_acted() {
    use crate::common::requests;
    use entra_appreg::graph::{BatchItem, GraphRequest};
    let items = |app: entra_appreg::ObjectId| {
        vec![
            BatchItem::new(
                "password",
                requests::add_password(
                    app,
                    "entra-appreg: client secret",
                    time::OffsetDateTime::now_utc() + time::Duration::days(30),
                )
                .unwrap(),
            ),
            BatchItem::new("read", GraphRequest::get(format!("/applications/{app}"))),
        ]
    };
    let envelopes = |fake: &FakeGraph| {
        fake.requests()
            .iter()
            .filter(|r| r.path.ends_with("/$batch"))
            .count()
    };
    // Acted, then 503 (a lost reply), or 503 without acting: the client cannot tell them apart.
    for (fault, secrets_after) in [
        (Fault::ActThenFail { status: 503 }, 1),
        (
            Fault::Status {
                status: 503,
                retry_after: None,
            },
            0,
        ),
    ] {
        let fake = FakeGraph::start().await;
        let (graph, sleeper) = fake_graph(&fake);
        let app = seed_app(&fake);
        fake.inject_fault(FaultRule::new(fault.clone()).path_contains("/$batch"));
        let err = graph.batch(items(app)).await.unwrap_err();
        let Error::MayHaveTakenEffect { request, .. } = &err else {
            panic!("{fault:?}: {err:?}")
        };
        assert!(
            request.starts_with("POST /$batch holding POST /applications/")
                && request.ends_with("/addPassword"),
            "{request}"
        );
        assert_eq!(err.status(), Some(503));
        assert!(err.request_id().is_some(), "{err}");
        assert_eq!(envelopes(&fake), 1, "{fault:?}");
        assert_eq!(secrets_of(&fake), secrets_after, "{fault:?}");
        assert!(sleeper.durations().is_empty());
    }

    // A throttled envelope was not carried out: sent again, one secret.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = seed_app(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(1),
        })
        .path_contains("/$batch"),
    );
    let replies = graph.batch(items(app)).await.unwrap();
    assert!(replies.iter().all(|r| r.is_success()), "{replies:?}");
    assert_eq!(envelopes(&fake), 2);
    assert_eq!(secrets_of(&fake), 1);

    // Without addPassword, an envelope that failed with 503 after acting is sent again.
    fake.clear_requests();
    fake.inject_fault(FaultRule::new(Fault::ActThenFail { status: 503 }).path_contains("/$batch"));
    let replies = graph
        .batch(vec![BatchItem::new(
            "read",
            GraphRequest::get(format!("/applications/{app}")),
        )])
        .await
        .unwrap();
    assert!(replies[0].is_success());
    assert_eq!(envelopes(&fake), 2);
}

#[tokio::test]
async fn an_add_password_item_that_may_have_acted_is_not_sent_again() {
    use crate::common::requests;
    use entra_appreg::graph::BatchItem;
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = seed_app(&fake);
    let item = || {
        BatchItem::new(
            "password",
            requests::add_password(
                app,
                "entra-appreg: client secret",
                time::OffsetDateTime::now_utc() + time::Duration::days(30),
            )
            .unwrap(),
        )
    };
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 }).path_contains("/addPassword"),
    );
    let replies = graph.batch(vec![item()]).await.unwrap();
    assert_eq!(replies[0].status, 503);
    let err = replies[0].error();
    assert!(err.may_have_taken_effect(), "{err:?}");
    assert!(err.request_id().is_some(), "{err}");
    assert_eq!(add_password_requests(&fake), 1);
    assert_eq!(secrets_of(&fake), 1);

    // A throttled item was not carried out: sent again.
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(1),
        })
        .path_contains("/addPassword"),
    );
    let replies = graph.batch(vec![item()]).await.unwrap();
    assert!(replies[0].is_success());
    assert_eq!(add_password_requests(&fake), 3);
    assert_eq!(secrets_of(&fake), 2);
}

/// PEM files as Windows tools save them read like plain ones: CRLF line endings, a UTF-8
/// byte-order mark (Notepad), UTF-16 with a byte-order mark (Windows PowerShell 5.1's `>`).
#[test]
fn pem_files_saved_by_windows_tools_are_read() {
    let c = cert();
    let dir = std::env::temp_dir().join(format!("appreg-pem-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = c
        .write_files(&CertificateOutput::new(&dir, "contoso"))
        .unwrap();
    let text = |p: &Option<std::path::PathBuf>| {
        std::fs::read_to_string(p.as_ref().unwrap())
            .unwrap()
            .replace('\n', "\r\n")
    };
    let (pem, key) = (text(&files.certificate_pem), text(&files.private_key_pem));
    type Encode = fn(&str) -> Vec<u8>;
    let encodings: [(&str, Encode); 4] = [
        ("crlf", |t| t.as_bytes().to_vec()),
        ("utf8-bom", |t| {
            [b"\xEF\xBB\xBF".as_slice(), t.as_bytes()].concat()
        }),
        ("utf16le", |t| {
            [0xFF, 0xFE]
                .into_iter()
                .chain(t.encode_utf16().flat_map(u16::to_le_bytes))
                .collect()
        }),
        ("utf16be", |t| {
            [0xFE, 0xFF]
                .into_iter()
                .chain(t.encode_utf16().flat_map(u16::to_be_bytes))
                .collect()
        }),
    ];
    for (name, encode) in encodings {
        let both = dir.join(format!("{name}-both.pem"));
        std::fs::write(&both, encode(&format!("{pem}{key}"))).unwrap();
        let read = Certificate::from_file(&both, None).unwrap();
        assert_eq!(read.thumbprint(), c.thumbprint(), "{name}");
        assert!(read.has_private_key(), "{name}");

        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_file, encode(&pem)).unwrap();
        std::fs::write(&key_file, encode(&key)).unwrap();
        let read = Certificate::from_pem_files(&cert_file, &key_file).unwrap();
        assert_eq!(read.thumbprint(), c.thumbprint(), "{name}");
        assert!(read.has_private_key(), "{name}");
    }
    // UTF-16 without a byte-order mark cannot be told from binary data: refused, clearly.
    let bare = dir.join("bare.pem");
    std::fs::write(
        &bare,
        pem.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    assert!(
        Certificate::from_file(&bare, None)
            .unwrap_err()
            .is_invalid_input()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Once the new credential is added, a rotation returns it whatever happens next: a failed
/// removal of the older ones is reported, not raised, so a secret's only copy is never lost.
#[tokio::test]
async fn a_rotation_whose_retirement_fails_still_returns_the_new_secret() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 403,
            retry_after: None,
        })
        .path_contains("removePassword")
        .times(1000),
    );
    let rotation = CredentialProvisioner::new(&graph, app.application_object_id)
        .rotate(NewCredential::Secret(SecretOptions::default()))
        .await
        .unwrap();
    let IssuedCredential::Secret(new) = &rotation.issued else {
        panic!("{rotation:?}")
    };
    assert!(rotation.removed.is_empty());
    let why = rotation
        .retirement_error
        .as_deref()
        .expect("the failure is reported");
    assert!(why.contains("403"), "{why}");
    // The error itself, for a program to branch on.
    let cause = rotation
        .retirement_cause
        .as_deref()
        .expect("the cause is kept");
    assert_eq!(cause.status(), Some(403), "{cause:?}");
    let live = fake.secret_texts(app.application_object_id);
    assert_eq!(live.len(), 2);
    assert!(live.contains(&new.secret.expose_secret().to_owned()));
}

/// A provisioner's journal holds an intent exactly while a secret nobody holds may exist: a
/// refused `addPassword` left nothing (the intent is forgotten, so the next run has nothing to
/// read back), replies lost past the last try may have left one (the intent stays, naming the
/// secret's marker, for the next run to remove), and a secret handed over is done.
#[tokio::test]
async fn a_provisioner_s_journal_keeps_an_intent_only_while_an_unheld_secret_may_exist() {
    use entra_appreg::credentials::{FileJournal, SecretJournal};
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(format!("journal-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal: Arc<dyn SecretJournal> = Arc::new(FileJournal::in_folder(&dir));

    // Refused by a lifetime policy: no secret can exist.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = seed_app(&fake);
    fake.set_password_lifetime_limit(Some(time::Duration::days(180)));
    let err = CredentialProvisioner::new(&graph, app)
        .with_journal(journal.clone())
        .add_secret(&SecretOptions::valid_for_days(365))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::CredentialLifetimePolicy { .. }),
        "{err:?}"
    );
    assert!(
        journal.unfinished().unwrap().is_empty(),
        "{:?}",
        journal.unfinished()
    );

    // Handed over: done.
    fake.set_password_lifetime_limit(None);
    CredentialProvisioner::new(&graph, app)
        .with_journal(journal.clone())
        .add_secret(&SecretOptions::default())
        .await
        .unwrap();
    assert!(journal.unfinished().unwrap().is_empty());

    // Every reply lost: the last try's secret may exist, and the journal says which.
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = seed_app(&fake);
    fake.inject_fault(
        FaultRule::new(Fault::ActThenFail { status: 503 })
            .method("POST")
            .path_contains("/addPassword")
            .times(1000),
    );
    let err = CredentialProvisioner::new(&graph, app)
        .with_journal(journal.clone())
        .add_secret(&SecretOptions::default())
        .await
        .unwrap_err();
    assert!(err.may_have_taken_effect(), "{err:?}");
    let open = journal.unfinished().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].app_object_id, app);
    let left = fake.snapshot().applications[0]
        .password_credentials
        .clone()
        .unwrap_or_default();
    assert_eq!(left.len(), 1);
    let name = left[0].display_name.clone().unwrap_or_default();
    assert!(
        name.ends_with(&format!("[run {}]", open[0].marker)),
        "{name} vs {open:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_run_that_recovered_after_adding_its_secret_does_not_call_it_an_older_one() {
    let fake = FakeGraph::start().await;
    // The grants fail long enough for the first pass to give up after its secret was made.
    fake.inject_fault(
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: None,
        })
        .path_contains("appRoleAssignedTo")
        // Four grants, each tried six times by the client: the whole first pass fails.
        .times(24),
    );
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::MigrationSource)
        .unwrap()
        .with_credential(NewCredential::Secret(SecretOptions::default()))
        .apply(&graph)
        .await
        .unwrap();
    assert!(app.is_complete());
    assert!(
        !app.warnings.iter().any(|w| w.code == "older_credentials"),
        "{:?}",
        app.warnings
    );
    let stored = fake.snapshot().applications.remove(0);
    assert_eq!(stored.password_credentials.unwrap_or_default().len(), 1);
    // The pass that made the secret did fail: the run recovered.
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("appRoleAssignedTo") && r.status == 503)
        .count();
    assert_eq!(refused, 24);
}

/// A provisioner holds its own handle on the client: it outlives the caller's `Graph` and can be
/// moved into a spawned task.
#[tokio::test]
async fn a_provisioner_owns_its_client_and_can_be_moved_into_a_task() {
    let fake = FakeGraph::start().await;
    let (graph, _) = fake_graph(&fake);
    let app = AppRegistration::new("Contoso Backup", PermissionProfile::BackupExchange)
        .unwrap()
        .apply(&graph)
        .await
        .unwrap();
    let provisioner =
        entra_appreg::credentials::CredentialProvisioner::new(&graph, app.application_object_id);
    drop(graph);
    let secret = tokio::spawn(async move {
        provisioner
            .add_secret(&entra_appreg::credentials::SecretOptions::default())
            .await
    })
    .await
    .unwrap()
    .unwrap();
    let stored = fake.snapshot().applications.remove(0);
    let ids: Vec<_> = stored
        .password_credentials
        .unwrap_or_default()
        .iter()
        .map(|p| p.key_id)
        .collect();
    assert_eq!(ids, [Some(secret.key_id)]);
}
