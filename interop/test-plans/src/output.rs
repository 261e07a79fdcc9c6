//! The node's stdout: newline-delimited JSON events with `time` (RFC 3339) and `msg`, the
//! harness' only input. Diagnostics go to stderr through `tracing`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// Formats a wall-clock time as RFC 3339 in UTC with microseconds,
/// e.g. `2026-11-30T03:37:13.123456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// days-to-civil algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The harness' message id of a payload: its first 8 bytes as a big-endian u64, in
/// decimal. `None` for payloads shorter than 8 bytes.
pub fn message_id_of(bytes: &[u8]) -> Option<String> {
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(head).to_string())
}

/// One stdout event as a JSON line: `time`, `level`, `msg`, then `fields`.
pub fn line(time: SystemTime, msg: &str, fields: &[(&str, Value)]) -> String {
    let mut obj = Map::new();
    obj.insert("time".into(), Value::String(rfc3339(time)));
    obj.insert("level".into(), Value::String("INFO".into()));
    obj.insert("msg".into(), Value::String(msg.into()));
    for (k, v) in fields {
        obj.insert((*k).into(), v.clone());
    }
    let mut s = Value::Object(obj).to_string();
    s.push('\n');
    s
}

/// Writes one event to stdout, whole, and flushes it (a node may be stopped at any time).
pub fn emit(msg: &str, fields: &[(&str, Value)]) {
    let text = line(SystemTime::now(), msg, fields);
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        tracing::error!("stdout closed; event lost");
    }
}

/// Logs the harness' `Received Message` event. `from` and `topic` are the SHOULD fields; a
/// duplicate reported by libp2p-gossipsub comes without them.
pub fn received(id: &str, from: Option<String>, topic: Option<String>) {
    let mut fields = vec![("id", Value::String(id.into()))];
    if let Some(from) = from {
        fields.push(("from", Value::String(from)));
    }
    if let Some(topic) = topic {
        fields.push(("topic", Value::String(topic)));
    }
    emit("Received Message", &fields);
}

/// Logs `All parts received` (field `group id`): our copy of the group is complete (the line
/// the harness' `checks/partial_messages.py` looks for).
pub fn all_parts_received(group_id: u64) {
    emit("All parts received", &[("group id", Value::from(group_id))]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_micros(951_782_400_000_000 + 12_345);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.012345Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_923_433);
        assert_eq!(rfc3339(t), "2026-11-29T03:37:13.000000Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn ids_are_the_big_endian_head() {
        let mut payload = vec![0u8; 1024];
        payload[..8].copy_from_slice(&31u64.to_be_bytes());
        assert_eq!(message_id_of(&payload).as_deref(), Some("31"));
        assert_eq!(
            message_id_of(&u64::MAX.to_be_bytes()).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(message_id_of(&[1, 2, 3]), None);
    }

    #[test]
    fn lines_are_single_json_objects() {
        let l = line(
            UNIX_EPOCH,
            "Received Message",
            &[("id", Value::String("7".into()))],
        );
        assert!(l.ends_with('\n') && l.matches('\n').count() == 1);
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["msg"], "Received Message");
        assert_eq!(v["id"], "7");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000000Z");
    }
}
