"""SROS2 artefacts from the graph (nav.graph.security): each enclave may use exactly its node's declared topics."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nav.graph.declaration import NodeSpec, load_graph
from nav.graph.security import KEYBOARD_TELEOP, dds_topic, governance_xml, grants, permissions_xml, write_artefacts
from nav.runtime.config import load_ros_config

pytestmark = pytest.mark.unit

ROS = load_ros_config()
GRAPH = load_graph()
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.timezone.utc)


def allowed(tree: ET.Element, kind: str) -> set[str]:
    return {t.text or "" for t in tree.iterfind(f"./permissions/grant/allow_rule/{kind}/topics/topic")}


@pytest.mark.parametrize("sim", [False, True])
def test_each_enclave_is_granted_exactly_its_nodes_declared_topics(tmp_path: Path, sim: bool) -> None:
    write_artefacts(tmp_path, GRAPH, ROS.topics, sim, 7, NOW)
    specs = {s.name: s for s in [*GRAPH.selected(sim), KEYBOARD_TELEOP]}
    found = {p.parent.name for p in (tmp_path / "enclaves" / "nav").glob("*/permissions.xml")}
    assert found == set(specs), "one enclave per node of the graph, none for anything else"
    for name, spec in specs.items():
        tree = ET.parse(tmp_path / "enclaves" / "nav" / name / "permissions.xml").getroot()
        grant = tree.find("./permissions/grant")
        assert grant is not None and grant.get("name") == f"/nav/{name}"
        assert grant.findtext("subject_name") == f"CN=/nav/{name}" and grant.findtext("default") == "DENY"
        assert tree.findtext("./permissions/grant/allow_rule/domains/id") == "7"
        published = {dds_topic(ROS.topics.resolve(t)) for t in spec.publishes}
        subscribed = {dds_topic(ROS.topics.resolve(t)) for t in spec.subscribes}
        assert allowed(tree, "publish") == published | {"rt/rosout", "rt/parameter_events", f"rr/{name}/*"}
        assert allowed(tree, "subscribe") == subscribed | {f"rq/{name}/*"}


def test_only_the_mux_may_command_the_base_and_only_humans_teleop_and_the_estop() -> None:
    every = grants(GRAPH, ROS.topics, sim=True) + grants(GRAPH, ROS.topics, sim=False)
    publishers = {}
    for g in every:
        for topic in g.publish:
            publishers.setdefault(topic, set()).add(g.enclave)
    assert publishers[dds_topic(ROS.topics.cmd_out)] == {"/nav/mux"}
    assert publishers[dds_topic(ROS.topics.cmd_teleop)] == {"/nav/joy_teleop", "/nav/keyboard_teleop"}
    assert publishers[dds_topic(ROS.topics.estop)] == {"/nav/keyboard_teleop"}
    assert publishers[dds_topic(ROS.topics.cmd_nav)] == {"/nav/agent"}
    stranger = grants(GRAPH, ROS.topics, sim=False, extra=(NodeSpec("stranger", "x", "x.y"),))[-1]
    assert stranger.publish == ("rr/stranger/*", "rt/parameter_events", "rt/rosout"), "a new node gets no topic"


def test_the_mux_declares_every_input_lock_and_estop_topic_of_its_config() -> None:
    mux = next(s for s in GRAPH.nodes if s.name == "mux")
    declared = {ROS.topics.resolve(t) for t in mux.subscribes}
    configured = {ROS.topics.resolve(i.topic) for i in ROS.mux.inputs} | {
        ROS.topics.resolve(lk.topic) for lk in ROS.mux.locks
    }
    assert configured | {ROS.topics.estop, ROS.topics.estop_reset, ROS.topics.scan} <= declared


def test_governance_protects_join_discovery_and_every_topic_in_the_schema_order() -> None:
    root = ET.fromstring(governance_xml(0))
    rule = root.find("./domain_access_rules/domain_rule")
    assert rule is not None
    assert [c.tag for c in rule] == [  # the DDS-Security governance schema's sequence
        "domains", "allow_unauthenticated_participants", "enable_join_access_control", "discovery_protection_kind",
        "liveliness_protection_kind", "rtps_protection_kind", "topic_access_rules",
    ]  # fmt: skip
    assert rule.findtext("allow_unauthenticated_participants") == "false"
    topic_rule = rule.find("./topic_access_rules/topic_rule")
    assert topic_rule is not None and topic_rule.findtext("enable_write_access_control") == "true"
    grant = ET.fromstring(permissions_xml(grants(GRAPH, ROS.topics, sim=False)[0], 0, NOW)).find("./permissions/grant")
    assert grant is not None and [c.tag for c in grant] == ["subject_name", "validity", "allow_rule", "default"]
    assert grant.findtext("validity/not_before") == "2026-12-02T12:00:00"


def test_bringup_with_a_keystore_runs_each_node_in_its_enclave_with_security_enforced(tmp_path: Path) -> None:
    from nav.graph.supervisor import BringupConfig, GraphProcesses

    with pytest.raises(ValueError, match="not an SROS2 keystore"):
        BringupConfig(keystore=tmp_path)
    (tmp_path / "enclaves").mkdir()
    graph = GraphProcesses(BringupConfig(keystore=tmp_path, liveness_timeout=0.0))
    for name, node in graph.nodes.items():
        assert node.argv[-2:] == ["--enclave", f"/nav/{name}"]
    assert graph.security_env == {
        "ROS_SECURITY_KEYSTORE": str(tmp_path.resolve()),
        "ROS_SECURITY_ENABLE": "true",
        "ROS_SECURITY_STRATEGY": "Enforce",
    }
