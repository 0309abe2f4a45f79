//! The unit's reads as a consumer sees them: JSON lines on the daemon's standard output, JSON
//! messages on an MQTT topic, the schema every record follows, and the images a record names
//! by their SHA-256. Every test that checks what left the unit reads it through these, so that
//! a change of the record's shape is met in one place.

use anpr_edge::digest::sha256_hex;
use serde_json::Value;

/// (topic, payload, retained) of each message a [`super::subscriber::Subscriber`] collected.
pub type Received = [(String, Vec<u8>, bool)];

/// One JSON record per line of `stdout` (the stdout sink, `replay --json`), panicking on a line
/// that is not JSON, since the sink must never print anything else there.
pub fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON record a line ({e}): {line}"))
        })
        .collect()
}

/// The messages on `topic`, in arrival order, each parsed as JSON; panics on one that is not,
/// since the unit publishes nothing else on its reads, hits and status topics.
pub fn json_on(received: &Received, topic: &str) -> Vec<Value> {
    received
        .iter()
        .filter(|(t, _, _)| t == topic)
        .map(|(_, payload, _)| {
            serde_json::from_slice(payload).unwrap_or_else(|e| {
                panic!("not JSON on {topic} ({e}): {}", String::from_utf8_lossy(payload))
            })
        })
        .collect()
}

/// The plate text of a record, with O and 0 folded as the ground truth is compared.
pub fn folded_text(record: &Value) -> String {
    anpr_edge::plate::fold(record["plate"]["text"].as_str().expect("a plate text"))
}

/// [`folded_text`] of each record, in order.
pub fn folded_texts(records: &[Value]) -> Vec<String> {
    records.iter().map(folded_text).collect()
}

/// Fails, naming each error, unless `record` follows schema/read.schema.json.
pub fn assert_follows_schema(record: &Value) {
    let schema: Value =
        serde_json::from_str(anpr_edge::read_record::JSON_SCHEMA).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(record).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "record does not follow schema/read.schema.json: {errors:?}\n{record}"
    );
}

/// Fails unless each image of `kinds` that `record` names arrived on its topic as a JPEG whose
/// SHA-256 is the one the record states.
pub fn assert_images_arrived(record: &Value, received: &Received, kinds: &[&str]) {
    for kind in kinds {
        let reference = &record["images"][kind];
        let topic =
            reference["topic"].as_str().unwrap_or_else(|| panic!("no {kind} image: {record}"));
        let (_, jpeg, _) = received
            .iter()
            .find(|(t, _, _)| t == topic)
            .unwrap_or_else(|| panic!("no image on {topic}"));
        assert_eq!(
            sha256_hex(jpeg),
            reference["sha256"].as_str().expect("the image's sha256"),
            "the {kind} image on {topic} is the one the record names"
        );
        assert_eq!(&jpeg[..2], &[0xff, 0xd8], "the {kind} image on {topic} is a JPEG");
    }
}
