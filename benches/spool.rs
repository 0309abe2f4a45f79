//! The durable spool's costs: spooling a read (1 KiB) with each fsync policy, spooling an image
//! (100 KiB), the put-then-acknowledge cycle of a healthy connection, and recovery (scanning a
//! spool of 4 000 reads at start). On the disk the spool folder is on (a tempdir under /tmp;
//! set TMPDIR to measure another). Run: `cargo bench --bench spool`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::message::{Class, Message};
use anpr_edge::spool::record::Removal;
use anpr_edge::spool::{FsyncPolicy, Spool, SpoolConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;

fn config(dir: &Path, fsync: FsyncPolicy) -> SpoolConfig {
    SpoolConfig { dir: dir.to_path_buf(), fsync, ..SpoolConfig::default() }
}

fn message(i: u64, class: Class, bytes: usize) -> Message {
    Message {
        id: format!("0190aaaa-{i:012}"),
        topic: "anpr/box/reads".into(),
        payload: vec![b'x'; bytes],
        class,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool");
    for (name, fsync, bytes, class) in [
        ("put read 1 KiB, fsync every 200 ms", FsyncPolicy::Interval, 1024, Class::Read),
        ("put read 1 KiB, fsync per record", FsyncPolicy::PerRecord, 1024, Class::Read),
        ("put image 100 KiB, fsync every 200 ms", FsyncPolicy::Interval, 100 << 10, Class::Image),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) = Spool::open(&config(dir.path(), fsync)).expect("open");
        let mut i = 0;
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let m = message(i, class, bytes);
                spool.put(&m).expect("put");
                // Acknowledged at once, so the files stay small however long criterion runs.
                spool.remove(&m.id, Removal::Acknowledged);
                i += 1;
            })
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut spool, _) = Spool::open(&config(dir.path(), FsyncPolicy::Interval)).expect("open");
        for i in 0..4000 {
            spool.put(&message(i, Class::Read, 1024)).expect("put");
        }
    }
    group.throughput(Throughput::Elements(4000));
    group.sample_size(20);
    group.bench_function("recover 4000 reads of 1 KiB", |b| {
        b.iter(|| {
            let (spool, held) =
                Spool::open(&config(dir.path(), FsyncPolicy::Interval)).expect("open");
            assert_eq!(held.len(), 4000);
            drop(spool);
            // Each open starts a new (empty) head segment; remove it so every run scans the same.
            if let Some(last) = std::fs::read_dir(dir.path())
                .expect("ls")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .max()
            {
                let _ = std::fs::remove_file(last);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
