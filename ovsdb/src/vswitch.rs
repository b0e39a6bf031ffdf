//! Typed views of the Open_vSwitch database tables the driver and TUI use.
//!
//! Each view is built from a row with `from_row(uuid, &row)`; missing columns (e.g. when only
//! some columns were selected or monitored) take their empty/default value. Field names are the
//! column names (`r#type` for `Interface.type`).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::monitor::{MonitorEvent, TableRows, TableUpdates};
use crate::value::{Row, Value};

/// The Open_vSwitch database name.
pub const DATABASE: &str = "Open_vSwitch";

/// A typed view of one table's rows.
pub trait TableView: Sized {
    /// The table name.
    const TABLE: &'static str;

    fn from_row(uuid: Uuid, row: &Row) -> Self;

    /// Builds the view from a selected row that includes `_uuid`.
    fn from_selected(row: &Row) -> Option<Self> {
        let uuid = row.get("_uuid")?.as_uuid()?;
        Some(Self::from_row(uuid, row))
    }

    /// All rows of the table, by uuid.
    fn all(rows: &TableRows) -> BTreeMap<Uuid, Self> {
        rows.iter()
            .map(|(uuid, row)| (*uuid, Self::from_row(*uuid, row)))
            .collect()
    }
}

fn column<'a>(row: &'a Row, name: &str) -> Option<&'a Value> {
    row.get(name)
}

fn string(row: &Row, name: &str) -> String {
    opt_string(row, name).unwrap_or_default()
}

fn opt_string(row: &Row, name: &str) -> Option<String> {
    column(row, name)?.as_str().map(str::to_string)
}

fn integer(row: &Row, name: &str) -> i64 {
    opt_integer(row, name).unwrap_or_default()
}

fn opt_integer(row: &Row, name: &str) -> Option<i64> {
    column(row, name)?.as_integer()
}

fn boolean(row: &Row, name: &str) -> bool {
    column(row, name)
        .and_then(Value::as_bool)
        .unwrap_or_default()
}

fn opt_uuid(row: &Row, name: &str) -> Option<Uuid> {
    column(row, name)?.as_uuid()
}

fn uuids(row: &Row, name: &str) -> Vec<Uuid> {
    column(row, name)
        .map(Value::as_uuid_set)
        .unwrap_or_default()
}

fn strings(row: &Row, name: &str) -> Vec<String> {
    column(row, name)
        .map(Value::as_string_set)
        .unwrap_or_default()
}

fn integers(row: &Row, name: &str) -> Vec<i64> {
    column(row, name)
        .map(Value::as_integer_set)
        .unwrap_or_default()
}

fn string_map(row: &Row, name: &str) -> BTreeMap<String, String> {
    column(row, name)
        .map(Value::as_string_map)
        .unwrap_or_default()
}

fn integer_map(row: &Row, name: &str) -> BTreeMap<String, i64> {
    column(row, name)
        .map(Value::as_integer_map)
        .unwrap_or_default()
}

/// The single root row of the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenVSwitch {
    pub uuid: Uuid,
    pub bridges: Vec<Uuid>,
    pub manager_options: Vec<Uuid>,
    pub next_cfg: i64,
    pub cur_cfg: i64,
    pub ovs_version: Option<String>,
    pub db_version: Option<String>,
    pub system_type: Option<String>,
    pub system_version: Option<String>,
    pub datapath_types: Vec<String>,
    pub iface_types: Vec<String>,
    pub statistics: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl TableView for OpenVSwitch {
    const TABLE: &'static str = "Open_vSwitch";

    fn from_row(uuid: Uuid, row: &Row) -> Self {
        OpenVSwitch {
            uuid,
            bridges: uuids(row, "bridges"),
            manager_options: uuids(row, "manager_options"),
            next_cfg: integer(row, "next_cfg"),
            cur_cfg: integer(row, "cur_cfg"),
            ovs_version: opt_string(row, "ovs_version"),
            db_version: opt_string(row, "db_version"),
            system_type: opt_string(row, "system_type"),
            system_version: opt_string(row, "system_version"),
            datapath_types: strings(row, "datapath_types"),
            iface_types: strings(row, "iface_types"),
            statistics: string_map(row, "statistics"),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridge {
    pub uuid: Uuid,
    pub name: String,
    pub ports: Vec<Uuid>,
    pub controller: Vec<Uuid>,
    pub mirrors: Vec<Uuid>,
    /// "netdev" for the userspace datapath, "" or "system" for the kernel one.
    pub datapath_type: String,
    pub datapath_id: Option<String>,
    pub fail_mode: Option<String>,
    pub protocols: Vec<String>,
    pub stp_enable: bool,
    pub rstp_enable: bool,
    pub mcast_snooping_enable: bool,
    pub flood_vlans: Vec<i64>,
    pub status: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl TableView for Bridge {
    const TABLE: &'static str = "Bridge";

    fn from_row(uuid: Uuid, row: &Row) -> Self {
        Bridge {
            uuid,
            name: string(row, "name"),
            ports: uuids(row, "ports"),
            controller: uuids(row, "controller"),
            mirrors: uuids(row, "mirrors"),
            datapath_type: string(row, "datapath_type"),
            datapath_id: opt_string(row, "datapath_id"),
            fail_mode: opt_string(row, "fail_mode"),
            protocols: strings(row, "protocols"),
            stp_enable: boolean(row, "stp_enable"),
            rstp_enable: boolean(row, "rstp_enable"),
            mcast_snooping_enable: boolean(row, "mcast_snooping_enable"),
            flood_vlans: integers(row, "flood_vlans"),
            status: string_map(row, "status"),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Port {
    pub uuid: Uuid,
    pub name: String,
    pub interfaces: Vec<Uuid>,
    /// Access VLAN.
    pub tag: Option<i64>,
    pub trunks: Vec<i64>,
    pub vlan_mode: Option<String>,
    pub mac: Option<String>,
    pub bond_mode: Option<String>,
    pub lacp: Option<String>,
    pub qos: Option<Uuid>,
    pub fake_bridge: bool,
    pub protected: bool,
    pub status: BTreeMap<String, String>,
    pub statistics: BTreeMap<String, i64>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl TableView for Port {
    const TABLE: &'static str = "Port";

    fn from_row(uuid: Uuid, row: &Row) -> Self {
        Port {
            uuid,
            name: string(row, "name"),
            interfaces: uuids(row, "interfaces"),
            tag: opt_integer(row, "tag"),
            trunks: integers(row, "trunks"),
            vlan_mode: opt_string(row, "vlan_mode"),
            mac: opt_string(row, "mac"),
            bond_mode: opt_string(row, "bond_mode"),
            lacp: opt_string(row, "lacp"),
            qos: opt_uuid(row, "qos"),
            fake_bridge: boolean(row, "fake_bridge"),
            protected: boolean(row, "protected"),
            status: string_map(row, "status"),
            statistics: integer_map(row, "statistics"),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    pub uuid: Uuid,
    pub name: String,
    /// "" (system), "internal", "patch", "vxlan", ...
    pub r#type: String,
    pub options: BTreeMap<String, String>,
    /// OpenFlow port number; -1 when the interface could not be added.
    pub ofport: Option<i64>,
    pub ofport_request: Option<i64>,
    pub mac_in_use: Option<String>,
    pub mac: Option<String>,
    pub ifindex: Option<i64>,
    pub admin_state: Option<String>,
    pub link_state: Option<String>,
    pub link_speed: Option<i64>,
    pub link_resets: Option<i64>,
    pub duplex: Option<String>,
    pub mtu: Option<i64>,
    pub mtu_request: Option<i64>,
    /// Why vswitchd could not set up the interface.
    pub error: Option<String>,
    pub ingress_policing_rate: i64,
    pub ingress_policing_burst: i64,
    pub status: BTreeMap<String, String>,
    pub statistics: BTreeMap<String, i64>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl TableView for Interface {
    const TABLE: &'static str = "Interface";

    fn from_row(uuid: Uuid, row: &Row) -> Self {
        Interface {
            uuid,
            name: string(row, "name"),
            r#type: string(row, "type"),
            options: string_map(row, "options"),
            ofport: opt_integer(row, "ofport"),
            ofport_request: opt_integer(row, "ofport_request"),
            mac_in_use: opt_string(row, "mac_in_use"),
            mac: opt_string(row, "mac"),
            ifindex: opt_integer(row, "ifindex"),
            admin_state: opt_string(row, "admin_state"),
            link_state: opt_string(row, "link_state"),
            link_speed: opt_integer(row, "link_speed"),
            link_resets: opt_integer(row, "link_resets"),
            duplex: opt_string(row, "duplex"),
            mtu: opt_integer(row, "mtu"),
            mtu_request: opt_integer(row, "mtu_request"),
            error: opt_string(row, "error"),
            ingress_policing_rate: integer(row, "ingress_policing_rate"),
            ingress_policing_burst: integer(row, "ingress_policing_burst"),
            status: string_map(row, "status"),
            statistics: integer_map(row, "statistics"),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Controller {
    pub uuid: Uuid,
    pub target: String,
    pub is_connected: bool,
    pub role: Option<String>,
    pub connection_mode: Option<String>,
    pub inactivity_probe: Option<i64>,
    pub max_backoff: Option<i64>,
    pub status: BTreeMap<String, String>,
    pub other_config: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
}

impl TableView for Controller {
    const TABLE: &'static str = "Controller";

    fn from_row(uuid: Uuid, row: &Row) -> Self {
        Controller {
            uuid,
            target: string(row, "target"),
            is_connected: boolean(row, "is_connected"),
            role: opt_string(row, "role"),
            connection_mode: opt_string(row, "connection_mode"),
            inactivity_probe: opt_integer(row, "inactivity_probe"),
            max_backoff: opt_integer(row, "max_backoff"),
            status: string_map(row, "status"),
            other_config: string_map(row, "other_config"),
            external_ids: string_map(row, "external_ids"),
        }
    }
}

/// A typed snapshot of the switch configuration (e.g. built from a monitor's snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vswitch {
    pub open_vswitch: Option<OpenVSwitch>,
    pub bridges: BTreeMap<Uuid, Bridge>,
    pub ports: BTreeMap<Uuid, Port>,
    pub interfaces: BTreeMap<Uuid, Interface>,
    pub controllers: BTreeMap<Uuid, Controller>,
}

impl Vswitch {
    /// Builds the snapshot from whichever of the tables are present.
    pub fn from_tables(tables: &TableUpdates) -> Self {
        fn all<T: TableView>(tables: &TableUpdates) -> BTreeMap<Uuid, T> {
            tables.get(T::TABLE).map(T::all).unwrap_or_default()
        }
        Vswitch {
            open_vswitch: all::<OpenVSwitch>(tables).into_values().next(),
            bridges: all(tables),
            ports: all(tables),
            interfaces: all(tables),
            controllers: all(tables),
        }
    }

    /// Keeps the snapshot up to date with a monitor's events (tables other than the ones
    /// represented here are ignored).
    pub fn apply(&mut self, event: &MonitorEvent) {
        match event {
            MonitorEvent::Initial(tables) | MonitorEvent::Reconnected(tables) => {
                *self = Vswitch::from_tables(tables);
            }
            MonitorEvent::Insert { table, uuid, new }
            | MonitorEvent::Modify {
                table, uuid, new, ..
            } => self.upsert(table, *uuid, new),
            MonitorEvent::Delete { table, uuid, .. } => self.remove(table, *uuid),
        }
    }

    fn upsert(&mut self, table: &str, uuid: Uuid, row: &Row) {
        match table {
            OpenVSwitch::TABLE => self.open_vswitch = Some(OpenVSwitch::from_row(uuid, row)),
            Bridge::TABLE => {
                self.bridges.insert(uuid, Bridge::from_row(uuid, row));
            }
            Port::TABLE => {
                self.ports.insert(uuid, Port::from_row(uuid, row));
            }
            Interface::TABLE => {
                self.interfaces.insert(uuid, Interface::from_row(uuid, row));
            }
            Controller::TABLE => {
                self.controllers
                    .insert(uuid, Controller::from_row(uuid, row));
            }
            _ => {}
        }
    }

    fn remove(&mut self, table: &str, uuid: Uuid) {
        match table {
            OpenVSwitch::TABLE if self.open_vswitch.as_ref().is_some_and(|o| o.uuid == uuid) => {
                self.open_vswitch = None;
            }
            Bridge::TABLE => {
                self.bridges.remove(&uuid);
            }
            Port::TABLE => {
                self.ports.remove(&uuid);
            }
            Interface::TABLE => {
                self.interfaces.remove(&uuid);
            }
            Controller::TABLE => {
                self.controllers.remove(&uuid);
            }
            _ => {}
        }
    }

    pub fn bridge_by_name(&self, name: &str) -> Option<&Bridge> {
        self.bridges.values().find(|b| b.name == name)
    }

    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    pub fn interface_by_name(&self, name: &str) -> Option<&Interface> {
        self.interfaces.values().find(|i| i.name == name)
    }

    /// The ports of a bridge (those present in the snapshot), sorted by name.
    pub fn ports_of(&self, bridge: &Bridge) -> Vec<&Port> {
        let mut ports: Vec<&Port> = bridge
            .ports
            .iter()
            .filter_map(|u| self.ports.get(u))
            .collect();
        ports.sort_by(|a, b| a.name.cmp(&b.name));
        ports
    }

    /// The interfaces of a port (those present in the snapshot), sorted by name.
    pub fn interfaces_of(&self, port: &Port) -> Vec<&Interface> {
        let mut interfaces: Vec<&Interface> = port
            .interfaces
            .iter()
            .filter_map(|u| self.interfaces.get(u))
            .collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        interfaces
    }

    /// The bridge a port belongs to.
    pub fn bridge_of_port(&self, port: Uuid) -> Option<&Bridge> {
        self.bridges.values().find(|b| b.ports.contains(&port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Atom;
    use serde_json::json;

    fn parse(json: serde_json::Value) -> Row {
        crate::value::row_from_json(&json).unwrap()
    }

    #[test]
    fn bridge_from_row() {
        let p1 = Uuid::new_v4();
        let p2 = Uuid::new_v4();
        let u = Uuid::new_v4();
        let row = parse(json!({
            "name": "br-int",
            "ports": ["set", [["uuid", p1.to_string()], ["uuid", p2.to_string()]]],
            "datapath_type": "netdev",
            "fail_mode": "secure",
            "protocols": ["set", ["OpenFlow13", "OpenFlow14"]],
            "external_ids": ["map", [["docker-network", "n1"]]],
            "other_config": ["map", []],
            "datapath_id": ["set", []],
            "stp_enable": false,
            "mcast_snooping_enable": true,
        }));
        let bridge = Bridge::from_row(u, &row);
        assert_eq!(bridge.uuid, u);
        assert_eq!(bridge.name, "br-int");
        assert_eq!(bridge.ports, vec![p1, p2]);
        assert_eq!(bridge.datapath_type, "netdev");
        assert_eq!(bridge.fail_mode.as_deref(), Some("secure"));
        assert_eq!(bridge.protocols, ["OpenFlow13", "OpenFlow14"]);
        assert_eq!(bridge.external_ids["docker-network"], "n1");
        assert_eq!(bridge.datapath_id, None);
        assert!(bridge.mcast_snooping_enable);
        assert!(!bridge.stp_enable);
        assert!(bridge.controller.is_empty());
    }

    #[test]
    fn port_from_row() {
        let i = Uuid::new_v4();
        let row = parse(json!({
            "name": "veth1",
            "interfaces": ["uuid", i.to_string()],
            "tag": 100,
            "trunks": ["set", [1, 2, 3]],
            "statistics": ["map", [["rx_packets", 5]]],
            "vlan_mode": ["set", []],
        }));
        let port = Port::from_row(Uuid::nil(), &row);
        assert_eq!(port.interfaces, vec![i]);
        assert_eq!(port.tag, Some(100));
        assert_eq!(port.trunks, [1, 2, 3]);
        assert_eq!(port.statistics["rx_packets"], 5);
        assert_eq!(port.vlan_mode, None);
        let untagged = Port::from_row(Uuid::nil(), &parse(json!({"tag": ["set", []]})));
        assert_eq!(untagged.tag, None);
    }

    #[test]
    fn interface_from_row() {
        let row = parse(json!({
            "name": "veth1",
            "type": "internal",
            "ofport": 3,
            "mac_in_use": "02:00:00:00:00:01",
            "admin_state": "up",
            "link_state": ["set", ["down"]],
            "mtu": 1500,
            "error": ["set", []],
            "options": ["map", [["peer", "x"]]],
            "statistics": ["map", [["rx_bytes", 10], ["tx_bytes", 20]]],
            "ingress_policing_rate": 0,
        }));
        let iface = Interface::from_row(Uuid::nil(), &row);
        assert_eq!(iface.r#type, "internal");
        assert_eq!(iface.ofport, Some(3));
        assert_eq!(iface.mac_in_use.as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(iface.admin_state.as_deref(), Some("up"));
        assert_eq!(iface.link_state.as_deref(), Some("down"));
        assert_eq!(iface.mtu, Some(1500));
        assert_eq!(iface.error, None);
        assert_eq!(iface.options["peer"], "x");
        assert_eq!(iface.statistics["tx_bytes"], 20);
        let failed = Interface::from_row(
            Uuid::nil(),
            &parse(json!({"ofport": -1, "error": "could not open network device x"})),
        );
        assert_eq!(failed.ofport, Some(-1));
        assert_eq!(
            failed.error.as_deref(),
            Some("could not open network device x")
        );
    }

    #[test]
    fn open_vswitch_and_selected_rows() {
        let u = Uuid::new_v4();
        let b = Uuid::new_v4();
        let row = parse(json!({
            "_uuid": ["uuid", u.to_string()],
            "bridges": ["set", [["uuid", b.to_string()]]],
            "ovs_version": "3.1.0",
            "next_cfg": 7,
            "datapath_types": ["set", ["netdev", "system"]],
        }));
        let ovs = OpenVSwitch::from_selected(&row).unwrap();
        assert_eq!(ovs.uuid, u);
        assert_eq!(ovs.bridges, vec![b]);
        assert_eq!(ovs.ovs_version.as_deref(), Some("3.1.0"));
        assert_eq!(ovs.next_cfg, 7);
        assert_eq!(ovs.datapath_types, ["netdev", "system"]);
        assert!(OpenVSwitch::from_selected(&Row::new()).is_none());
    }

    #[test]
    fn snapshot_relations() {
        let (b, p1, p2, i1) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let mut tables = TableUpdates::new();
        tables.entry("Bridge".into()).or_default().insert(
            b,
            [
                ("name".to_string(), Value::string("br0")),
                ("ports".to_string(), Value::uuid_set([p1, p2])),
            ]
            .into_iter()
            .collect(),
        );
        let ports = tables.entry("Port".into()).or_default();
        ports.insert(
            p1,
            [
                ("name".to_string(), Value::string("zeta")),
                ("interfaces".to_string(), Value::Set(vec![Atom::Uuid(i1)])),
            ]
            .into_iter()
            .collect(),
        );
        ports.insert(
            p2,
            [("name".to_string(), Value::string("alpha"))]
                .into_iter()
                .collect(),
        );
        tables.entry("Interface".into()).or_default().insert(
            i1,
            [("name".to_string(), Value::string("zeta"))]
                .into_iter()
                .collect(),
        );
        let vswitch = Vswitch::from_tables(&tables);
        let bridge = vswitch.bridge_by_name("br0").unwrap();
        let names: Vec<&str> = vswitch
            .ports_of(bridge)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["alpha", "zeta"]);
        let zeta = vswitch.port_by_name("zeta").unwrap();
        assert_eq!(vswitch.interfaces_of(zeta)[0].uuid, i1);
        assert_eq!(vswitch.bridge_of_port(p2).unwrap().uuid, b);
        assert!(vswitch.open_vswitch.is_none());
        assert!(vswitch.interface_by_name("nope").is_none());

        // Incremental updates from monitor events.
        let mut live = Vswitch::default();
        live.apply(&MonitorEvent::Initial(tables));
        assert_eq!(live, vswitch);
        let renamed: Row = [("name".to_string(), Value::string("beta"))]
            .into_iter()
            .collect();
        live.apply(&MonitorEvent::Modify {
            table: "Port".into(),
            uuid: p2,
            old: Row::new(),
            new: renamed,
        });
        assert_eq!(live.ports[&p2].name, "beta");
        live.apply(&MonitorEvent::Delete {
            table: "Interface".into(),
            uuid: i1,
            old: Row::new(),
        });
        assert!(live.interfaces.is_empty());
        live.apply(&MonitorEvent::Insert {
            table: "Open_vSwitch".into(),
            uuid: b,
            new: Row::new(),
        });
        assert_eq!(live.open_vswitch.as_ref().map(|o| o.uuid), Some(b));
        live.apply(&MonitorEvent::Reconnected(TableUpdates::new()));
        assert_eq!(live, Vswitch::default());
    }
}
