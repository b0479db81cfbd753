//! Certificate generation beside a bare aws-lc-rs RSA-2048 key generation: the crate's cost on
//! top of the key generation itself (self-signing, DER encoding, parsing back, thumbprint).
//!
//! RSA key generation searches for primes, so its time varies widely from one key to the next;
//! `rsa2048/after_keygen` measures what the crate adds, with a key made once beforehand, which
//! is the comparison that does not drown in that variance.

use criterion::{Criterion, criterion_group, criterion_main};
use entra_appreg::credentials::Certificate;

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("rsa2048");
    group.sample_size(100);
    group.bench_function("aws_lc_rs_keygen", |b| {
        b.iter(|| {
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen")
        })
    });
    group.bench_function("certificate_generate", |b| {
        b.iter(|| Certificate::generate("Contoso Backup", 365).expect("certificate"))
    });
    // The steps of `Certificate::generate` after the key exists: self-signing with SHA-256, the
    // DER, and reading it back (subject, validity, key size, thumbprint). Importing also checks
    // the key against the certificate, which generation skips: an upper bound.
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("keygen");
    let key_pem = key.serialize_pem();
    group.bench_function("after_keygen", |b| {
        b.iter(|| {
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "Contoso Backup");
            let cert = params.self_signed(&key).expect("signed");
            Certificate::from_pem(&(cert.pem() + &key_pem)).expect("certificate")
        })
    });
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
