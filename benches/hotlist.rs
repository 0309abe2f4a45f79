//! Hotlist speed: matching one read against 100 000 entries (exact hit, fuzzy hit by a
//! confusable character, fuzzy hit by a missing character, miss), and parsing plus indexing the
//! 100 000 entries. The entries come from a seeded generator: no data file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test or bench is its failure

use anpr_edge::hotlist::{Format, Hotlist, Matcher};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::time::SystemTime;

const ENTRIES: usize = 100_000;

/// A deterministic xorshift generator, so every run measures the same list.
struct Seeded(u64);

impl Seeded {
    fn pick(&mut self, from: &[u8]) -> char {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from[(self.0 % from.len() as u64) as usize] as char
    }

    /// Plates of a few European shapes (e.g. 1ABC234, AB123CD, AB12CDE).
    fn plate(&mut self) -> String {
        const L: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const D: &[u8] = b"0123456789";
        let shape: &[&[u8]] = match self.pick(b"012") {
            '0' => &[D, L, L, L, D, D, D],
            '1' => &[L, L, D, D, D, L, L],
            _ => &[L, L, D, D, L, L, L],
        };
        shape.iter().map(|set| self.pick(set)).collect()
    }
}

fn csv_list() -> (String, Vec<String>) {
    let mut seeded = Seeded(0x2545_f491_4f6c_dd1d);
    let mut plates: Vec<String> = (0..ENTRIES).map(|_| seeded.plate()).collect();
    plates.sort();
    plates.dedup();
    let mut csv = String::from("version,bench\nplate,list,category,action,expires,note\n");
    for (i, plate) in plates.iter().enumerate() {
        let (category, action) =
            if i % 10 == 0 { ("lez-exempt", "allow") } else { ("stolen", "alert") };
        csv.push_str(&format!("{plate},national,{category},{action},2099-01-01T00:00:00Z,\n"));
    }
    (csv, plates)
}

/// A listed plate with one character replaced by its confusable twin, itself not listed.
fn confused(plates: &[String], alerts: &[String]) -> String {
    let listed: std::collections::HashSet<&str> = plates.iter().map(String::as_str).collect();
    let swap = |c: char| match c {
        'O' => Some('0'),
        '0' => Some('O'),
        'B' => Some('8'),
        '8' => Some('B'),
        'S' => Some('5'),
        '5' => Some('S'),
        _ => None,
    };
    alerts
        .iter()
        .flat_map(|p| {
            p.char_indices()
                .filter_map(|(i, c)| swap(c).map(|s| format!("{}{s}{}", &p[..i], &p[i + 1..])))
        })
        .find(|variant| !listed.contains(variant.as_str()))
        .expect("a plate with a confusable character")
}

fn hotlist(c: &mut Criterion) {
    let (csv, plates) = csv_list();
    c.bench_function("hotlist: parse + index 100k entries (CSV)", |b| {
        b.iter_batched(
            || csv.clone(),
            |csv| Matcher::new(Hotlist::parse(csv.as_bytes(), Format::Csv).expect("valid")),
            BatchSize::LargeInput,
        )
    });
    let matcher = Matcher::new(Hotlist::parse(csv.as_bytes(), Format::Csv).expect("valid"));
    let now = SystemTime::now();
    // Every tenth entry is an `allow`, which matches exactly only.
    let alerts: Vec<String> =
        plates.iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, p)| p.clone()).collect();
    let exact = alerts[alerts.len() / 3].clone();
    let fuzzy = confused(&plates, &alerts);
    let missing = alerts
        .iter()
        .map(|p| p[1..].to_string())
        .find(|m| !plates.contains(m))
        .expect("a plate whose shortening is not listed");
    let miss = "QQ000QQ";
    assert!(matcher.check(&exact, now, 1).matched().is_some());
    assert!(matcher.check(&fuzzy, now, 1).matched().is_some_and(|m| m.distance == 1));
    assert!(matcher.check(&missing, now, 1).matched().is_some());
    assert!(matcher.check(miss, now, 1).matched().is_none());
    for tolerance in [0, 1, 2] {
        c.bench_function(&format!("hotlist 100k: exact hit, tolerance {tolerance}"), |b| {
            b.iter(|| matcher.check(black_box(&exact), now, tolerance))
        });
        c.bench_function(&format!("hotlist 100k: miss, tolerance {tolerance}"), |b| {
            b.iter(|| matcher.check(black_box(miss), now, tolerance))
        });
    }
    c.bench_function("hotlist 100k: fuzzy hit (confusable), tolerance 1", |b| {
        b.iter(|| matcher.check(black_box(&fuzzy), now, 1))
    });
    c.bench_function("hotlist 100k: fuzzy hit (missing character), tolerance 1", |b| {
        b.iter(|| matcher.check(black_box(&missing), now, 1))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = hotlist
}
criterion_main!(benches);
