//! `OFPT_ERROR` messages with symbolic type and code names (including OVS's OpenFlow 1.3
//! bundle extension errors, which arrive as ONF experimenter errors).

use std::fmt;

/// ONF experimenter id, used by OVS for the OpenFlow 1.3 bundle extension.
pub const ONF_EXPERIMENTER_ID: u32 = 0x4f4e_4600;
/// First ONF experimenter error code for bundle errors (`ONFERR_ET_BUNDLE_*` = 2300 + code).
const ONF_BUNDLE_ERROR_BASE: u16 = 2300;
/// `OFPET_EXPERIMENTER`.
pub const ERROR_TYPE_EXPERIMENTER: u16 = 0xffff;
/// `OFPET_BUNDLE_FAILED` (OpenFlow 1.4).
pub const ERROR_TYPE_BUNDLE_FAILED: u16 = 17;

/// An error reported by the switch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// `OFPET_*` (0xffff for experimenter errors).
    pub error_type: u16,
    /// `OFPxxC_*` code, or the experimenter's code for experimenter errors.
    pub code: u16,
    /// Experimenter id for `OFPET_EXPERIMENTER` errors.
    pub experimenter: Option<u32>,
    /// Usually the first bytes of the offending request.
    pub data: Vec<u8>,
}

const TYPES: [(&str, &str, &[&str]); 18] = [
    ("OFPET_HELLO_FAILED", "OFPHFC", &["INCOMPATIBLE", "EPERM"]),
    (
        "OFPET_BAD_REQUEST",
        "OFPBRC",
        &[
            "BAD_VERSION",
            "BAD_TYPE",
            "BAD_MULTIPART",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "EPERM",
            "BAD_LEN",
            "BUFFER_EMPTY",
            "BUFFER_UNKNOWN",
            "BAD_TABLE_ID",
            "IS_SLAVE",
            "BAD_PORT",
            "BAD_PACKET",
            "MULTIPART_BUFFER_OVERFLOW",
            "MULTIPART_REQUEST_TIMEOUT",
            "MULTIPART_REPLY_TIMEOUT",
        ],
    ),
    (
        "OFPET_BAD_ACTION",
        "OFPBAC",
        &[
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "BAD_OUT_PORT",
            "BAD_ARGUMENT",
            "EPERM",
            "TOO_MANY",
            "BAD_QUEUE",
            "BAD_OUT_GROUP",
            "MATCH_INCONSISTENT",
            "UNSUPPORTED_ORDER",
            "BAD_TAG",
            "BAD_SET_TYPE",
            "BAD_SET_LEN",
            "BAD_SET_ARGUMENT",
        ],
    ),
    (
        "OFPET_BAD_INSTRUCTION",
        "OFPBIC",
        &[
            "UNKNOWN_INST",
            "UNSUP_INST",
            "BAD_TABLE_ID",
            "UNSUP_METADATA",
            "UNSUP_METADATA_MASK",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "BAD_LEN",
            "EPERM",
        ],
    ),
    (
        "OFPET_BAD_MATCH",
        "OFPBMC",
        &[
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_TAG",
            "BAD_DL_ADDR_MASK",
            "BAD_NW_ADDR_MASK",
            "BAD_WILDCARDS",
            "BAD_FIELD",
            "BAD_VALUE",
            "BAD_MASK",
            "BAD_PREREQ",
            "DUP_FIELD",
            "EPERM",
        ],
    ),
    (
        "OFPET_FLOW_MOD_FAILED",
        "OFPFMFC",
        &[
            "UNKNOWN",
            "TABLE_FULL",
            "BAD_TABLE_ID",
            "OVERLAP",
            "EPERM",
            "BAD_TIMEOUT",
            "BAD_COMMAND",
            "BAD_FLAGS",
        ],
    ),
    (
        "OFPET_GROUP_MOD_FAILED",
        "OFPGMFC",
        &[
            "GROUP_EXISTS",
            "INVALID_GROUP",
            "WEIGHT_UNSUPPORTED",
            "OUT_OF_GROUPS",
            "OUT_OF_BUCKETS",
            "CHAINING_UNSUPPORTED",
            "WATCH_UNSUPPORTED",
            "LOOP",
            "UNKNOWN_GROUP",
            "CHAINED_GROUP",
            "BAD_TYPE",
            "BAD_COMMAND",
            "BAD_BUCKET",
            "BAD_WATCH",
            "EPERM",
        ],
    ),
    (
        "OFPET_PORT_MOD_FAILED",
        "OFPPMFC",
        &[
            "BAD_PORT",
            "BAD_HW_ADDR",
            "BAD_CONFIG",
            "BAD_ADVERTISE",
            "EPERM",
        ],
    ),
    (
        "OFPET_TABLE_MOD_FAILED",
        "OFPTMFC",
        &["BAD_TABLE", "BAD_CONFIG", "EPERM"],
    ),
    (
        "OFPET_QUEUE_OP_FAILED",
        "OFPQOFC",
        &["BAD_PORT", "BAD_QUEUE", "EPERM"],
    ),
    (
        "OFPET_SWITCH_CONFIG_FAILED",
        "OFPSCFC",
        &["BAD_FLAGS", "BAD_LEN", "EPERM"],
    ),
    (
        "OFPET_ROLE_REQUEST_FAILED",
        "OFPRRFC",
        &["STALE", "UNSUP", "BAD_ROLE"],
    ),
    (
        "OFPET_METER_MOD_FAILED",
        "OFPMMFC",
        &[
            "UNKNOWN",
            "METER_EXISTS",
            "INVALID_METER",
            "UNKNOWN_METER",
            "BAD_COMMAND",
            "BAD_FLAGS",
            "BAD_RATE",
            "BAD_BURST",
            "BAD_BAND",
            "BAD_BAND_VALUE",
            "OUT_OF_METERS",
            "OUT_OF_BANDS",
        ],
    ),
    (
        "OFPET_TABLE_FEATURES_FAILED",
        "OFPTFFC",
        &[
            "BAD_TABLE",
            "BAD_METADATA",
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_ARGUMENT",
            "EPERM",
        ],
    ),
    (
        "OFPET_BAD_PROPERTY",
        "OFPBPC",
        &[
            "BAD_TYPE",
            "BAD_LEN",
            "BAD_VALUE",
            "TOO_MANY",
            "DUP_TYPE",
            "BAD_EXPERIMENTER",
            "BAD_EXP_TYPE",
            "BAD_EXP_VALUE",
            "EPERM",
        ],
    ),
    (
        "OFPET_ASYNC_CONFIG_FAILED",
        "OFPACFC",
        &["INVALID", "UNSUPPORTED", "EPERM"],
    ),
    (
        "OFPET_FLOW_MONITOR_FAILED",
        "OFPMOFC",
        &[
            "UNKNOWN",
            "MONITOR_EXISTS",
            "INVALID_MONITOR",
            "UNKNOWN_MONITOR",
            "BAD_COMMAND",
            "BAD_FLAGS",
            "BAD_TABLE_ID",
            "BAD_OUT",
        ],
    ),
    ("OFPET_BUNDLE_FAILED", "OFPBFC", BUNDLE_CODES),
];

const BUNDLE_CODES: &[&str] = &[
    "UNKNOWN",
    "EPERM",
    "BAD_ID",
    "BUNDLE_EXIST",
    "BUNDLE_CLOSED",
    "OUT_OF_BUNDLES",
    "BAD_TYPE",
    "BAD_FLAGS",
    "MSG_BAD_LEN",
    "MSG_BAD_XID",
    "MSG_UNSUP",
    "MSG_CONFLICT",
    "MSG_TOO_MANY",
    "MSG_FAILED",
    "TIMEOUT",
    "BUNDLE_IN_PROGRESS",
];

impl ErrorMsg {
    /// Symbolic type name, e.g. `OFPET_BAD_ACTION`.
    pub fn type_name(&self) -> String {
        if self.is_onf_bundle_error() {
            return "OFPET_BUNDLE_FAILED".into();
        }
        match TYPES.get(usize::from(self.error_type)) {
            Some((name, _, _)) => (*name).into(),
            None if self.error_type == ERROR_TYPE_EXPERIMENTER => "OFPET_EXPERIMENTER".into(),
            None => format!("OFPET_{}", self.error_type),
        }
    }

    /// Symbolic code name, e.g. `OFPBAC_BAD_OUT_GROUP`.
    pub fn code_name(&self) -> String {
        if self.is_onf_bundle_error() {
            let idx = usize::from(self.code - ONF_BUNDLE_ERROR_BASE);
            return format!("OFPBFC_{}", BUNDLE_CODES[idx]);
        }
        if self.error_type == ERROR_TYPE_EXPERIMENTER {
            return format!(
                "experimenter({:#x}) code {}",
                self.experimenter.unwrap_or(0),
                self.code
            );
        }
        match TYPES.get(usize::from(self.error_type)) {
            Some((_, prefix, codes)) => match codes.get(usize::from(self.code)) {
                Some(code) => format!("{prefix}_{code}"),
                None => format!("{prefix}_{}", self.code),
            },
            None => format!("code {}", self.code),
        }
    }

    fn is_onf_bundle_error(&self) -> bool {
        self.error_type == ERROR_TYPE_EXPERIMENTER
            && self.experimenter == Some(ONF_EXPERIMENTER_ID)
            && (ONF_BUNDLE_ERROR_BASE..ONF_BUNDLE_ERROR_BASE + BUNDLE_CODES.len() as u16)
                .contains(&self.code)
    }

    /// Whether this is a bundle error (OpenFlow 1.4 `OFPET_BUNDLE_FAILED` or the ONF
    /// extension equivalent for OpenFlow 1.3).
    pub fn is_bundle_error(&self) -> bool {
        self.error_type == ERROR_TYPE_BUNDLE_FAILED || self.is_onf_bundle_error()
    }

    /// The xid in the header of the offending request copied into `data`, if present.
    pub fn request_xid(&self) -> Option<u32> {
        let b = self.data.get(4..8)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The message type of the offending request copied into `data`, if present.
    pub fn request_type(&self) -> Option<u8> {
        self.data.get(1).copied()
    }
}

impl fmt::Display for ErrorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code_name())?;
        if let Some(xid) = self.request_xid() {
            write!(f, " (request xid={xid:#x})")?;
        }
        Ok(())
    }
}
