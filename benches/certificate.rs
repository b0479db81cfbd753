//! Certificate generation beside a bare aws-lc-rs RSA-2048 key generation: the crate's cost on
//! top of the key generation itself (self-signing, DER encoding, parsing back, thumbprint).

use criterion::{Criterion, criterion_group, criterion_main};
use entra_appreg::credentials::Certificate;

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("rsa2048");
    // Key generation takes tens of milliseconds with a wide spread: enough samples to compare.
    group.sample_size(60);
    group.bench_function("aws_lc_rs_keygen", |b| {
        b.iter(|| {
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("keygen")
        })
    });
    group.bench_function("certificate_generate", |b| {
        b.iter(|| Certificate::generate("Contoso Backup", 365).expect("certificate"))
    });
    group.finish();
}

criterion_group!(benches, generation);
criterion_main!(benches);
