//! The real [`Switch`]: networks and endpoints as rows of the Open_vSwitch database, written
//! through our `ovsdb` client. Each change is one OVSDB transaction, so a crash between steps
//! never leaves half a bridge or half a port behind.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::naming::Mac;
use ovsdb::client::Client;
use ovsdb::ops::{Condition, Mutation, Operation, OperationResult};
use ovsdb::value::{Atom, Row, Value};
use uuid::Uuid;

use super::{
    keys, EndpointRecord, InterfaceStatus, NetworkRecord, Switch, SwitchError, ROLE_UPLINK,
};

const DB: &str = "Open_vSwitch";

/// OpenFlow versions enabled on the driver's bridges, so `ovs-ofctl` works without `-O`.
pub const BRIDGE_PROTOCOLS: [&str; 3] = ["OpenFlow10", "OpenFlow13", "OpenFlow14"];

/// [`Switch`] backed by ovsdb-server.
pub struct OvsdbSwitch {
    client: Client,
}

impl From<ovsdb::error::Error> for SwitchError {
    fn from(err: ovsdb::error::Error) -> Self {
        if err.is_connection_error() {
            SwitchError::Unavailable(err.to_string())
        } else {
            SwitchError::Database(err.to_string())
        }
    }
}

fn row<const N: usize>(columns: [(&str, Value); N]) -> Row {
    columns
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::string_map(map.iter().map(|(k, v)| (k.clone(), v.clone())))
}

fn rows(result: Option<&OperationResult>) -> Vec<Row> {
    result.and_then(|r| r.rows.clone()).unwrap_or_default()
}

fn column_str<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column).and_then(Value::as_str).unwrap_or_default()
}

fn column_map(row: &Row, column: &str) -> BTreeMap<String, String> {
    row.get(column)
        .map(Value::as_string_map)
        .unwrap_or_default()
}

fn by_name(name: &str) -> Vec<Condition> {
    vec![Condition::eq("name", name)]
}

/// Interface and Port rows of one port with a single interface, inserted under `tag` names.
fn port_ops(name: &str, tag: &str, interface: Row, mut port: Row) -> (Vec<Operation>, String) {
    let iface_name = format!("{tag}_iface");
    let port_name = format!("{tag}_port");
    let mut interface = interface;
    interface.insert("name".into(), Value::string(name));
    port.insert("name".into(), Value::string(name));
    port.insert("interfaces".into(), Value::named_uuid(&iface_name));
    (
        vec![
            Operation::insert_named("Interface", interface, &iface_name),
            Operation::insert_named("Port", port, &port_name),
        ],
        port_name,
    )
}

impl OvsdbSwitch {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<OperationResult>, SwitchError> {
        Ok(self.client.transact(DB, ops).await?.results)
    }

    async fn select(
        &self,
        table: &str,
        conditions: Vec<Condition>,
        columns: &[&str],
    ) -> Result<Vec<Row>, SwitchError> {
        let results = self
            .transact(vec![Operation::select_columns(
                table,
                conditions,
                columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            )])
            .await?;
        Ok(rows(results.first()))
    }

    async fn port_uuid(&self, name: &str) -> Result<Option<Uuid>, SwitchError> {
        Ok(self
            .select("Port", by_name(name), &["_uuid"])
            .await?
            .first()
            .and_then(|r| r.get("_uuid"))
            .and_then(Value::as_uuid))
    }

    fn uplink_ops(network: &NetworkRecord) -> Option<(Vec<Operation>, String)> {
        let uplink = network.options.uplink.as_ref()?;
        let mut port = row([(
            "external_ids",
            Value::string_map([
                (keys::NETWORK_ID.to_string(), network.network_id.clone()),
                (keys::ROLE.to_string(), ROLE_UPLINK.to_string()),
            ]),
        )]);
        if let Some(vlan) = network.options.vlan {
            port.insert("tag".into(), Value::integer(vlan.into()));
        }
        Some(port_ops(uplink, "uplink", Row::new(), port))
    }
}

fn expect_one(results: &[OperationResult], index: usize, what: String) -> Result<(), SwitchError> {
    match results.get(index).and_then(|r| r.count) {
        Some(1) => Ok(()),
        _ => Err(SwitchError::Conflict(what)),
    }
}

#[async_trait]
impl Switch for OvsdbSwitch {
    async fn networks(&self) -> Result<Vec<NetworkRecord>, SwitchError> {
        let rows = self
            .select("Bridge", vec![], &["name", "external_ids"])
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                NetworkRecord::from_bridge(column_str(r, "name"), &column_map(r, "external_ids"))
            })
            .collect())
    }

    async fn bridge(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, SwitchError> {
        let rows = self
            .select("Bridge", by_name(name), &["external_ids"])
            .await?;
        Ok(rows.first().map(|r| column_map(r, "external_ids")))
    }

    async fn interface_exists(&self, name: &str) -> Result<bool, SwitchError> {
        Ok(!self
            .select("Interface", by_name(name), &["_uuid"])
            .await?
            .is_empty())
    }

    async fn create_network(
        &self,
        network: &NetworkRecord,
        datapath_type: &str,
    ) -> Result<(), SwitchError> {
        let mut ops = vec![Operation::comment(format!(
            "ovs-driver: create network {}",
            network.network_id
        ))];
        let uplink = Self::uplink_ops(network);
        let mut new_ports = Vec::new();
        if let Some((uplink_ops, port)) = uplink {
            ops.extend(uplink_ops);
            new_ports.push(Atom::NamedUuid(port));
        }
        let bridge_index;
        if network.owned {
            let mut interface = row([("type", Value::string("internal"))]);
            if let Some(mtu) = network.options.mtu {
                interface.insert("mtu_request".into(), Value::integer(mtu.into()));
            }
            let (local_ops, local_port) = port_ops(&network.bridge, "local", interface, Row::new());
            ops.extend(local_ops);
            new_ports.push(Atom::NamedUuid(local_port));
            // Fails the transaction if someone else created the bridge meanwhile.
            ops.push(Operation::wait(
                "Bridge",
                by_name(&network.bridge),
                vec!["name"],
                ovsdb::ops::WaitUntil::Eq,
                vec![],
                Some(0),
            ));
            ops.push(Operation::insert_named(
                "Bridge",
                row([
                    ("name", Value::string(&network.bridge)),
                    ("ports", Value::set_of(new_ports)),
                    ("datapath_type", Value::string(datapath_type)),
                    ("external_ids", string_map(&network.external_ids())),
                    ("fail_mode", Value::string("secure")),
                    (
                        "other_config",
                        Value::string_map([(
                            "hwaddr".to_string(),
                            Mac::from_id(&network.network_id).to_string(),
                        )]),
                    ),
                    (
                        "protocols",
                        Value::set_of(BRIDGE_PROTOCOLS.iter().map(|p| Atom::from(*p)).collect()),
                    ),
                ]),
                "bridge",
            ));
            bridge_index = ops.len();
            ops.push(Operation::mutate(
                "Open_vSwitch",
                vec![],
                vec![Mutation::insert("bridges", Value::named_uuid("bridge"))],
            ));
        } else {
            let ids = network.external_ids();
            bridge_index = ops.len();
            let mut mutations = vec![
                Mutation::delete(
                    "external_ids",
                    Value::set_of(ids.keys().map(|k| Atom::from(k.as_str())).collect()),
                ),
                Mutation::insert("external_ids", string_map(&ids)),
            ];
            if !new_ports.is_empty() {
                mutations.push(Mutation::insert("ports", Value::set_of(new_ports)));
            }
            ops.push(Operation::mutate(
                "Bridge",
                by_name(&network.bridge),
                mutations,
            ));
        }
        let results = self.transact(ops).await?;
        let what = if network.owned {
            "there is no Open_vSwitch row; run `ovs-vsctl init`".to_string()
        } else {
            format!("bridge {} vanished", network.bridge)
        };
        expect_one(&results, bridge_index, what)
    }

    async fn delete_network(&self, network: &NetworkRecord) -> Result<(), SwitchError> {
        let bridge = self
            .select(
                "Bridge",
                by_name(&network.bridge),
                &["_uuid", "external_ids"],
            )
            .await?;
        let Some(bridge) = bridge.first() else {
            return Ok(());
        };
        if column_map(bridge, "external_ids").get(keys::NETWORK_ID) != Some(&network.network_id) {
            return Ok(());
        }
        let Some(uuid) = bridge.get("_uuid").and_then(Value::as_uuid) else {
            return Err(SwitchError::Database("bridge row without _uuid".into()));
        };
        let comment =
            Operation::comment(format!("ovs-driver: delete network {}", network.network_id));
        if network.owned {
            // Ports and interfaces are not root rows: they go with the bridge.
            self.transact(vec![
                comment,
                Operation::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![Mutation::delete("bridges", Value::uuid(uuid))],
                ),
            ])
            .await?;
            return Ok(());
        }
        let ours = self
            .select(
                "Port",
                vec![Condition::includes(
                    "external_ids",
                    Value::string_map([(keys::NETWORK_ID, network.network_id.as_str())]),
                )],
                &["_uuid"],
            )
            .await?;
        let port_uuids: Vec<Uuid> = ours
            .iter()
            .filter_map(|r| r.get("_uuid").and_then(Value::as_uuid))
            .collect();
        self.transact(vec![
            comment,
            Operation::mutate(
                "Bridge",
                vec![Condition::uuid_is(uuid)],
                vec![
                    Mutation::delete(
                        "external_ids",
                        Value::set_of(keys::BRIDGE_KEYS.iter().map(|k| Atom::from(*k)).collect()),
                    ),
                    Mutation::delete("ports", Value::uuid_set(port_uuids)),
                ],
            ),
        ])
        .await?;
        Ok(())
    }

    async fn endpoint(&self, port: &str) -> Result<Option<EndpointRecord>, SwitchError> {
        let ports = self
            .select("Port", by_name(port), &["_uuid", "external_ids"])
            .await?;
        let Some(found) = ports.first() else {
            return Ok(None);
        };
        let Some(uuid) = found.get("_uuid").and_then(Value::as_uuid) else {
            return Ok(None);
        };
        let bridges = self
            .select(
                "Bridge",
                vec![Condition::includes("ports", Value::uuid(uuid))],
                &["name"],
            )
            .await?;
        let bridge = bridges
            .first()
            .map(|b| column_str(b, "name"))
            .unwrap_or_default();
        Ok(EndpointRecord::from_port(
            bridge,
            port,
            &column_map(found, "external_ids"),
        ))
    }

    async fn endpoints(&self, network: &NetworkRecord) -> Result<Vec<EndpointRecord>, SwitchError> {
        let ports = self
            .select(
                "Port",
                vec![Condition::includes(
                    "external_ids",
                    Value::string_map([(keys::NETWORK_ID, network.network_id.as_str())]),
                )],
                &["name", "external_ids"],
            )
            .await?;
        Ok(ports
            .iter()
            .filter_map(|p| {
                EndpointRecord::from_port(
                    &network.bridge,
                    column_str(p, "name"),
                    &column_map(p, "external_ids"),
                )
            })
            .collect())
    }

    async fn add_endpoint(
        &self,
        endpoint: &EndpointRecord,
        mtu: Option<u32>,
        ofport_request: Option<u32>,
    ) -> Result<(), SwitchError> {
        let ids = string_map(&endpoint.external_ids());
        let mut interface = row([("external_ids", ids.clone())]);
        if let Some(mtu) = mtu {
            interface.insert("mtu_request".into(), Value::integer(mtu.into()));
        }
        if let Some(ofport) = ofport_request {
            interface.insert("ofport_request".into(), Value::integer(ofport.into()));
        }
        let (mut ops, port) = port_ops(
            &endpoint.port,
            "ep",
            interface,
            row([("external_ids", ids)]),
        );
        ops.insert(
            0,
            Operation::comment(format!("ovs-driver: add endpoint {}", endpoint.endpoint_id)),
        );
        let mutate_index = ops.len();
        ops.push(Operation::mutate(
            "Bridge",
            vec![
                Condition::eq("name", &endpoint.bridge),
                Condition::includes(
                    "external_ids",
                    Value::string_map([(keys::NETWORK_ID, endpoint.network_id.as_str())]),
                ),
            ],
            vec![Mutation::insert("ports", Value::named_uuid(port))],
        ));
        let results = self.transact(ops).await?;
        expect_one(
            &results,
            mutate_index,
            format!(
                "bridge {} of network {} is gone",
                endpoint.bridge, endpoint.network_id
            ),
        )
    }

    async fn update_endpoint(&self, endpoint: &EndpointRecord) -> Result<(), SwitchError> {
        let ids = string_map(&endpoint.external_ids());
        let ours = Value::set_of(keys::ENDPOINT_KEYS.iter().map(|&k| Atom::from(k)).collect());
        let replace = || {
            vec![
                Mutation::delete("external_ids", ours.clone()),
                Mutation::insert("external_ids", ids.clone()),
            ]
        };
        let results = self
            .transact(vec![
                Operation::mutate("Port", by_name(&endpoint.port), replace()),
                Operation::mutate("Interface", by_name(&endpoint.port), replace()),
            ])
            .await?;
        expect_one(&results, 0, format!("port {} is gone", endpoint.port))
    }

    async fn remove_port(&self, _bridge: &str, port: &str) -> Result<(), SwitchError> {
        let Some(uuid) = self.port_uuid(port).await? else {
            return Ok(());
        };
        // Whichever bridge holds it: the port may have been moved by hand.
        self.transact(vec![
            Operation::comment(format!("ovs-driver: remove port {port}")),
            Operation::mutate(
                "Bridge",
                vec![Condition::includes("ports", Value::uuid(uuid))],
                vec![Mutation::delete("ports", Value::uuid(uuid))],
            ),
        ])
        .await?;
        Ok(())
    }

    async fn interface_status(&self, name: &str) -> Result<Option<InterfaceStatus>, SwitchError> {
        let rows = self
            .select("Interface", by_name(name), &INTERFACE_STATUS_COLUMNS)
            .await?;
        Ok(rows.first().map(interface_status))
    }

    async fn interfaces(&self) -> Result<BTreeMap<String, InterfaceStatus>, SwitchError> {
        let mut columns = INTERFACE_STATUS_COLUMNS.to_vec();
        columns.push("name");
        let rows = self.select("Interface", vec![], &columns).await?;
        Ok(rows
            .iter()
            .map(|r| (column_str(r, "name").to_string(), interface_status(r)))
            .collect())
    }
}

const INTERFACE_STATUS_COLUMNS: [&str; 4] = ["ofport", "error", "mac_in_use", "ofport_request"];

fn interface_status(row: &Row) -> InterfaceStatus {
    InterfaceStatus {
        ofport: row.get("ofport").and_then(Value::as_integer),
        error: row.get("error").and_then(Value::as_str).map(str::to_string),
        mac: row
            .get("mac_in_use")
            .and_then(Value::as_str)
            .and_then(Mac::parse),
        ofport_request: row.get("ofport_request").and_then(Value::as_integer),
    }
}
