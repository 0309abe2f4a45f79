//! `[device]`: the unit's name in the fleet, its camera's, and its site. The ids are kept as
//! the file has them and parsed with every other check ([`DeviceSection::parse`]), so a bad id
//! is reported beside the other mistakes of the file.

use crate::config_issue::ConfigIssue;
use crate::device_id::{CameraId, DeviceId};
use serde::{Deserialize, Serialize};

/// `[device]`, its ids parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceConfig {
    /// Unique name of this unit in the fleet; part of every topic and record.
    pub id: DeviceId,
    pub camera_id: CameraId,
    pub site: SiteConfig,
}

/// `[device]` as the file has it: the ids as text, for [`DeviceSection::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeviceSection {
    id: String,
    #[serde(default = "default_camera_id")]
    camera_id: String,
    pub(super) site: SiteConfig,
}

fn default_camera_id() -> String {
    CameraId::default().to_string()
}

impl DeviceSection {
    /// The ids under their rule ([`DeviceId`], [`CameraId`]), or an issue for each that breaks
    /// it.
    pub(super) fn parse(self) -> Result<DeviceConfig, Vec<ConfigIssue>> {
        let id = self.id.parse::<DeviceId>();
        let camera_id = self.camera_id.parse::<CameraId>();
        match (id, camera_id) {
            (Ok(id), Ok(camera_id)) => Ok(DeviceConfig { id, camera_id, site: self.site }),
            (id, camera_id) => Err([("id", id.err()), ("camera_id", camera_id.err())]
                .into_iter()
                .filter_map(|(key, error)| Some(ConfigIssue::new(key, error?.to_string(), "")))
                .collect()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}
